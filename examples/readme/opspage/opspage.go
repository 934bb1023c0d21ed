// Package opspage is the README's operator's page.
package opspage

import (
	"net/http"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/opspage"
	"github.com/tollgate-go/tollgate/rules"
)

// Mount is the README's page over a store, a limiter and rules.
func Mount(mux *http.ServeMux, store core.Store, isOperator func(*http.Request) bool) error {
	// README: opspage
	page, err := opspage.New(opspage.WithAuthorize(isOperator)) // without it: read-only
	if err != nil {
		return err
	}
	view, err := page.Store("redis", store) // its figures; its limiters on their fallback or not
	if err != nil {
		return err
	}
	api, err := core.NewLimiter(store, core.PerMinute(600), view.Options("api")...) // WithName("api") and the page's hooks
	if err != nil {
		return err
	}
	if err := page.Limiters(api); err != nil {
		return err
	}
	engine, err := rules.Load(store, "rules.yaml", rules.WithLimiterOptions(view.Hooks()...))
	if err != nil {
		return err
	}
	if err := page.Rules(engine); err != nil {
		return err
	}
	mux.Handle("/debug/tollgate", page) // HTML; JSON with ?format=json or Accept: application/json
	// README: end
	return nil
}
