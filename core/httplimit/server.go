package httplimit

import "net/http"

// Server is what an adapter puts in front of a handler: a *Gate, or the
// rules of package rules. Serve decides a request and writes what the
// outcome calls for (see Gate.Serve); UsesRoute reports whether Serve reads
// its route argument, so an adapter whose router makes the pattern at a
// cost can skip it. A nil Server is not usable.
type Server interface {
	Serve(w http.ResponseWriter, r *http.Request, route string) Outcome
	UsesRoute() bool
}

var _ Server = (*Gate)(nil)
