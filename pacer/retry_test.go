package pacer_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/pacer"
)

// refuser answers the first refusals requests with status and Retry-After
// retryAfter, then 200; it records each request's method and body.
type refuser struct {
	refusals   int
	status     int
	retryAfter string

	mu     sync.Mutex
	bodies []string
	at     []time.Time
}

func (s *refuser) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bodies = append(s.bodies, r.Method+" "+string(body))
	s.at = append(s.at, time.Now())
	if len(s.bodies) <= s.refusals {
		if s.retryAfter != "" {
			w.Header().Set("Retry-After", s.retryAfter)
		}
		w.WriteHeader(s.status)
		io.WriteString(w, strings.Repeat("refused\n", 100))
		return
	}
	io.WriteString(w, "ok\n")
}

// opaqueBody is a body http.NewRequest knows nothing of, so that it sets
// no GetBody: it cannot be read twice.
type opaqueBody struct{ io.Reader }

func (opaqueBody) Close() error { return nil }

func TestRefusedRequestsAreSentAgainOnlyWhenSafe(t *testing.T) {
	newReq := func(method, body string, setup func(*http.Request)) func() *http.Request {
		return func() *http.Request {
			var r io.Reader
			if body != "" {
				r = strings.NewReader(body)
			}
			req, err := http.NewRequest(method, "http://api.test/items", r)
			if err != nil {
				t.Fatal(err)
			}
			if setup != nil {
				setup(req)
			}
			return req
		}
	}
	opaque := func(req *http.Request) {
		req.Body = opaqueBody{strings.NewReader("data")}
		req.GetBody = nil
	}
	tests := []struct {
		name       string
		req        func() *http.Request
		status     int
		retryAfter string
		opts       []pacer.Option
		wantStatus int
		wantSeen   []string
	}{
		{"a GET refused 429 is sent again", newReq("GET", "", nil), 429, "1", nil,
			200, []string{"GET ", "GET "}},
		{"a HEAD refused 503 is sent again", newReq("HEAD", "", nil), 503, "1", nil,
			200, []string{"HEAD ", "HEAD "}},
		{"a PUT is sent again with its body", newReq("PUT", "data", nil), 429, "1", nil,
			200, []string{"PUT data", "PUT data"}},
		{"a DELETE is sent again", newReq("DELETE", "", nil), 429, "1", nil,
			200, []string{"DELETE ", "DELETE "}},
		{"a POST with an Idempotency-Key is sent again with its body",
			newReq("POST", "data", func(r *http.Request) { r.Header.Set("Idempotency-Key", `"8e03978e"`) }), 429, "1", nil,
			200, []string{"POST data", "POST data"}},
		{"a POST without an Idempotency-Key is not", newReq("POST", "data", nil), 429, "1", nil,
			429, []string{"POST data"}},
		{"a PATCH is not", newReq("PATCH", "data", nil), 429, "1", nil,
			429, []string{"PATCH data"}},
		{"a PUT whose body cannot be read again is not", newReq("PUT", "", opaque), 429, "1", nil,
			429, []string{"PUT data"}},
		{"a POST with an Idempotency-Key whose body cannot be read again is not",
			newReq("POST", "", func(r *http.Request) { opaque(r); r.Header.Set("Idempotency-Key", "k") }), 429, "1", nil,
			429, []string{"POST data"}},
		{"a 429 without Retry-After is not", newReq("GET", "", nil), 429, "", nil,
			429, []string{"GET "}},
		{"a 500 with Retry-After is not", newReq("GET", "", nil), 500, "1", nil,
			500, []string{"GET "}},
		{"a 301 with Retry-After is not", newReq("GET", "", nil), 301, "1", nil,
			301, []string{"GET "}},
		{"nothing is sent again under WithFailFast", newReq("GET", "", nil), 429, "1", []pacer.Option{pacer.WithFailFast()},
			429, []string{"GET "}},
		{"nothing is sent again under WithMaxRetries(0)", newReq("GET", "", nil), 429, "1", []pacer.Option{pacer.WithMaxRetries(0)},
			429, []string{"GET "}},
		{"nothing is sent again when Retry-After is past the maximum wait", newReq("GET", "", nil), 429, "61", nil,
			429, []string{"GET "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				s := &refuser{refusals: 1, status: tt.status, retryAfter: tt.retryAfter}
				p := newPacer(t, serve(t, s), tt.opts...)
				start := time.Now()
				res, err := p.RoundTrip(tt.req())
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != tt.wantStatus {
					t.Errorf("status %d, want %d", res.StatusCode, tt.wantStatus)
				}
				if strings.Join(s.bodies, "|") != strings.Join(tt.wantSeen, "|") {
					t.Errorf("server saw %q, want %q", s.bodies, tt.wantSeen)
				}
				if len(s.at) == 2 {
					if d := s.at[1].Sub(start); d != time.Second {
						t.Errorf("sent again after %v, want after Retry-After's 1s", d)
					}
				}
			})
		})
	}
}

func TestRetriesStopAtTheBudget(t *testing.T) {
	bubble(t, func(t *testing.T) {
		s := &refuser{refusals: 100, status: 429, retryAfter: "2"}
		p := newPacer(t, serve(t, s), pacer.WithMaxRetries(3))
		start := time.Now()
		if code, err := get(p); err != nil || code != 429 {
			t.Fatalf("got %d, %v; want the last 429", code, err)
		}
		if len(s.bodies) != 4 || time.Since(start) != 6*time.Second {
			t.Errorf("sent %d times in %v, want 4 times (3 retries) in 6s", len(s.bodies), time.Since(start))
		}
	})
	bubble(t, func(t *testing.T) {
		// Each retry waits 20s; the maximum wait, 50s, covers two.
		s := &refuser{refusals: 100, status: 503, retryAfter: "20"}
		p := newPacer(t, serve(t, s), pacer.WithMaxRetries(10), pacer.WithMaxWait(50*time.Second))
		start := time.Now()
		if code, err := get(p); err != nil || code != 503 {
			t.Fatalf("got %d, %v; want the last 503", code, err)
		}
		if len(s.bodies) != 3 || time.Since(start) != 40*time.Second {
			t.Errorf("sent %d times in %v, want 3 times in 40s", len(s.bodies), time.Since(start))
		}
	})
}

// A request waiting for quota ends with its context.
func TestAWaitEndsWithTheContext(t *testing.T) {
	bubble(t, func(t *testing.T) {
		s := &windowServer{conv: conventions[0]}
		p := newPacer(t, serve(t, s))
		client := &http.Client{Transport: p}
		for range quota {
			res, err := client.Get("http://api.test/")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://api.test/", nil)
		start := time.Now()
		_, err := client.Do(req)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 3*time.Second {
			t.Errorf("after %v: %v; want context.DeadlineExceeded after 3s", time.Since(start), err)
		}
		if len(s.admitted)+len(s.refused) != quota {
			t.Errorf("the server saw %d requests, want %d", len(s.admitted)+len(s.refused), quota)
		}
	})
}

// The body of a request that is not sent is closed, as
// http.RoundTripper asks.
func TestTheBodyOfARequestNotSentIsClosed(t *testing.T) {
	bubble(t, func(t *testing.T) {
		s := &windowServer{conv: conventions[0]}
		p := newPacer(t, serve(t, s), pacer.WithFailFast())
		for range quota {
			if _, err := get(p); err != nil {
				t.Fatal(err)
			}
		}
		body := &closeCounter{Reader: bytes.NewReader([]byte("data"))}
		req, _ := http.NewRequest(http.MethodPut, "http://api.test/", body)
		if _, err := p.RoundTrip(req); err == nil {
			t.Fatal("sent past the quota under WithFailFast")
		}
		if body.closed != 1 {
			t.Errorf("body closed %d times, want 1", body.closed)
		}
	})
}

type closeCounter struct {
	io.Reader
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }
