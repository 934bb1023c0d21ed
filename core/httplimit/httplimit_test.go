package httplimit_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
)

// unusedStore satisfies core.Store for construction tests, which never take.
type unusedStore struct{}

func (unusedStore) Take(context.Context, string, core.Limit, int64) (core.Decision, error) {
	return core.Decision{}, errors.New("unusedStore: not for taking")
}
func (unusedStore) Close() error { return nil }

func limiter(t *testing.T, l core.Limit, opts ...core.Option) *core.Limiter {
	t.Helper()
	lim, err := core.NewLimiter(unusedStore{}, l, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return lim
}

func anyKey(*http.Request) (string, error) { return "k", nil }

func TestAcceptsJSON(t *testing.T) {
	tests := []struct {
		accept []string
		want   bool
	}{
		{nil, false},
		{[]string{"*/*"}, false},
		{[]string{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, false},
		{[]string{"application/json"}, true},
		{[]string{"Application/JSON"}, true},
		{[]string{"application/problem+json"}, true},
		{[]string{"application/*+json"}, true},
		{[]string{"application/json;q=0"}, false},
		{[]string{"application/json;q=0.5, text/plain"}, false},
		{[]string{"text/plain;q=0.5, application/json"}, true},
		{[]string{"text/plain", "application/json"}, true}, // equal weight: JSON
		{[]string{"application/json;q=banana"}, false},
		{[]string{"application/json ; q=0.7 ; charset=utf-8"}, true},
		{[]string{",,;;==,"}, false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Accept"] = tt.accept
		if got := httplimit.AcceptsJSON(r); got != tt.want {
			t.Errorf("Accept %q: AcceptsJSON %v, want %v", tt.accept, got, tt.want)
		}
	}
}

func TestPolicyStatesTheLimitAsQuotaPerWholeSeconds(t *testing.T) {
	tests := []struct {
		limit core.Limit
		name  string
		want  string
	}{
		{core.PerMinute(100), "a", `"a";q=100;w=60`},
		{core.PerSecond(10).WithBurst(20), "a", `"a";q=10;w=1`},
		{core.PerHour(5000), "a", `"a";q=5000;w=3600`},
		{core.Limit{Rate: 10, Period: 100 * time.Millisecond}, "a", `"a";q=100;w=1`},
		{core.Limit{Rate: 2, Period: 1500 * time.Millisecond}, "a", `"a";q=2;w=2`},
		{core.Limit{Rate: 1, Period: 2500 * time.Millisecond}, "a", `"a";q=1;w=3`},
		{core.Limit{Rate: 300, Period: 5 * time.Minute, Algorithm: core.FixedWindow}, "five", `"five";q=300;w=300`},
	}
	for _, tt := range tests {
		l := limiter(t, tt.limit, core.WithName(tt.name))
		g, err := httplimit.New(l, httplimit.WithKeyFunc(anyKey))
		if err != nil {
			t.Fatal(err)
		}
		if got := httplimit.PolicyField(g); got != tt.want {
			t.Errorf("%v: RateLimit-Policy %q, want %q", tt.limit, got, tt.want)
		}
	}
}

func TestNewRefusesWhatCannotWork(t *testing.T) {
	a := limiter(t, core.PerSecond(1), core.WithName("a"))
	a2 := limiter(t, core.PerMinute(1), core.WithName("a"))
	many := make([]httplimit.Option, 0, httplimit.MaxLimits+1)
	many = append(many, httplimit.WithKeyFunc(anyKey))
	for i := 0; i < httplimit.MaxLimits; i++ {
		many = append(many, httplimit.WithLimit(limiter(t, core.PerSecond(1), core.WithName(string(rune('b'+i)))), nil))
	}
	tests := []struct {
		name string
		l    *core.Limiter
		opts []httplimit.Option
		want string
	}{
		{"nil limiter", nil, nil, "nil limiter"},
		{"no key func", a, nil, "no key func"},
		{"nil key func", a, []httplimit.Option{httplimit.WithKeyFunc(nil)}, "WithKeyFunc"},
		{"two limits with one name", a, []httplimit.Option{httplimit.WithKeyFunc(anyKey), httplimit.WithLimit(a2, nil)}, `two limits named "a"`},
		{"too many limits", a, many, "more than 8"},
		{"nil extra limiter", a, []httplimit.Option{httplimit.WithKeyFunc(anyKey), httplimit.WithLimit(nil, nil)}, "WithLimit"},
		{"deny status 200", a, []httplimit.Option{httplimit.WithKeyFunc(anyKey), httplimit.WithDenyStatus(200)}, "WithDenyStatus(200)"},
		{"unknown header family", a, []httplimit.Option{httplimit.WithKeyFunc(anyKey), httplimit.WithHeaders(8)}, "WithHeaders(8)"},
		{"nil skip", a, []httplimit.Option{httplimit.WithKeyFunc(anyKey), httplimit.WithSkip(nil)}, "WithSkip"},
		{"nil deny handler", a, []httplimit.Option{httplimit.WithKeyFunc(anyKey), httplimit.WithDenyHandler(nil)}, "WithDenyHandler"},
		{"nil error handler", a, []httplimit.Option{httplimit.WithKeyFunc(anyKey), httplimit.WithErrorHandler(nil)}, "WithErrorHandler"},
		{"nil clock", a, []httplimit.Option{httplimit.WithKeyFunc(anyKey), httplimit.WithClock(nil)}, "WithClock"},
		{"nil option", a, []httplimit.Option{nil}, "nil option"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := httplimit.New(tt.l, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestAnEmptyKeyIsRefusedNotShared(t *testing.T) {
	g, err := httplimit.New(limiter(t, core.PerSecond(1)), httplimit.WithKeyFunc(func(*http.Request) (string, error) { return "", nil }))
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	if got := g.Serve(w, httptest.NewRequest("GET", "/", nil), ""); got != httplimit.Failed || w.Code != 400 {
		t.Errorf("empty key: outcome %v status %d, want failed and 400", got, w.Code)
	}
}

func TestOutcomeNames(t *testing.T) {
	for o, want := range map[httplimit.Outcome]string{httplimit.Proceed: "proceed", httplimit.Denied: "denied", httplimit.Failed: "failed", 9: "outcome(?)"} {
		if o.String() != want {
			t.Errorf("Outcome(%d).String() = %q, want %q", o, o.String(), want)
		}
	}
}

// TestQuotaWindowAndRetrySeconds: the exported forms give what the fields
// send (package grpclimit sends the same values in gRPC metadata).
func TestQuotaWindowAndRetrySeconds(t *testing.T) {
	for _, c := range []struct {
		limit core.Limit
		q, w  int64
	}{
		{core.PerMinute(100), 100, 60},
		{core.PerSecond(10), 10, 1},
		{core.PerHour(5), 5, 3600},
		{core.Limit{Rate: 10, Period: 100 * time.Millisecond}, 100, 1},
		{core.Limit{Rate: 1, Period: 1500 * time.Millisecond}, 1, 2},
	} {
		if q, w := httplimit.QuotaWindow(c.limit); q != c.q || w != c.w {
			t.Errorf("QuotaWindow(%v) = %d, %d; want %d, %d", c.limit, q, w, c.q, c.w)
		}
	}
	for _, c := range []struct {
		d      time.Duration
		window int64
		want   int64
	}{
		{20 * time.Second, 60, 20},
		{17500 * time.Millisecond, 60, 18},
		{time.Millisecond, 60, 1},
		{0, 60, 1},
		{core.Never, 60, 60},
	} {
		if got := httplimit.RetrySeconds(c.d, c.window); got != c.want {
			t.Errorf("RetrySeconds(%v, %d) = %d, want %d", c.d, c.window, got, c.want)
		}
	}
}
