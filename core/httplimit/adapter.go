package httplimit

import (
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// Adapter is what a router adapter tells the constructors every adapter
// shares: its name, and how to read its framework's request context C
// (*http.Request for net/http and chi, *gin.Context, echo.Context). An
// adapter declares one Adapter and is otherwise a translation: its New,
// PerIP and Wrap return the Adapter's New, PerIP and Wrap in its
// framework's middleware type, which calls Middleware.Serve once per
// request.
//
// The zero Adapter is not usable: New and PerIP return an error (PerIP
// panics with it) unless Route is set.
type Adapter[C any] struct {
	// Name is the adapter's package name ("ginmw"): New's errors start
	// "ginmw: ", PerIP's panics "ginmw.PerIP: ".
	Name string
	// Route returns the route pattern of the request c, as WithRouteKey
	// keys it ("" when no route matched). It is called only when the
	// Server reads routes.
	Route func(c C) string
	// Request returns c with r as its request, for the handlers that
	// follow: a request under cost-after limits (WithCostAfter) carries
	// what ReportCost reports in its context. nil: the handlers keep the
	// request they had, so ReportCost finds nothing, and the reservation
	// stands unless the body is counted.
	Request func(c C, r *http.Request) C
	// Written returns the bytes of response body written through c so far
	// (gin's Writer.Size, echo's Response().Size), for
	// WithCostAfter(CostBodyBytes). nil: the middleware counts them with a
	// writer of its own, which the adapter hands the handlers with Writer.
	Written func(c C) int64

	newStore func() (core.Store, error) // for tests; nil: memstore.New
}

// perIPName names PerIP's limiter: the policy id in the RateLimit fields.
const perIPName = "per-ip"

// New returns the middleware of an adapter's New: a Gate applying l and
// the httplimit options among opts, keyed by the client IP from the
// connection (keyfuncs.IP()) unless WithKeyFunc says otherwise, behind the framework-native hooks for C among opts
// (WithContextSkip, WithContextDenyHandler, WithContextErrorHandler). It
// returns an error naming any invalid option, starting with a.Name.
func (a *Adapter[C]) New(l *core.Limiter, opts ...Option) (*Middleware[C], error) {
	m, err := a.build(l, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.Name, err)
	}
	return m, nil
}

// PerIP returns the middleware of an adapter's PerIP, the one-line form:
// New over a limiter named "per-ip" applying limit in a memory store of its
// own (memstore.New()), keyed by client IP unless opts say otherwise. It panics, with
// a message starting "Name.PerIP: " and naming the fault, if limit or an
// option is invalid: PerIP is for limits written in code, as
// http.ServeMux.Handle is for patterns.
//
// The store is closed if PerIP fails; otherwise it lives as long as the
// middleware (a memory store's background goroutine ends once the
// middleware is collected).
func (a *Adapter[C]) PerIP(limit core.Limit, opts ...Option) *Middleware[C] {
	fail := func(err error) { panic(a.Name + ".PerIP: " + err.Error()) }
	newStore := a.newStore
	if newStore == nil {
		newStore = func() (core.Store, error) { return memstore.New() }
	}
	store, err := newStore()
	if err != nil {
		fail(err)
	}
	l, err := core.NewLimiter(store, limit, core.WithName(perIPName))
	if err == nil {
		var m *Middleware[C]
		if m, err = a.build(l, opts); err == nil {
			return m
		}
	}
	_ = store.Close()
	fail(err)
	return nil
}

// Wrap returns the middleware of an adapter's Wrap: s (a Gate, or the
// rules of package rules) in front of the handlers, reading the route with
// a.Route when s reads routes. What s does (keys, limits, skips, answers)
// was set when it was built.
func (a *Adapter[C]) Wrap(s Server) *Middleware[C] {
	m := &Middleware[C]{s: s, request: a.Request, written: a.Written}
	if g, ok := s.(*Gate); ok {
		m.light = g.holdsNothing()
	}
	if s.UsesRoute() {
		m.route = a.Route
	}
	return m
}

func (a *Adapter[C]) build(l *core.Limiter, opts []Option) (*Middleware[C], error) {
	if l == nil {
		return nil, errors.New("httplimit: nil limiter")
	}
	if a.Route == nil {
		return nil, errors.New("httplimit: Adapter needs Route")
	}
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	m := &Middleware[C]{request: a.Request, written: a.Written}
	if err := m.takeHooks(&c); err != nil {
		return nil, err
	}
	if c.key == nil {
		if c.key, err = keyfuncs.IP(); err != nil {
			return nil, err
		}
	}
	g, err := buildGate(c, []*core.Limiter{l}, true)
	if err != nil {
		return nil, err
	}
	m.s, m.gate, m.light = g, g, g.holdsNothing()
	if g.UsesRoute() {
		m.route = a.Route
	}
	return m, nil
}

// ctxHooks are the framework-native hooks among a Gate's options, each a
// func on an adapter's context type, kept as any until an Adapter of that
// type reads them; the names are the options' as the adapter exports them.
type ctxHooks struct {
	skip, deny, fail             any
	skipName, denyName, failName string
}

// name is the name of a hook set, "" if none is.
func (h *ctxHooks) name() string {
	switch {
	case h.skip != nil:
		return h.skipName
	case h.deny != nil:
		return h.denyName
	case h.fail != nil:
		return h.failName
	}
	return ""
}

// WithContextSkip is WithSkip in an adapter's own terms: fn is called with
// the framework's request context C (*gin.Context, echo.Context), before
// any decision, and a request for which it returns true goes on without a
// decision or rate-limit fields. name is the option's name as the adapter
// exports it (ginmw.WithGinSkip passes "WithGinSkip"), for errors.
//
// Adapters export it under their framework's name; users do not call it.
// Only an Adapter of the same C honours it: New and NewGroup refuse it. A
// request is skipped if either this or WithSkip says so.
func WithContextSkip[C any](name string, fn func(c C) bool) Option {
	return optionFunc(func(c *config) error {
		if fn == nil {
			return fmt.Errorf("httplimit: %s: nil func", name)
		}
		c.hooks.skip, c.hooks.skipName = fn, name
		return nil
	})
}

// WithContextDenyHandler is WithDenyHandler in an adapter's own terms: fn
// answers a denied request through the framework's context C (c.String,
// c.JSON), once the rate-limit fields and Retry-After are set on the
// response; d is the denying decision. An error fn returns is returned by
// Middleware.Serve, for a framework whose handlers return errors (echo's
// error handler then answers). name is the option's name as the adapter
// exports it, for errors. It cannot be combined with WithDenyHandler; like
// WithContextSkip, only an Adapter of the same C honours it.
func WithContextDenyHandler[C any](name string, fn func(c C, d core.Decision) error) Option {
	return optionFunc(func(c *config) error {
		if fn == nil {
			return fmt.Errorf("httplimit: %s: nil func", name)
		}
		c.hooks.deny, c.hooks.denyName = fn, name
		return nil
	})
}

// WithContextErrorHandler is WithErrorHandler in an adapter's own terms:
// fn answers a request that could not be decided (see ErrorHandler)
// through the framework's context C. An error fn returns is returned by
// Middleware.Serve. name is the option's name as the adapter exports it,
// for errors. It cannot be combined with WithErrorHandler; like
// WithContextSkip, only an Adapter of the same C honours it.
func WithContextErrorHandler[C any](name string, fn func(c C, err error) error) Option {
	return optionFunc(func(c *config) error {
		if fn == nil {
			return fmt.Errorf("httplimit: %s: nil func", name)
		}
		c.hooks.fail, c.hooks.failName = fn, name
		return nil
	})
}

// Middleware is the part of a middleware that every adapter shares: a
// Server behind the framework-native hooks, run once per request by Serve.
// Build one with an Adapter's New, PerIP or Wrap; the zero Middleware is
// not usable (Serve panics). It is safe for concurrent use.
type Middleware[C any] struct {
	s     Server
	gate  *Gate          // s when New built it, for the default answers
	route func(C) string // nil: s does not read the route
	skip  func(C) bool
	deny  func(C, core.Decision) error
	fail  func(C, error) error
	// carriers hold the writers that take a request's context to the
	// native deny and error hooks; nil when there are none.
	carriers *sync.Pool
	request  func(C, *http.Request) C // Adapter.Request
	written  func(C) int64            // Adapter.Written
	// light: s is a Gate that holds nothing for the handler, so Handle
	// serves it as Serve does, without a Hold to carry.
	light bool
}

// Serve runs one request: the framework's skip hook, then the Server,
// which sets the rate-limit fields and, when it does not let the request
// through, writes the answer (through the native deny or error hook, if
// set). w and r are the response writer and request c holds. The adapter
// calls the next handler only on Proceed; err is what a native deny or
// error hook returned, for the framework's error handling.
func (m *Middleware[C]) Serve(c C, w http.ResponseWriter, r *http.Request) (Outcome, error) {
	if m.skip != nil && m.skip(c) {
		return Proceed, nil
	}
	var route string
	if m.route != nil {
		route = m.route(c)
	}
	if m.carriers == nil {
		return m.s.Serve(w, r, route), nil
	}
	cw := m.carriers.Get().(*carrier[C])
	cw.ResponseWriter, cw.c = w, c
	out := m.s.Serve(cw, r, route)
	err := cw.err
	*cw = carrier[C]{} // hold no request while pooled
	m.carriers.Put(cw)
	return out, err
}

// carrier is the response writer a Middleware with native deny or error
// hooks gives its Gate, so that the Gate's handlers reach the request's
// context; it writes to the framework's writer.
type carrier[C any] struct {
	http.ResponseWriter
	c   C
	err error // what the native hook returned
}

// Unwrap returns the framework's writer, for http.ResponseController.
func (cw *carrier[C]) Unwrap() http.ResponseWriter { return cw.ResponseWriter }

// takeHooks moves the native hooks of c into m, checking that they are on
// m's context type, and puts the Gate's deny and error handlers in front of
// them.
func (m *Middleware[C]) takeHooks(c *config) error {
	h := &c.hooks
	if h.skip != nil {
		fn, ok := h.skip.(func(C) bool)
		if !ok {
			return wrongContext[C](h.skipName, h.skip)
		}
		m.skip = fn
	}
	if h.deny != nil {
		fn, ok := h.deny.(func(C, core.Decision) error)
		if !ok {
			return wrongContext[C](h.denyName, h.deny)
		}
		if c.deny != nil {
			return fmt.Errorf("httplimit: WithDenyHandler and %s both set: keep one", h.denyName)
		}
		m.deny, c.deny = fn, m.denied
	}
	if h.fail != nil {
		fn, ok := h.fail.(func(C, error) error)
		if !ok {
			return wrongContext[C](h.failName, h.fail)
		}
		if c.onError != nil {
			return fmt.Errorf("httplimit: WithErrorHandler and %s both set: keep one", h.failName)
		}
		m.fail, c.onError = fn, m.failed
	}
	c.hooks = ctxHooks{}
	if m.deny != nil || m.fail != nil {
		m.carriers = &sync.Pool{New: func() any { return new(carrier[C]) }}
	}
	return nil
}

// denied is the Gate's deny handler under a native one.
func (m *Middleware[C]) denied(w http.ResponseWriter, r *http.Request, d core.Decision) {
	if cw, ok := w.(*carrier[C]); ok {
		cw.err = m.deny(cw.c, d)
		return
	}
	m.gate.defaultDeny(w, r, d) // not reached: only Serve calls the Gate
}

// failed is the Gate's error handler under a native one.
func (m *Middleware[C]) failed(w http.ResponseWriter, r *http.Request, err error) {
	if cw, ok := w.(*carrier[C]); ok {
		cw.err = m.fail(cw.c, err)
		return
	}
	defaultError(w, r, err) // not reached: only Serve calls the Gate
}

// wrongContext is the error for a native hook on another context type.
func wrongContext[C any](name string, fn any) error {
	return fmt.Errorf("httplimit: %s is a %T, a hook for another framework: this adapter's hooks take a %s", name, fn, fmt.Sprintf("%T", (*C)(nil))[1:])
}
