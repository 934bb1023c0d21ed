package chi

import (
	"net/http"

	"github.com/tollgate-go/tollgate/chimw"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/keyfuncs"
)

// Uploads is the README's concurrency limit: 4 uploads per client in
// flight, and 60 a minute, on one route.
func Uploads(store core.Store) (func(http.Handler) http.Handler, error) {
	// README: concurrency
	inFlight, err := core.NewConcurrencyLimiter(store, 4, core.WithName("uploads-in-flight"))
	if err != nil {
		return nil, err // a limit below 1: core: invalid concurrency limit: concurrent 0: ...
	}
	perMinute, err := core.NewLimiter(store, core.PerMinute(60), core.WithName("uploads"))
	if err != nil {
		return nil, err
	}
	byIP, err := keyfuncs.IP()
	if err != nil {
		return nil, err
	}
	// Slots first, then the rate limit; a rate denial gives the slot back.
	uploads, err := chimw.New(perMinute, httplimit.WithKeyFunc(byIP),
		httplimit.WithConcurrency(inFlight, nil)) // nil: keyed as the rate limit
	// Or only the concurrency limit: httplimit.NewConcurrency(inFlight, ...)
	// README: end
	return uploads, err
}
