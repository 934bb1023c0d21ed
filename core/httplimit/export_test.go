package httplimit

import "github.com/tollgate-go/tollgate/core"

// PolicyField returns the RateLimit-Policy value g sends.
func PolicyField(g *Gate) string { return g.policy[0] }

// SetNewStore makes a's PerIP take its store from f.
func SetNewStore[C any](a *Adapter[C], f func() (core.Store, error)) { a.newStore = f }
