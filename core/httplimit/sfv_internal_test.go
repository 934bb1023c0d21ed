package httplimit

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dunglas/httpsfv"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// The fields are checked with github.com/dunglas/httpsfv, an RFC 9651
// parser that is not ours (a test-only requirement of the root module), against
// the pinned revision, draft-ietf-httpapi-ratelimit-headers-11.

// checkField parses the value of a RateLimit-Policy or RateLimit field as
// an RFC 9651 List and checks each member against the draft's definition
// (sections 3.1 and 4.1): an Item whose value is a String, with the draft's
// parameters of the draft's types. Other parameters are allowed: the draft
// regards them as comments.
func checkField(name, value string) (httpsfv.List, error) {
	l, err := httpsfv.UnmarshalList([]string{value})
	if err != nil {
		return nil, fmt.Errorf("%s: %q is not a Structured Fields List: %w", name, value, err)
	}
	if len(l) == 0 {
		return nil, fmt.Errorf("%s: %q is an empty List", name, value)
	}
	required := "q" // RateLimit-Policy: quota (3.1.1)
	if http.CanonicalHeaderKey(name) == hRateLimit {
		required = "r" // RateLimit: available quota (4.1.1)
	}
	for i, m := range l {
		it, ok := m.(httpsfv.Item)
		if !ok {
			return nil, fmt.Errorf("%s: %q: member %d is an Inner List, not an Item", name, value, i)
		}
		if _, ok := it.Value.(string); !ok {
			return nil, fmt.Errorf("%s: %q: member %d is a %T, not a String", name, value, i, it.Value)
		}
		if _, ok := it.Params.Get(required); !ok {
			return nil, fmt.Errorf("%s: %q: member %d lacks the required %q", name, value, i, required)
		}
		for _, k := range it.Params.Names() {
			v, _ := it.Params.Get(k)
			var bad bool
			switch k {
			case "q", "r", "t": // non-negative Integers
				n, ok := v.(int64)
				bad = !ok || n < 0
			case "w": // a non-negative, non-zero Integer in RateLimit-Policy (3.1.3)
				n, ok := v.(int64)
				bad = !ok || n < 1
			case "qu": // a String (3.1.2)
				_, ok := v.(string)
				bad = !ok
			case "pk": // a Byte Sequence (3.1.4, 4.1.3)
				_, ok := v.([]byte)
				bad = !ok
			}
			if bad {
				return nil, fmt.Errorf("%s: %q: member %d: %s=%v (%T) is not of the draft's type", name, value, i, k, v, v)
			}
		}
	}
	return l, nil
}

func nonNegative(v any) bool { n, ok := v.(int64); return ok && n >= 0 }

func canonical(t *testing.T, l httpsfv.List) string {
	t.Helper()
	s, err := httpsfv.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// example is how tollgate produces one of the draft's example fields: the
// limits of a Gate, and the decisions a request got from them.
type example struct {
	limits    []named
	decisions []core.Decision // one per limit; none for a RateLimit-Policy example
	// others: tollgate's RateLimit lists every limit it decided, where the
	// draft's server left one out (B.1.2 says it MAY). Only the example's
	// members are compared.
	others bool
}

type named struct {
	name  string
	limit core.Limit
}

func one(name string, l core.Limit) []named { return []named{{name, l}} }

func allowed(remaining int64, reset time.Duration) core.Decision {
	return core.Decision{Allowed: true, Remaining: remaining, ResetAfter: reset}
}

func denied(remaining int64, retry time.Duration) core.Decision {
	return core.Decision{Remaining: remaining, RetryAfter: retry, ResetAfter: retry}
}

const (
	day      = 24 * time.Hour
	noPK     = "tollgate sends no partition key (pk): a key is a client address or a header such as an API key, which fields must not echo"
	noBurst  = "burst is no parameter of -11 (an unprefixed vendor parameter): tollgate sends the burst nowhere"
	noQInRL  = "q in RateLimit is no parameter of -11's RateLimit (a comment at most): tollgate sends q in RateLimit-Policy only"
	counterX = "the draft's counter-example (8.5): a service should not send it, and tollgate counts the request it answers, so r=q needs a burst over the quota, whose t is then not 10"
)

// examples classifies every field line of the testdata file: how tollgate
// produces it, or why it cannot.
var examples = map[string]example{
	`3	RateLimit-Policy: "burst";q=100;w=60,"daily";q=1000;w=86400`:      {limits: []named{{"burst", core.PerMinute(100)}, {"daily", core.Limit{Rate: 1000, Period: day}}}},
	`3.2	RateLimit-Policy: "default";q=100;w=10`:                         {limits: one("default", core.Limit{Rate: 100, Period: 10 * time.Second})},
	`3.2	RateLimit-Policy: "permin";q=50;w=60,"perhr";q=1000;w=3600`:     {limits: []named{{"permin", core.PerMinute(50)}, {"perhr", core.PerHour(1000)}}},
	`4	RateLimit: "default";r=50;t=30`:                                   {limits: one("default", core.PerMinute(100)), decisions: []core.Decision{allowed(50, 30*time.Second)}},
	`4.2	RateLimit: "default";r=50;t=30`:                                 {limits: one("default", core.PerMinute(100)), decisions: []core.Decision{allowed(50, 30*time.Second)}},
	`6	RateLimit: "problemPolicy";r=0;t=10`:                              {limits: one("problemPolicy", core.PerMinute(6)), decisions: []core.Decision{allowed(0, 10*time.Second)}},
	`7	RateLimit: "default";r=1;t=7`:                                     {limits: one("default", core.PerMinute(10)), decisions: []core.Decision{allowed(1, 6500*time.Millisecond)}},
	`8.5	RateLimit: "daily";r=1;t=86400`:                                 {limits: one("daily", core.Limit{Rate: 2, Period: day, Algorithm: core.FixedWindow}), decisions: []core.Decision{allowed(1, day)}},
	`8.5	RateLimit-Policy: "somepolicy";q=10000;w=1000`:                  {limits: one("somepolicy", core.Limit{Rate: 10000, Period: 1000 * time.Second})},
	`B.1.1	RateLimit: "default";r=0;t=50`:                                {limits: one("default", core.PerMinute(100)), decisions: []core.Decision{allowed(0, 50*time.Second)}},
	`B.1.1	RateLimit: "default";r=0;t=48`:                                {limits: one("default", core.PerMinute(100)), decisions: []core.Decision{allowed(0, 48*time.Second)}},
	`B.1.2	RateLimit: "dayLimit";r=100;t=36000`:                          {limits: one("dayLimit", core.Limit{Rate: 5000, Period: day}), decisions: []core.Decision{allowed(100, 10*time.Hour)}},
	`B.1.3	RateLimit-Policy: "basic";q=100;w=60`:                         {limits: one("basic", core.PerMinute(100))},
	`B.1.3	RateLimit: "basic";r=60;t=58`:                                 {limits: one("basic", core.PerMinute(100)), decisions: []core.Decision{allowed(60, 58*time.Second)}},
	`B.1.3	RateLimit: "basic";r=20;t=56`:                                 {limits: one("basic", core.PerMinute(100)), decisions: []core.Decision{allowed(20, 56*time.Second)}},
	`B.1.4	RateLimit: "default";r=0;t=5`:                                 {limits: one("default", core.PerMinute(12)), decisions: []core.Decision{denied(0, 5*time.Second)}},
	`B.2.1	RateLimit: "fixedwindow";r=99;t=50`:                           {limits: one("fixedwindow", core.Limit{Rate: 100, Period: time.Minute, Algorithm: core.FixedWindow}), decisions: []core.Decision{allowed(99, 50*time.Second)}},
	`B.2.1	RateLimit-Policy: "fixedwindow";q=100;w=60`:                   {limits: one("fixedwindow", core.Limit{Rate: 100, Period: time.Minute, Algorithm: core.FixedWindow})},
	`B.2.2	RateLimit-Policy: "dynamic";q=100;w=60`:                       {limits: one("dynamic", core.PerMinute(100))},
	`B.2.2	RateLimit: "dynamic";r=9;t=50`:                                {limits: one("dynamic", core.PerMinute(100)), decisions: []core.Decision{allowed(9, 50*time.Second)}},
	`B.2.3	RateLimit-Policy: "dynamic";q=15;w=20`:                        {limits: one("dynamic", core.Limit{Rate: 15, Period: 20 * time.Second})},
	`B.2.3	RateLimit: "dynamic";r=0;t=20`:                                {limits: one("dynamic", core.Limit{Rate: 15, Period: 20 * time.Second}), decisions: []core.Decision{denied(0, 20*time.Second)}},
	`B.3	RateLimit-Policy: "dynamic";q=100;w=60`:                         {limits: one("dynamic", core.PerMinute(100))},
	`B.3.1	RateLimit-Policy: "hour";q=1000;w=3600, "day";q=5000;w=86400`: {limits: []named{{"hour", core.PerHour(1000)}, {"day", core.Limit{Rate: 5000, Period: day}}}},
	`B.3.1	RateLimit: "day";r=100;t=36000`: {limits: []named{{"hour", core.PerHour(1000)}, {"day", core.Limit{Rate: 5000, Period: day}}},
		decisions: []core.Decision{allowed(900, 6*time.Minute), allowed(100, 10*time.Hour)}, others: true},
	`FAQ 8	RateLimit:"default";r=50;t=60`:                         {limits: one("default", core.PerMinute(100)), decisions: []core.Decision{allowed(50, time.Minute)}},
	`FAQ 8	RateLimit: "sliding";r=50;t=44`:                        {limits: one("sliding", core.PerMinute(100)), decisions: []core.Decision{allowed(50, 44*time.Second)}},
	`Fields used on the web	RateLimit-Policy: "sliding";q=12;w=1`: {limits: one("sliding", core.PerSecond(12))},
}

// notProduced are the example lines tollgate cannot send, and why.
var notProduced = map[string]string{
	`3.2	RateLimit-Policy: "peruser";q=100;w=60;pk=:cHsdsRa894==:`:                      noPK,
	`3.2	RateLimit-Policy: "peruser";q=65535;qu="content-bytes";w=10;pk=:sdfjLJUOUH==:`: noPK + "; and its limits count requests (qu's default), not content bytes",
	`4.2	RateLimit: "default";r=999;pk=:dHJpYWwxMjEzMjM=:`:                              noPK + "; and every limit has a window, so t is always sent",
	`4.2	RateLimit: "default";r=300000000;t=60;pk=:QXBwLTk5OQ==:`:                       noPK,
	`8.5	RateLimit: "somepolicy";r=10000;t=10`:                                          counterX,
	`B.3	RateLimit: "dynamic";r=15;t=40`:                                                "on a denial tollgate's t is the wait, equal to Retry-After (t=20 here), where this server keeps t=40 beside Retry-After: 20",
	`FAQ 8	RateLimit-Policy: "sliding";q=100;w=60;burst=1000`:                           noBurst,
	`FAQ 8	RateLimit-Policy: "fixed";q=5000;w=3600;burst=0`:                             noBurst,
	`Fields used on the web	RateLimit: "sliding";q=12;r=6;t=1`:                          noQInRL,
	`Fields used on the web	RateLimit: "sliding";q=12;r=1;t=1`:                          noQInRL,
}

type noStore struct{}

func (noStore) Take(context.Context, string, core.Limit, int64) (core.Decision, error) {
	return core.Decision{}, fmt.Errorf("noStore: not for taking")
}
func (noStore) Close() error { return nil }

// gateOf returns a Gate over the example's limits.
func gateOf(t *testing.T, ex example) *Gate {
	t.Helper()
	var ls []*core.Limiter
	for _, n := range ex.limits {
		l, err := core.NewLimiter(noStore{}, n.limit, core.WithName(n.name))
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	g, err := NewGroup(ls)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestDraftExamples holds tollgate to every example field of the pinned
// revision: each parses as the draft defines it, and for each tollgate can
// produce, the field it writes for the same decision is the same List (and
// the same bytes where the draft prints the canonical form).
func TestDraftExamples(t *testing.T) {
	f, err := os.Open("testdata/draft-ietf-httpapi-ratelimit-headers-11.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines, compared := 0, 0
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		lines++
		seen[line] = true
		section, field, ok := strings.Cut(line, "\t")
		name, value, ok2 := strings.Cut(field, ":")
		if !ok || !ok2 {
			t.Fatalf("testdata line %q: want section, a tab, and a field line", line)
		}
		value = strings.TrimSpace(value)
		want, err := checkField(name, value)
		if err != nil {
			t.Errorf("%s: the draft's own example: %v", section, err)
			continue
		}
		ex, produced := examples[line]
		why, skipped := notProduced[line]
		switch {
		case produced && skipped:
			t.Errorf("%s: %q is classified twice", section, field)
			continue
		case !produced && !skipped:
			t.Errorf("%s: %q is not classified: say how tollgate produces it (examples), or why it cannot (notProduced)", section, field)
			continue
		case skipped:
			t.Logf("%s: %s: not produced: %s", section, field, why)
			continue
		}
		g := gateOf(t, ex)
		h := http.Header{}
		canon := http.CanonicalHeaderKey(name)
		if canon == hRateLimit {
			st := &decided{}
			for i, d := range ex.decisions {
				st.add(i, false, d)
			}
			g.writeFields(h, st)
			// A denial's Retry-After is the moment t names (B.1.4: "the values
			// of Retry-After and RateLimit header field reference the same
			// moment"; section 6: never earlier than the effective window).
			if !st.closest().allowed {
				tt, _ := want[0].(httpsfv.Item).Params.Get("t")
				if ra := h.Get(hRetryAfter); ra != fmt.Sprint(tt) {
					t.Errorf("%s: Retry-After %q, want t's %v", section, ra, tt)
				}
			}
		} else {
			h[hPolicy] = g.policy
		}
		got := h.Get(canon)
		gotList, err := checkField(name, got)
		if err != nil {
			t.Errorf("%s: tollgate wrote %v", section, err)
			continue
		}
		if ex.others {
			gotList = slices.DeleteFunc(gotList, func(m httpsfv.Member) bool {
				return !slices.ContainsFunc(want, func(w httpsfv.Member) bool { return w.(httpsfv.Item).Value == m.(httpsfv.Item).Value })
			})
		}
		if c, w := canonical(t, gotList), canonical(t, want); c != w {
			t.Errorf("%s: for %q tollgate writes %s: %q (as a List %s, want %s)", section, value, canon, got, c, w)
		} else if w == value && !ex.others && got != value {
			t.Errorf("%s: tollgate writes %q, not the draft's canonical %q", section, got, value)
		}
		compared++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for line := range examples {
		if !seen[line] {
			t.Errorf("classified but not in testdata: %q", line)
		}
	}
	for line := range notProduced {
		if !seen[line] {
			t.Errorf("classified but not in testdata: %q", line)
		}
	}
	t.Logf("%d example fields parsed, %d compared with tollgate's", lines, compared)
}

// TestDenialIsTheDraftsQuotaExceededProblem compares the default JSON denial
// with the draft's quota-exceeded problem (section 5.1; registered with the
// title "Quota Exceeded", section 10.2.1).
func TestDenialIsTheDraftsQuotaExceededProblem(t *testing.T) {
	raw, err := os.ReadFile("testdata/quota-exceeded-11.json")
	if err != nil {
		t.Fatal(err)
	}
	var draft map[string]any
	if err := json.Unmarshal(raw, &draft); err != nil {
		t.Fatal(err)
	}
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		g := gateOf(t, example{limits: one("daily", core.Limit{Rate: 1000, Period: day})})
		g.status = status
		w := httptest.NewRecorder()
		w.Header().Set(hRetryAfter, "20")
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept", "application/problem+json")
		g.defaultDeny(w, r, core.Decision{Name: "daily", RetryAfter: 20 * time.Second})
		var got map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatalf("%d: body %q: %v", status, w.Body, err)
		}
		if got["type"] != draft["type"] {
			t.Errorf("%d: type %v, want the draft's %v", status, got["type"], draft["type"])
		}
		if got["title"] != "Quota Exceeded" {
			t.Errorf("%d: title %v, want the registered \"Quota Exceeded\", the same at every status", status, got["title"])
		}
		if got["status"] != float64(status) {
			t.Errorf("status member %v, want %d", got["status"], status)
		}
		vp, ok := got["violated-policies"].([]any)
		if _, draftOK := draft["violated-policies"].([]any); !draftOK || !ok || len(vp) != 1 || vp[0] != "daily" {
			t.Errorf("%d: violated-policies %v, want an array of strings naming the denying policy, [daily]", status, got["violated-policies"])
		}
	}
}

// TestEveryFieldParses sends requests through a Gate behind a real server,
// under limits of every shape tollgate states (odd names, several limits,
// sub-second and long periods, a denial under each), and parses every
// rate-limit field of every answer.
func TestEveryFieldParses(t *testing.T) {
	clock := core.NewManualClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	store, err := memstore.New(memstore.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	lim := func(name string, l core.Limit) *core.Limiter {
		x, err := core.NewLimiter(store, l, core.WithName(name))
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	key := func(*http.Request) (string, error) { return "client", nil }
	sets := [][]*core.Limiter{
		{lim("per-ip", core.PerMinute(3))},
		{lim(`a name: with spaces, commas; and 'quotes' =:~|`, core.Limit{Rate: 2, Period: 1500 * time.Millisecond, Algorithm: core.FixedWindow})},
		{lim("fast", core.Limit{Rate: 10, Period: 100 * time.Millisecond, Algorithm: core.SlidingWindowLog}), lim("slow", core.PerHour(5).WithBurst(2))},
		{lim("a", core.PerSecond(1)), lim("b", core.PerMinute(2)), lim("c", core.Limit{Rate: 100, Period: 30 * day, Algorithm: core.TokenBucket})},
	}
	for i, ls := range sets {
		opts := []Option{WithKeyFunc(key)}
		for _, l := range ls[1:] {
			opts = append(opts, WithLimit(l, nil))
		}
		g, err := New(ls[0], opts...)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if g.Serve(w, r, "") == Proceed {
				_, _ = w.Write([]byte("ok\n"))
			}
		}))
		statuses := map[int]int{}
		for n := 0; n < 6; n++ {
			res, err := srv.Client().Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			statuses[res.StatusCode]++
			policy, err := checkField(hPolicy, strings.Join(res.Header.Values(hPolicy), ", "))
			if err != nil {
				t.Errorf("set %d, request %d: %v", i, n, err)
				continue
			}
			rl, err := checkField(hRateLimit, strings.Join(res.Header.Values(hRateLimit), ", "))
			if err != nil {
				t.Errorf("set %d, request %d: %v", i, n, err)
				continue
			}
			if len(policy) != len(ls) || len(rl) != len(ls) {
				t.Errorf("set %d, request %d: %d policies and %d service limits for %d limits", i, n, len(policy), len(rl), len(ls))
			}
			for j := range rl {
				if p, s := policy[j].(httpsfv.Item).Value, rl[j].(httpsfv.Item).Value; p != ls[j].Name() || s != ls[j].Name() {
					t.Errorf("set %d, request %d: member %d names %q and %q, want %q", i, n, j, p, s, ls[j].Name())
				}
			}
			for _, k := range []string{hLimit, hRemaining, hReset, hRetryAfter} {
				if v := res.Header.Get(k); v != "" {
					if it, err := httpsfv.UnmarshalItem([]string{v}); err != nil || !nonNegative(it.Value) {
						t.Errorf("set %d, request %d: %s %q is not a non-negative Integer (%v)", i, n, k, v, err)
					}
				}
			}
			if res.StatusCode == http.StatusTooManyRequests && res.Header.Get(hRetryAfter) == "" {
				t.Errorf("set %d, request %d: a denial without Retry-After", i, n)
			}
		}
		srv.Close()
		if statuses[http.StatusTooManyRequests] == 0 || statuses[http.StatusOK] == 0 {
			t.Errorf("set %d: statuses %v, want both admissions and denials parsed", i, statuses)
		}
	}
}
