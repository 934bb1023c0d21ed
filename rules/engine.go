package rules

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/keyfuncs"
)

// Engine applies a set of rules to requests. Adapters put it in front of
// handlers as they put a Gate (chimw.Wrap, ginmw.Wrap, echomw.Wrap), or use
// Handler for net/http. It is safe for concurrent use; Replace and Reload
// swap the whole set at once, and a request in flight finishes under the
// set it began with.
// The zero Engine is not usable: build one with New or Load.
type Engine struct {
	store  core.Store
	o      options
	hasher *keyHasher
	path   string // the file Load read; "" for New
	cur    atomic.Pointer[compiled]

	mu  sync.Mutex // serialises reloads; guards sum
	sum [sha256.Size]byte

	lastReload atomic.Pointer[ReloadEvent] // the last read of the file (LastReload)

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

var _ httplimit.Holder = (*Engine)(nil)

// New returns an Engine applying cfg, with counters in store. cfg is
// checked whole: an error (joined FieldErrors, one per bad field) names
// every field at fault.
func New(store core.Store, cfg Config, opts ...Option) (*Engine, error) {
	e, err := newEngine(store, opts)
	if err != nil {
		return nil, err
	}
	c, err := e.compile(&cfg)
	if err != nil {
		return nil, err
	}
	e.cur.Store(c)
	return e, nil
}

func newEngine(store core.Store, opts []Option) (*Engine, error) {
	if store == nil {
		return nil, errors.New("rules: nil store")
	}
	e := &Engine{store: store, hasher: newKeyHasher(), o: options{maxHeader: 256, denyStatus: http.StatusForbidden, clock: core.SystemClock}}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("rules: nil option")
		}
		if err := o.apply(&e.o); err != nil {
			return nil, err
		}
	}
	if e.o.resolver == nil {
		r, err := keyfuncs.NewIPResolver()
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		e.o.resolver = r
	}
	return e, nil
}

// Load returns an Engine applying the rules of the YAML file at path (see
// the package doc for its form), with counters in store. Errors name the
// file, line and field. With WithWatch the file is re-read until Close.
func Load(store core.Store, path string, opts ...Option) (*Engine, error) {
	e, err := newEngine(store, opts)
	if err != nil {
		return nil, err
	}
	e.path = path
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	c, err := e.compileFile(path, data)
	if err != nil {
		return nil, err
	}
	e.sum = sha256.Sum256(data)
	e.cur.Store(c)
	e.lastReload.Store(&ReloadEvent{Path: path, Rules: c.nrules, At: e.o.clock.Now()})
	if e.o.watch > 0 {
		e.stop, e.done = make(chan struct{}), make(chan struct{})
		go e.watch(e.o.watch)
	}
	return e, nil
}

// MaxFileSize is the largest rules file Load and Reload read.
const MaxFileSize = 4 << 20

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("rules: %s: larger than %d bytes", path, MaxFileSize)
	}
	return data, nil
}

// compileFile parses and checks a file's content.
func (e *Engine) compileFile(path string, data []byte) (*compiled, error) {
	cfg, lines, err := parse(path, data)
	if err != nil {
		return nil, err
	}
	c, err := e.compile(cfg)
	if err != nil {
		return nil, lines.locate(path, err)
	}
	return c, nil
}

// Replace checks cfg whole and, if it is good, applies it to every request
// from now on; if not, the rules in force stay and the error says why.
// Counters of policies kept (same name) carry over: they live in the store.
func (e *Engine) Replace(cfg Config) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.compile(&cfg)
	if err != nil {
		return err
	}
	e.cur.Store(c)
	return nil
}

// Reload re-reads the file Load read and, if it is good, applies it; if
// not, the rules in force stay, and the error (also given to the
// WithReloadHook) names the file, line and field. Call it on SIGHUP, say.
func (e *Engine) Reload() error {
	if e.path == "" {
		return errors.New("rules: Reload: the engine was not loaded from a file")
	}
	return e.reload(true)
}

func (e *Engine) reload(always bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	data, err := readFile(e.path)
	if err == nil {
		sum := sha256.Sum256(data)
		if !always && sum == e.sum {
			return nil // unchanged since the last read, good or bad
		}
		e.sum = sum
		var c *compiled
		if c, err = e.compileFile(e.path, data); err == nil {
			e.cur.Store(c)
		}
	}
	ev := ReloadEvent{Path: e.path, Err: err, Rules: e.cur.Load().nrules, At: e.o.clock.Now()}
	e.lastReload.Store(&ev)
	if e.o.onReload != nil {
		e.o.onReload(ev)
	}
	return err
}

func (e *Engine) watch(every time.Duration) {
	defer close(e.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			_ = e.reload(false) // reported to the reload hook
		}
	}
}

// Close stops the watcher, if any. It does not close the store.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		if e.stop != nil {
			close(e.stop)
			<-e.done
		}
	})
	return nil
}

// Rules returns the number of rules in force.
func (e *Engine) Rules() int { return e.cur.Load().nrules }

// UsesRoute reports true: a reload may bring rules that match or key by
// route, so adapters always pass it.
func (e *Engine) UsesRoute() bool { return true }

// Handler returns net/http middleware applying the rules; the route is the
// ServeMux pattern (Request.Pattern), so wrap the handlers a mux matched to
// match by route.
func (e *Engine) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, h := e.ServeHold(w, r, r.Pattern)
		if out == httplimit.Proceed {
			defer h.Release() // also when next panics
			next.ServeHTTP(w, r)
		}
	})
}

// Serve applies the rules to r, whose route pattern is route, and writes
// what the outcome calls for (see httplimit.Gate.Serve). A request a rule
// with a concurrency limit (NamedLimit.Concurrent) applies to cannot be
// served by Serve, which could not hold its slot while the handler runs:
// it is answered with the error handler (503). The adapters' middleware
// and Handler serve the Engine with ServeHold.
func (e *Engine) Serve(w http.ResponseWriter, r *http.Request, route string) httplimit.Outcome {
	return e.serve(w, r, route, nil)
}

// ServeHold is Serve for a caller that runs the handler itself: on
// Proceed, h holds the concurrency slots of the rules that applied, which
// the caller gives back when the handler returns or panics (defer
// h.Release()); on any other outcome h holds nothing. Every adapter's
// middleware (httplimit.Middleware.Handle) serves the Engine so.
func (e *Engine) ServeHold(w http.ResponseWriter, r *http.Request, route string) (httplimit.Outcome, httplimit.Hold) {
	var h httplimit.Hold
	out := e.serve(w, r, route, &h)
	return out, h
}

// serve is Serve, holding the slots in h (nil: the caller cannot).
func (e *Engine) serve(w http.ResponseWriter, r *http.Request, route string, h *httplimit.Hold) httplimit.Outcome {
	c := e.cur.Load()
	q := request{r: r, route: route, res: c.resolver}
	if !c.deny.empty() && c.deny.hit(&q) {
		e.event(r.Context(), "deny-list", "", "deny-listed", nil)
		httplimit.WriteProblem(w, r, e.o.denyStatus, "The client is not allowed.")
		return httplimit.Denied
	}
	if !c.allow.empty() && c.allow.hit(&q) {
		return httplimit.Proceed
	}
	// keys are the rate limits' keys of the rules that apply, in order;
	// ckeys their concurrency limits', appended to keys at the end.
	var keys, ckeys, rkeys [httplimit.MaxLimits]string
	path := "/"
	if r.URL != nil && r.URL.Path != "" {
		path = r.URL.Path
	}
	// The rules that apply: under FirstMatch the first that matches and
	// can key the request; under AllMatches every one, their limits taken
	// together.
	var hits [httplimit.MaxLimits]int
	nh, nk, nc := 0, 0, 0
	// Each matching rule with a penalty boxes the client of its first
	// limit, on denials of its limits keyed as that one (crule.boxTakes).
	// The box keys are joined in kb, on this stack: core copies them before
	// a store sees them.
	var boxes [core.MaxBoxes]core.Box
	var kb [boxKeyBuf]byte
	bk := kb[:0]
	nb := 0
	for _, i := range c.candidates(path) {
		ru := &c.rules[i]
		if !ru.m.match(&q) {
			continue
		}
		if ru.skip {
			return httplimit.Proceed
		}
		switch res, err := ru.keys(&q, rkeys[:len(ru.keyFns)]); res {
		case keysMissing:
			continue
		case keysDenied:
			return e.noKey(w, r, ru, err)
		}
		copy(keys[nk:], rkeys[:ru.nrate])
		copy(ckeys[nc:], rkeys[ru.nrate:len(ru.keyFns)])
		if ru.penalty != nil && !ru.shadow && nb < len(boxes) { // a shadow rule never boxes anyone; compile bounds nb
			at := len(bk)
			bk = appendBoxKey(bk, ru.name, keys[nk])
			boxes[nb] = core.Box{Key: unsafe.String(&bk[at], len(bk)-at), Penalty: *ru.penalty, Takes: ru.boxTakes << nk}
			nb++
		}
		hits[nh] = i
		nh++
		nk += ru.nrate
		nc += len(ru.conc)
		if c.mode == FirstMatch {
			break
		}
	}
	var g *httplimit.Gate
	switch nh {
	case 0:
		return httplimit.Proceed
	case 1:
		g = c.rules[hits[0]].gate
	default:
		g = e.combo(c, hits[:nh])
	}
	if nc == 0 {
		return g.ServeKeys(w, r, keys[:nk], boxes[:nb])
	}
	copy(keys[nk:], ckeys[:nc])
	if h == nil {
		return g.ServeKeys(w, r, keys[:nk+nc], boxes[:nb]) // answers 503: no one would give the slots back
	}
	out, hold := g.ServeKeysHold(w, r, keys[:nk+nc], boxes[:nb])
	*h = hold
	return out
}

// boxKeyBuf is the room Serve's stack gives the box keys of a request;
// longer ones are joined on the heap.
const boxKeyBuf = 512

// noKey answers a request the rule ru cannot key; err (wrapping
// keyfuncs.ErrNoKey) says why, and never holds a header's value.
func (e *Engine) noKey(w http.ResponseWriter, r *http.Request, ru *crule, err error) httplimit.Outcome {
	e.event(r.Context(), ru.name, ru.limiters[0].Name(), "no-key", err)
	httplimit.WriteProblem(w, r, ru.status, "The request does not say who sends it.")
	return httplimit.Failed
}

// event reports an answer of the rules themselves.
func (e *Engine) event(ctx context.Context, rule, policy, answer string, err error) {
	if e.o.hook == nil {
		return
	}
	e.o.hook(ctx, Event{Rule: rule, Answer: answer, Event: core.Event{Name: policy, Err: err, Decision: core.Decision{Reason: core.ReasonInvalid}}})
}

type keysResult uint8

const (
	keysOK keysResult = iota
	keysMissing
	keysDenied
)

// keys reads the rule's keys into dst. A key that cannot be read (its
// fallback neither, under MissingFallback, whose key funcs try both) is
// answered by the rule's Missing: skip the rule, or deny the request, with
// the key func's error.
func (ru *crule) keys(q *request, dst []string) (keysResult, error) {
	r := q.keyed(ru.route)
	for i, fn := range ru.keyFns {
		k, err := fn(r)
		if err != nil {
			if ru.missing == MissingSkip {
				return keysMissing, err
			}
			return keysDenied, err
		}
		dst[i] = k
	}
	return keysOK, nil
}
