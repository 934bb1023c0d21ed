package pacer

import (
	"container/list"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Defaults of the options.
const (
	// DefaultMaxWait is the longest a request waits, in all, unless
	// WithMaxWait says otherwise.
	DefaultMaxWait = time.Minute
	// DefaultMaxRetries is how many times a refused request is sent again,
	// unless WithMaxRetries says otherwise.
	DefaultMaxRetries = 2
	// DefaultMaxHosts is how many hosts a Transport keeps state for, unless
	// WithMaxHosts says otherwise.
	DefaultMaxHosts = 1024
	// DefaultMaxPolicies is how many policies a Transport keeps per host,
	// unless WithMaxPolicies says otherwise.
	DefaultMaxPolicies = 16
)

// maxPoliciesCap is the most policies per host WithMaxPolicies accepts: as
// many as one response is read for.
const maxPoliciesCap = maxItems

// drainLimit is how much of a refused response's body is read before its
// connection is given up rather than reused.
const drainLimit = 64 << 10

// Transport is an http.RoundTripper that paces the requests it sends by
// what the servers' rate-limit fields say, and sends a refused request
// again when the server says when to. Its zero value is not usable: build
// one with New. It is safe for concurrent use, and meant to be shared: the
// pacing counts every request it sends to a host, from any goroutine.
type Transport struct {
	base        http.RoundTripper
	maxWait     time.Duration
	failFast    bool
	maxRetries  int
	maxHosts    int
	maxPolicies int

	mu    sync.Mutex // guards hosts and lru
	hosts map[string]*host
	lru   list.List // of *host, the most recently used first
}

var _ http.RoundTripper = (*Transport)(nil)

// Option configures a Transport.
type Option interface {
	apply(*Transport) error
}

type optionFunc func(*Transport) error

func (f optionFunc) apply(t *Transport) error { return f(t) }

// WithMaxWait sets the longest a request may wait, in all: for its hosts'
// quota before it is sent, and before each time it is sent again. A wait
// that would end later fails at once with a *WaitError rather than
// sleeping. d must be positive. The default is DefaultMaxWait.
func WithMaxWait(d time.Duration) Option {
	return optionFunc(func(t *Transport) error {
		if d <= 0 {
			return fmt.Errorf("pacer: WithMaxWait: %v is not positive", d)
		}
		t.maxWait = d
		return nil
	})
}

// WithFailFast makes a request that would have to wait for its host's
// quota fail at once with a *WaitError, and makes refused requests come
// back to the caller rather than being sent again. By default a request
// waits, up to WithMaxWait.
func WithFailFast() Option {
	return optionFunc(func(t *Transport) error {
		t.failFast = true
		return nil
	})
}

// WithMaxRetries sets how many times a request refused with Retry-After
// is sent again; 0 never sends one again. n must not be negative. The
// default is DefaultMaxRetries.
func WithMaxRetries(n int) Option {
	return optionFunc(func(t *Transport) error {
		if n < 0 {
			return fmt.Errorf("pacer: WithMaxRetries: %d is negative", n)
		}
		t.maxRetries = n
		return nil
	})
}

// WithMaxHosts sets how many hosts the Transport keeps state for; past
// it, the host used least recently is forgotten. n must be at least 1. The
// default is DefaultMaxHosts.
func WithMaxHosts(n int) Option {
	return optionFunc(func(t *Transport) error {
		if n < 1 {
			return fmt.Errorf("pacer: WithMaxHosts: %d is less than 1", n)
		}
		t.maxHosts = n
		return nil
	})
}

// WithMaxPolicies sets how many policies the Transport keeps per host;
// past it, the least restrictive is forgotten. n must be between 1 and 64.
// The default is DefaultMaxPolicies.
func WithMaxPolicies(n int) Option {
	return optionFunc(func(t *Transport) error {
		if n < 1 || n > maxPoliciesCap {
			return fmt.Errorf("pacer: WithMaxPolicies: %d is not between 1 and %d", n, maxPoliciesCap)
		}
		t.maxPolicies = n
		return nil
	})
}

// New returns a Transport sending requests through base, or through
// http.DefaultTransport when base is nil. It returns an error naming the
// option at fault when an option is invalid.
func New(base http.RoundTripper, opts ...Option) (*Transport, error) {
	if base == nil {
		base = http.DefaultTransport
	}
	t := &Transport{
		base:        base,
		maxWait:     DefaultMaxWait,
		maxRetries:  DefaultMaxRetries,
		maxHosts:    DefaultMaxHosts,
		maxPolicies: DefaultMaxPolicies,
		hosts:       make(map[string]*host),
	}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("pacer: New: a nil Option")
		}
		if err := o.apply(t); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// WaitError is the error of a request that was not sent because its
// host's quota is exhausted: under WithFailFast, for any wait; otherwise
// for a wait that would end past the maximum wait. The request's body,
// if any, is closed.
//
// It is also the error of a request whose maximum wait ended while it
// waited for the answer to another request learning the host's state (its
// first request, or the first after a policy's quota came back), which
// takes at most a second.
type WaitError struct {
	// Host is the request's host, with its port: "api.example.com:443".
	Host string
	// Policy names the policy that is exhausted: its id in the RateLimit
	// field ("per-ip"), or, for the fields that name none, "RateLimit"
	// (draft -07 and before), "X-RateLimit", or "Retry-After". It is empty
	// when nothing was known of the host yet.
	Policy string
	// Wait is how long the request would have waited, from when the error
	// was made: at most 24 hours, however far away the server's field was.
	Wait time.Duration
}

// Error says which host and policy, and for how long.
func (e *WaitError) Error() string {
	if e.Policy == "" {
		return fmt.Sprintf("pacer: %s: limits not known within the maximum wait (%v more)", e.Host, e.Wait)
	}
	return fmt.Sprintf("pacer: %s: quota of policy %q exhausted for %v", e.Host, e.Policy, e.Wait)
}

// RoundTrip sends req through the base transport once its host's quota
// allows, as http.RoundTripper asks: it does not change req, and it
// closes req's body, even on an error.
//
// A request whose host has exhausted a policy waits until the policy says
// more quota comes, or for its context, whose error it then returns. A
// wait that would end past the maximum wait, or any wait under
// WithFailFast, returns a *WaitError at once.
//
// A response of status 429 or 503 with Retry-After is closed and the
// request sent again after the delay it asks for, up to WithMaxRetries
// times and within the maximum wait, if the request is idempotent and its
// body can be sent again. Idempotent: GET, HEAD, OPTIONS, TRACE, PUT and
// DELETE (RFC 9110, section 9.2.2), or any request with an
// Idempotency-Key or X-Idempotency-Key header, as net/http's own retries
// read them. A body can be sent again when it is nil, http.NoBody, or
// GetBody is set (http.NewRequest sets it for the common body types).
// Otherwise, or when the delay would end past the maximum wait, the
// refused response is returned as it came.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errors.New("pacer: nil Request.URL")
	}
	ctx := req.Context()
	deadline := time.Now().Add(t.maxWait)
	h := t.host(hostKey(req))
	retryable := !t.failFast && t.maxRetries > 0 && idempotent(req) && replayable(req)
	r := req
	for attempt := 0; ; attempt++ {
		tk, err := h.acquire(ctx, deadline, t.failFast)
		if err != nil {
			if r.Body != nil {
				r.Body.Close()
			}
			return nil, err
		}
		res, err := t.base.RoundTrip(r)
		now := time.Now()
		if err != nil {
			h.release(tk, nil, now, t.maxPolicies)
			return nil, err
		}
		delay, ok := h.release(tk, res, now, t.maxPolicies)
		if !ok || !retryable || attempt >= t.maxRetries || now.Add(delay).After(deadline) {
			return res, nil
		}
		// Read what is small of the refused body, so that its connection
		// is reused, then build the request anew with a fresh body.
		_, _ = io.CopyN(io.Discard, res.Body, drainLimit)
		res.Body.Close()
		r = req.Clone(ctx)
		if req.Body != nil && req.Body != http.NoBody {
			body, err := req.GetBody()
			if err != nil {
				return nil, fmt.Errorf("pacer: sending %s %s again: GetBody: %w", req.Method, req.URL.Redacted(), err)
			}
			r.Body = body
		}
	}
}

// CloseIdleConnections closes the idle connections of the base transport,
// if it has a CloseIdleConnections method: http.Client.CloseIdleConnections
// calls it.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// host returns the state of the host key, making it if need be, and
// marks it used.
func (t *Transport) host(key string) *host {
	t.mu.Lock()
	defer t.mu.Unlock()
	if h, ok := t.hosts[key]; ok {
		t.lru.MoveToFront(h.elem)
		return h
	}
	if len(t.hosts) >= t.maxHosts {
		old := t.lru.Back()
		t.lru.Remove(old)
		delete(t.hosts, old.Value.(*host).key)
	}
	h := &host{key: key, wake: make(chan struct{})}
	h.elem = t.lru.PushFront(h)
	t.hosts[key] = h
	return h
}

// hostKey returns the host of req's URL, lower-cased, with its port: the
// scheme's default when it has none.
func hostKey(req *http.Request) string {
	host := strings.ToLower(req.URL.Host)
	if req.URL.Port() != "" {
		return host
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") || strings.IndexByte(host, ':') < 0 {
		if strings.EqualFold(req.URL.Scheme, "http") {
			return host + ":80"
		}
		return host + ":443"
	}
	return host
}

// idempotent reports whether req may be sent twice with the effect of
// once.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	if _, ok := req.Header["Idempotency-Key"]; ok {
		return true
	}
	_, ok := req.Header["X-Idempotency-Key"]
	return ok
}

// replayable reports whether req's body can be sent again.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}
