// Package rules is the README's rules file.
package rules

import (
	"context"
	"log"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/tollgate-go/tollgate/chimw"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/rules"
)

// Router is the README's rules through chi.
func Router(store core.Store) (http.Handler, func()) {
	r := chi.NewRouter()
	hook := func(_ context.Context, ev rules.Event) { slog.Info("rate limit", "rule", ev.Rule) }
	// README: rules
	e, err := rules.Load(store, "rules.yaml", rules.WithWatch(2*time.Second), rules.WithHook(hook))
	if err != nil {
		log.Fatal(err) // rules.yaml:11: rules[1].limits[0].limit: core: invalid limit: ...
	}
	r.Use(chimw.Wrap(e)) // gin: ginmw.Wrap(e); echo: echo5mw.Wrap(e) (v4: echomw); net/http: e.Handler(h)
	// README: end
	return r, func() { e.Close() }
}
