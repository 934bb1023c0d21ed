package chi

import (
	"encoding/json"
	"net/http"

	"github.com/tollgate-go/tollgate/chimw"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/keyfuncs"
)

// Completions is the README's cost-after limit: 100,000 model tokens an
// hour per API key, each request charged the tokens it consumed.
func Completions(store core.Store, complete func(prompt string) (text string, tokens int64)) (http.Handler, error) {
	// README: cost-after
	tokens, err := core.NewLimiter(store, core.PerHour(100_000), core.WithName("tokens"),
		core.WithCost(500)) // the reservation: a request needs 500 tokens left to start
	if err != nil {
		return nil, err
	}
	byKey, err := keyfuncs.Header("X-API-Key", 64)
	if err != nil {
		return nil, err
	}
	mw, err := chimw.New(tokens, httplimit.WithKeyFunc(byKey),
		httplimit.WithCostAfter(httplimit.CostReported)) // or CostBodyBytes: the response's size
	if err != nil {
		return nil, err
	}
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		text, used := complete(r.FormValue("prompt"))
		httplimit.ReportCost(r.Context(), used) // settled when the handler returns
		_ = json.NewEncoder(w).Encode(map[string]string{"text": text})
	}))
	// README: end
	return h, nil
}
