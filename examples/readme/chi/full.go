package chi

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/tollgate-go/tollgate/chimw"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// Config is what a service reads from its configuration.
type Config struct{ Limit string }

// Middleware is the README's full form.
func Middleware(cfg Config) (func(http.Handler) http.Handler, error) {
	// README: full
	store, err := memstore.New()
	if err != nil {
		return nil, err
	}
	limit, err := core.ParseLimit(cfg.Limit) // "100/m", "10/s burst 20", "300/5m fixed-window"
	if err != nil {
		return nil, err // names the field: core: invalid limit: ...
	}
	l, err := core.NewLimiter(store, limit, core.WithName("api"), core.WithFailClosed())
	if err != nil {
		return nil, err
	}
	return chimw.New(l, // ginmw.New, echo5mw.New, echomw.New: the same options
		httplimit.WithRouteKey(),          // one bucket per route pattern per client
		httplimit.WithSkip(isHealthCheck), // no decision, no fields
	)
	// README: end
}

func isHealthCheck(r *http.Request) bool { return r.URL.Path == "/healthz" }

// BehindProxies is the README's trusted-proxy form.
func BehindProxies(l *core.Limiter) (func(http.Handler) http.Handler, error) {
	// README: proxies
	clientIP, err := keyfuncs.IP(keyfuncs.TrustProxies("10.0.0.0/8", "2001:db8::/32"))
	if err != nil {
		return nil, err
	}
	return chimw.New(l, httplimit.WithKeyFunc(clientIP))
	// README: end
}

// PerAPIKeyOrIP is the README's per API key, else per client IP.
func PerAPIKeyOrIP(l *core.Limiter) (func(http.Handler) http.Handler, error) {
	// README: firstof
	byKey, err := keyfuncs.Header("X-API-Key", 128)
	if err != nil {
		return nil, err
	}
	byKeyOrIP, err := keyfuncs.FirstOf(byKey, new(keyfuncs.IPResolver).Key) // the zero resolver: the connection's address
	if err != nil {
		return nil, err
	}
	return chimw.New(l, httplimit.WithKeyFunc(byKeyOrIP))
	// README: end
}

// TrustDeclaredToChi is the README's key from chi's client-IP middleware.
func TrustDeclaredToChi(l *core.Limiter) (http.Handler, error) {
	// README: chi-client-ip
	r := chi.NewRouter()
	r.Use(middleware.ClientIPFromXFF("10.0.0.0/8")) // trust declared once, to chi
	clientIP, err := chimw.ClientIP()               // keys what chi found; an error if nothing was stored
	if err != nil {
		return nil, err
	}
	mw, err := chimw.New(l, httplimit.WithKeyFunc(clientIP))
	if err != nil {
		return nil, err
	}
	r.Use(mw)
	// README: end
	return r, nil
}
