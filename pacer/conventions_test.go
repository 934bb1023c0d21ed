package pacer_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/pacer"
)

// windowServer admits quota requests per window of window length, the
// windows starting at epoch, and describes its state by one convention.
type windowServer struct {
	conv convention

	mu       sync.Mutex
	window   int64
	count    int
	admitted []time.Duration // when each admitted request arrived, from epoch
	refused  []time.Duration
}

const (
	quota  = 3
	window = 10 * time.Second
)

// convention is one way of telling a client about a rate limit.
type convention struct {
	name string
	// fields writes the convention's fields, given what remains and
	// when the window ends, on every answer; nil for the conventions that
	// say something only when they refuse.
	fields func(h http.Header, remaining int, end, now time.Time)
	// refusal writes the fields of a refusal besides fields'.
	refusal func(h http.Header, end, now time.Time)
	// policy is the name a *WaitError gives the exhausted policy.
	policy string
}

func ceilSeconds(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

// conventions are the ways servers in the wild say it.
var conventions = []convention{
	{
		name: "draft -11 (the newest): RateLimit and RateLimit-Policy",
		fields: func(h http.Header, r int, end, now time.Time) {
			h.Set("RateLimit-Policy", fmt.Sprintf(`"fixed";q=%d;w=%d`, quota, int(window/time.Second)))
			h.Set("RateLimit", fmt.Sprintf(`"fixed";r=%d;t=%s`, r, ceilSeconds(end.Sub(now))))
		},
		policy: "fixed",
	},
	{
		name: "draft -10: RateLimit over two field lines, without t, the window from RateLimit-Policy",
		fields: func(h http.Header, r int, end, now time.Time) {
			h.Add("RateLimit-Policy", `"daily";q=1000;w=86400`)
			h.Add("RateLimit-Policy", fmt.Sprintf(`"fixed";q=%d;w=%d`, quota, int(window/time.Second)))
			h.Add("RateLimit", `"daily";r=900;t=3600`)
			h.Add("RateLimit", fmt.Sprintf(`"fixed";r=%d;pk=:cHsdsRa894==:`, r))
		},
		policy: "fixed",
	},
	{
		name: "draft -07: the RateLimit Dictionary",
		fields: func(h http.Header, r int, end, now time.Time) {
			h.Set("RateLimit-Policy", fmt.Sprintf("%d;w=%d", quota, int(window/time.Second)))
			h.Set("RateLimit", fmt.Sprintf("limit=%d, remaining=%d, reset=%s", quota, r, ceilSeconds(end.Sub(now))))
		},
		policy: "RateLimit",
	},
	{
		name: "draft -06: RateLimit-Limit, -Remaining and -Reset",
		fields: func(h http.Header, r int, end, now time.Time) {
			h.Set("RateLimit-Limit", strconv.Itoa(quota))
			h.Set("RateLimit-Remaining", strconv.Itoa(r))
			h.Set("RateLimit-Reset", ceilSeconds(end.Sub(now)))
		},
		policy: "RateLimit",
	},
	{
		name: "X-RateLimit-Reset in delay seconds",
		fields: func(h http.Header, r int, end, now time.Time) {
			h.Set("X-RateLimit-Limit", strconv.Itoa(quota))
			h.Set("X-RateLimit-Remaining", strconv.Itoa(r))
			h.Set("X-RateLimit-Reset", ceilSeconds(end.Sub(now)))
		},
		policy: "X-RateLimit",
	},
	{
		name: "X-RateLimit-Reset in Unix seconds",
		fields: func(h http.Header, r int, end, now time.Time) {
			h.Set("X-RateLimit-Limit", strconv.Itoa(quota))
			h.Set("X-RateLimit-Remaining", strconv.Itoa(r))
			h.Set("X-RateLimit-Reset", strconv.FormatInt(end.Unix(), 10))
		},
		policy: "X-RateLimit",
	},
	{
		name: "X-Rate-Limit-Reset in Unix milliseconds",
		fields: func(h http.Header, r int, end, now time.Time) {
			h.Set("X-Rate-Limit-Limit", strconv.Itoa(quota))
			h.Set("X-Rate-Limit-Remaining", strconv.Itoa(r))
			h.Set("X-Rate-Limit-Reset", strconv.FormatInt(end.UnixMilli(), 10))
		},
		policy: "X-RateLimit",
	},
	{
		name: "Retry-After in delay seconds, on refusals only",
		refusal: func(h http.Header, end, now time.Time) {
			h.Set("Retry-After", ceilSeconds(end.Sub(now)))
		},
		policy: "Retry-After",
	},
	{
		name: "Retry-After as an HTTP-date, on refusals only",
		refusal: func(h http.Header, end, now time.Time) {
			h.Set("Retry-After", end.UTC().Format(http.TimeFormat))
		},
		policy: "Retry-After",
	},
}

func (s *windowServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	since := now.Sub(epoch)
	if win := int64(since / window); win != s.window {
		s.window, s.count = win, 0
	}
	end := epoch.Add(time.Duration(s.window+1) * window)
	h := w.Header()
	if s.count >= quota {
		s.refused = append(s.refused, since)
		if s.conv.fields != nil {
			s.conv.fields(h, 0, end, now)
		}
		if s.conv.refusal != nil {
			s.conv.refusal(h, end, now)
		}
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	s.count++
	s.admitted = append(s.admitted, since)
	if s.conv.fields != nil {
		s.conv.fields(h, quota-s.count, end, now)
	}
	io.WriteString(w, "ok\n")
}

// get sends a GET through rt and returns its status, or the error.
func get(rt http.RoundTripper) (int, error) {
	req, _ := http.NewRequest(http.MethodGet, "http://api.test/", nil)
	res, err := rt.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// Seven GETs in a row against a quota of 3 per 10s window: a paced client
// sends them when the convention says the quota is back, and is never
// refused, or (when the server says nothing before refusing) is refused
// once per window and sends the request again when Retry-After says.
func TestEachConventionPacesTheClient(t *testing.T) {
	for _, c := range conventions {
		t.Run(c.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				s := &windowServer{conv: c}
				p := newPacer(t, serve(t, s))
				for i := range 7 {
					if code, err := get(p); err != nil || code != http.StatusOK {
						t.Fatalf("GET %d: %d, %v; want 200", i+1, code, err)
					}
				}
				want := []time.Duration{0, 0, 0, window, window, window, 2 * window}
				if !slices.Equal(s.admitted, want) {
					t.Errorf("admitted at %v, want at %v", s.admitted, want)
				}
				var wantRefused []time.Duration
				if c.fields == nil {
					wantRefused = []time.Duration{0, window} // one per window: how the client learns
				}
				if !slices.Equal(s.refused, wantRefused) {
					t.Errorf("refused at %v, want at %v", s.refused, wantRefused)
				}
			})
		})
	}
}

// Under WithFailFast, a request that would wait fails at once with the
// policy and the wait the convention gave.
func TestEachConventionFailsFastWithItsPolicyAndWait(t *testing.T) {
	for _, c := range conventions {
		t.Run(c.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				s := &windowServer{conv: c}
				p := newPacer(t, serve(t, s), pacer.WithFailFast())
				for i := range 3 {
					if code, err := get(p); err != nil || code != http.StatusOK {
						t.Fatalf("GET %d: %d, %v; want 200", i+1, code, err)
					}
				}
				if c.fields == nil {
					// Nothing said before the refusal, which comes back
					// as it is: fail fast sends nothing again.
					if code, err := get(p); err != nil || code != http.StatusTooManyRequests {
						t.Fatalf("GET 4: %d, %v; want the 429", code, err)
					}
				}
				start := time.Now()
				_, err := get(p)
				we := waitError(t, err)
				if we.Policy != c.policy || we.Wait != window || we.Host != "api.test:80" {
					t.Errorf("WaitError %+v, want host api.test:80, policy %q, wait %v", *we, c.policy, window)
				}
				if d := time.Since(start); d != 0 {
					t.Errorf("failing fast took %v", d)
				}
				if len(s.admitted) != 3 {
					t.Errorf("server admitted %d, want 3", len(s.admitted))
				}
			})
		})
	}
}

// A wait longer than the maximum fails at once rather than sleeping.
func TestAWaitPastTheMaximumFailsAtOnce(t *testing.T) {
	for _, c := range conventions {
		t.Run(c.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				s := &windowServer{conv: c}
				p := newPacer(t, serve(t, s), pacer.WithMaxWait(window-time.Second))
				for i := range 3 {
					if code, err := get(p); err != nil || code != http.StatusOK {
						t.Fatalf("GET %d: %d, %v; want 200", i+1, code, err)
					}
				}
				if c.fields == nil {
					// The Retry-After is past the maximum wait: the 429
					// comes back at once, not sent again.
					start := time.Now()
					if code, err := get(p); err != nil || code != http.StatusTooManyRequests {
						t.Fatalf("GET 4: %d, %v; want the 429", code, err)
					}
					if d := time.Since(start); d != 0 {
						t.Errorf("the 429 came back after %v", d)
					}
				}
				start := time.Now()
				_, err := get(p)
				if we := waitError(t, err); we.Policy != c.policy || we.Wait != window {
					t.Errorf("WaitError %+v, want policy %q, wait %v", *we, c.policy, window)
				}
				if d := time.Since(start); d != 0 {
					t.Errorf("failing took %v, want no wait", d)
				}
			})
		})
	}
}
