package httplimit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
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
