package httplimit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
)

// denyStore denies every request, as a store does once a key's quota is
// spent: the path a flood of denied requests takes.
type denyStore struct{}

func (denyStore) Take(_ context.Context, _ string, l core.Limit, _ int64) (core.Decision, error) {
	return core.Decision{Reason: core.ReasonLimited, Limit: l, ResetAfter: time.Minute, RetryAfter: 30 * time.Second}, nil
}
func (denyStore) Close() error { return nil }

// hugeAccept returns an Accept field of about size bytes that a client could
// send: many media ranges with malformed weights, JSON last.
func hugeAccept(size int) string {
	const elem = "Text/X-Junk;q=oops, "
	return strings.Repeat(elem, size/len(elem)) + "application/json"
}

// BenchmarkDenialWithHugeAccept measures a denied request whose client sent
// an Accept field of 64 KiB or 1 MiB: the answer's work must not grow with
// the field.
func BenchmarkDenialWithHugeAccept(b *testing.B) {
	l, err := core.NewLimiter(denyStore{}, core.PerMinute(10), core.WithName("per-ip"))
	if err != nil {
		b.Fatal(err)
	}
	g, err := httplimit.New(l, httplimit.WithKeyFunc(anyKey))
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{0, 64 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			r := httptest.NewRequest("GET", "/", nil)
			if size > 0 {
				r.Header["Accept"] = []string{hugeAccept(size)}
			}
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				if g.Serve(w, r, "") != httplimit.Denied {
					b.Fatal("not denied")
				}
			}
		})
	}
}

// discardWriter is a ResponseWriter that keeps the header and drops the
// body, so that a benchmark measures the answer, not a recorder.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// TestAcceptsJSONReadsTheFirstKiB checks that content negotiation reads a
// bounded part of Accept: what lies past the first 1 KiB, or is cut by it,
// is ignored; what lies within it is read as before.
func TestAcceptsJSONReadsTheFirstKiB(t *testing.T) {
	pad := func(n int) string { // n bytes of media ranges that are neither JSON nor text
		s := strings.Repeat("image/x;q=0.1,", n/14)
		return s + strings.Repeat(" ", n-len(s))
	}
	for _, tt := range []struct {
		name   string
		accept []string
		want   bool
	}{
		{"JSON within the first KiB is read", []string{pad(1000) + ",application/json"}, true},
		{"JSON past the first KiB is ignored", []string{pad(1024) + ",application/json"}, false},
		{"JSON on a later line within the first KiB is read", []string{pad(500), pad(500), "application/json"}, true},
		{"JSON on a line past the first KiB is ignored", []string{pad(600), pad(600), "application/json"}, false},
		{"empty lines count", append(slices.Repeat([]string{""}, 1024), "application/json"), false},
		{"a range cut by the limit is not read with the weight it lacks", []string{"text/plain;q=0.5," + pad(1024-len("text/plain;q=0.5,application/json")-1) + ",application/json;q=0.1"}, false},
		{"a range ending at the limit is read", []string{"text/plain;q=0.5," + pad(1024-len("text/plain;q=0.5,application/json")-2) + ",application/json,"}, true},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Accept"] = tt.accept
		if got := httplimit.AcceptsJSON(r); got != tt.want {
			t.Errorf("%s: AcceptsJSON = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestAcceptWeights checks the qvalue syntax of RFC 9110 section 12.4.2.
func TestAcceptWeights(t *testing.T) {
	for accept, want := range map[string]bool{
		"application/json;q=1.000":                     true,
		"application/json;q=1.":                        true,
		"application/json;Q=0.001, text/plain;q=0":     true,
		"application/json;q=0.001, text/plain;q=0.002": false,
		"application/json;q=0.5, text/plain;q=0.500":   true, // equal weight: JSON
		"application/json;q=1.5":                       false,
		"application/json;q=1.001":                     false,
		"application/json;q=0.1234":                    false,
		"application/json;q=-0":                        false,
		"application/json;q=":                          false,
		"application/json;q=0.x":                       false,
		"application/json;charset=utf-8;q=0.9":         true,
		"application/json;q=0.9;q=0":                   true, // the first q counts
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept", accept)
		if got := httplimit.AcceptsJSON(r); got != want {
			t.Errorf("Accept %q: AcceptsJSON = %v, want %v", accept, got, want)
		}
	}
}

// TestDenialWorkDoesNotGrowWithAccept checks that neither content
// negotiation nor a whole denial allocates more for a huge Accept field.
func TestDenialWorkDoesNotGrowWithAccept(t *testing.T) {
	l, err := core.NewLimiter(denyStore{}, core.PerMinute(10), core.WithName("per-ip"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := httplimit.New(l, httplimit.WithKeyFunc(anyKey))
	if err != nil {
		t.Fatal(err)
	}
	var denial []float64
	for _, size := range []int{0, 64 << 10, 1 << 20} {
		r := httptest.NewRequest("GET", "/", nil)
		if size > 0 {
			r.Header["Accept"] = []string{hugeAccept(size)}
		}
		if n := testing.AllocsPerRun(20, func() { httplimit.AcceptsJSON(r) }); n != 0 {
			t.Errorf("AcceptsJSON of %d bytes: %v allocations, want 0", size, n)
		}
		w := &discardWriter{h: http.Header{}}
		denial = append(denial, testing.AllocsPerRun(20, func() {
			clear(w.h)
			g.Serve(w, r, "")
		}))
		if w.code != http.StatusTooManyRequests || w.h.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("%d bytes: status %d, Content-Type %q; want 429 in plain text (JSON lies past the first KiB)", size, w.code, w.h.Get("Content-Type"))
		}
	}
	// The body buffer comes from a sync.Pool, which the race detector
	// empties at random: hence a bound rather than equality.
	for _, n := range denial {
		if n > 3 {
			t.Errorf("allocations of a denial with an Accept of 0, 64 KiB, 1 MiB: %v; want at most 3 each", denial)
			break
		}
	}
}

// TestWriteProblemWithoutAStatus answers a caller that passes no status
// (0, as the rules did for a fallback key that is missing too) with 500,
// where net/http panics.
func TestWriteProblemWithoutAStatus(t *testing.T) {
	for _, status := range []int{0, -1, 99, 1000} {
		w := httptest.NewRecorder()
		httplimit.WriteProblem(w, httptest.NewRequest("GET", "/", nil), status, "Oops.")
		if w.Code != http.StatusInternalServerError || w.Body.String() != "Internal Server Error: Oops.\n" {
			t.Errorf("status %d: answered %d %q; want 500", status, w.Code, w.Body.String())
		}
	}
}
