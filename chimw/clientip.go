package chimw

import (
	"errors"
	"fmt"
	"net/http"

	chimiddleware "github.com/go-chi/chi/v5/middleware"
	"github.com/tollgate-go/tollgate/keyfuncs"
)

// ClientIP returns a key func that keys a request by the client address
// chi's client-IP middleware found (middleware.ClientIPFromXFF,
// ClientIPFromHeader, ClientIPFromXFFTrustedProxies or
// ClientIPFromRemoteAddr, read with middleware.GetClientIPAddr), so that
// which proxies to trust is declared once, to chi:
//
//	r.Use(middleware.ClientIPFromXFF("10.0.0.0/8"))
//	clientIP, err := chimw.ClientIP()
//	mw, err := chimw.New(l, httplimit.WithKeyFunc(clientIP))
//
// The address is keyed as keyfuncs.IP keys one (IPv6 clients by their /64
// unless IPv6Prefix says otherwise, NAT64 addresses unwrapped); the options
// may set those, but not which proxies to trust: TrustProxies, TrustHops
// and TrustHeader are refused, since chi decided that already.
//
// A request on which chi's middleware stored no address (the middleware is
// not in front of the limiter, or it found no address it could trust) is
// not keyed by its remote address instead: the key func returns an error
// wrapping keyfuncs.ErrNoKey, which the adapters answer 400 (or the error
// handler), counting nothing.
func ClientIP(opts ...keyfuncs.IPOption) (keyfuncs.KeyFunc, error) {
	res, err := keyfuncs.NewIPResolver(opts...)
	if err != nil {
		return nil, fmt.Errorf("chimw: ClientIP: %w", err)
	}
	if res.ReadsHeaders() {
		return nil, errors.New("chimw: ClientIP: a trust option (TrustProxies, TrustHops, TrustHeader) given; chi's client-IP middleware decides which proxies to trust")
	}
	return func(r *http.Request) (string, error) {
		a := chimiddleware.GetClientIPAddr(r.Context())
		if !a.IsValid() {
			return "", errNoChiClientIP
		}
		return res.KeyFromPeer(a, nil)
	}, nil
}

var errNoChiClientIP = fmt.Errorf("%w: chi stored no client IP (is a middleware.ClientIPFrom… in front of the limiter, and did it trust this request's peer?)", keyfuncs.ErrNoKey)
