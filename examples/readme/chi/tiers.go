package chi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/tollgate-go/tollgate/chimw"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/keyfuncs"
)

// Plans is a service's API-key table.
type Plans interface {
	Plan(ctx context.Context, apiKey string) (core.Limit, bool, error)
}

// PerPlan is the README's limits per plan: named tiers, and a limit func.
func PerPlan(store core.Store, plans Plans) (tiered, looked func(http.Handler) http.Handler, err error) {
	// README: tiers
	l, err := core.NewLimiter(store, core.PerMinute(100), core.WithName("api"))
	if err != nil {
		return nil, nil, err
	}
	byKey, _ := keyfuncs.Header("X-API-Key", 128)
	plan, _ := keyfuncs.Header("X-Plan", 32) // set by your gateway, never by the client
	tiered, err = chimw.New(l, httplimit.WithKeyFunc(byKey),
		httplimit.WithTiers(l, plan, map[string]core.Limit{
			"free": core.PerMinute(100),
			"pro":  core.PerMinute(10_000),
		}, "free")) // no X-Plan, or one not listed: free
	if err != nil {
		return nil, nil, err // names the tier: httplimit: WithTiers: tier "pro": ...
	}

	// Or ask your own table, per request:
	looked, err = chimw.New(l, httplimit.WithKeyFunc(byKey),
		httplimit.WithLimitFunc(l, func(r *http.Request) (core.Limit, error) {
			limit, ok, err := plans.Plan(r.Context(), r.Header.Get("X-API-Key"))
			switch {
			case err != nil:
				return core.Limit{}, err // 503, Retry-After: 1; the handler does not run
			case !ok:
				return core.Limit{}, fmt.Errorf("unknown API key: %w", keyfuncs.ErrNoKey) // 400
			}
			return limit, nil
		}))
	// README: end
	return tiered, looked, err
}
