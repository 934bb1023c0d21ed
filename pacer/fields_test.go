package pacer

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dunglas/httpsfv"
)

var now = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// header builds a header from "Name: value" lines, each added.
func header(lines ...string) http.Header {
	h := http.Header{}
	for _, l := range lines {
		name, value, _ := strings.Cut(l, ":")
		h.Add(name, strings.TrimLeft(value, " "))
	}
	return h
}

func (it limitItem) String() string {
	return fmt.Sprintf("%s r=%d wait=%v", it.name, it.remaining, it.delay)
}

func items(l limits) []string {
	var out []string
	for _, it := range l.all() {
		out = append(out, it.String())
	}
	return out
}

func TestReadLimits(t *testing.T) {
	tests := []struct {
		name   string
		status int
		h      http.Header
		want   []string
	}{
		{"no fields: no limit", 200, header("Content-Type: text/plain"), nil},
		{"draft -11: each policy of RateLimit", 200,
			header(`RateLimit: "per-ip";r=7;t=3, "per-tenant";r=900;t=3600`),
			[]string{"per-ip r=7 wait=3s", "per-tenant r=900 wait=1h0m0s"}},
		{"draft -11: a Token for a name, parameters in any order, other parameters ignored", 200,
			header(`RateLimit: basic;pk=:QXBwLTk5OQ==:;t=5;acme-x="y";r=2`),
			[]string{"basic r=2 wait=5s"}},
		{"draft -11: an escaped name", 200,
			header(`RateLimit: "a\"b\\c";r=1;t=1`),
			[]string{`a"b\c r=1 wait=1s`}},
		{"draft -11: the last of a repeated parameter wins", 200,
			header(`RateLimit: "p";r=9;t=1;r=0`),
			[]string{"p r=0 wait=1s"}},
		{"draft -11: without t, the window of RateLimit-Policy", 200,
			header(`RateLimit-Policy: "other";q=5;w=7, "p";q=10;w=60`, `RateLimit: "p";r=4`),
			[]string{"p r=4 wait=1m0s"}},
		{"draft -11: without t, the window of an escaped name", 200,
			header(`RateLimit-Policy: "a\"b";q=10;w=30, "ab";q=1;w=5`, `RateLimit: "a\"b";r=0`),
			[]string{`a"b r=0 wait=30s`}},
		{"draft -11: without t or a window, a second", 200,
			header(`RateLimit: "p";r=4`),
			[]string{"p r=4 wait=1s"}},
		{"draft -11: fields over several lines are one List", 200,
			header(`RateLimit: "a";r=1;t=1`, `RateLimit: "b";r=2;t=2`),
			[]string{"a r=1 wait=1s", "b r=2 wait=2s"}},
		{"draft -11: items without r, Inner Lists and non-String names are skipped", 200,
			header(`RateLimit: "a";t=1, ("x" "y");r=1, 5;r=1, "b";r=2;t=2, "c";r=1.5`),
			[]string{"b r=2 wait=2s"}},
		{"draft -11 preferred to the X- fields tollgate sends beside it", 200,
			header(`RateLimit: "per-ip";r=7;t=3`, "X-RateLimit-Remaining: 1", "X-RateLimit-Reset: 50"),
			[]string{"per-ip r=7 wait=3s"}},
		{"draft -07: the Dictionary", 200,
			header(`RateLimit: limit=100, remaining=50, reset=5`, `RateLimit-Policy: 100;w=60`),
			[]string{"RateLimit r=50 wait=5s"}},
		{"draft -06: three fields", 200,
			header("RateLimit-Limit: 10", "RateLimit-Remaining: 1", "RateLimit-Reset: 7"),
			[]string{"RateLimit r=1 wait=7s"}},
		{"draft -06: RateLimit-Remaining alone", 200,
			header("RateLimit-Remaining: 0"),
			[]string{"RateLimit r=0 wait=1s"}},
		{"X-RateLimit: delay seconds", 200,
			header("X-RateLimit-Limit: 60", "X-RateLimit-Remaining: 12", "X-RateLimit-Reset: 30"),
			[]string{"X-RateLimit r=12 wait=30s"}},
		{"X-RateLimit: a decimal delay", 200,
			header("X-RateLimit-Remaining: 0", "X-RateLimit-Reset: 1.5"),
			[]string{"X-RateLimit r=0 wait=1.5s"}},
		{"X-RateLimit: Unix seconds, against the server's Date", 200,
			header("X-RateLimit-Remaining: 0", fmt.Sprintf("X-RateLimit-Reset: %d", now.Add(-time.Hour+90*time.Second).Unix()),
				"Date: "+now.Add(-time.Hour).Format(http.TimeFormat)),
			[]string{"X-RateLimit r=0 wait=1m30s"}},
		{"X-RateLimit: Unix milliseconds", 200,
			header("X-RateLimit-Remaining: 0", fmt.Sprintf("X-RateLimit-Reset: %d", now.Add(2500*time.Millisecond).UnixMilli())),
			[]string{"X-RateLimit r=0 wait=2.5s"}},
		{"X-RateLimit: 999999999 is a delay, and the longest", 200,
			header("X-RateLimit-Remaining: 0", "X-RateLimit-Reset: 999999999"),
			[]string{"X-RateLimit r=0 wait=24h0m0s"}},
		{"X-RateLimit: a Unix time past is no wait", 200,
			header("X-RateLimit-Remaining: 0", "X-RateLimit-Reset: 1000000000"),
			[]string{"X-RateLimit r=0 wait=0s"}},
		{"X-Rate-Limit: the other spelling", 200,
			header("X-Rate-Limit-Remaining: 3", "X-Rate-Limit-Reset: 4"),
			[]string{"X-RateLimit r=3 wait=4s"}},
		{"X-RateLimit: without a reset, a second", 200,
			header("X-RateLimit-Remaining: 3"),
			[]string{"X-RateLimit r=3 wait=1s"}},
		{"Retry-After seconds on a 429", 429,
			header("Retry-After: 120"),
			[]string{"Retry-After r=0 wait=2m0s"}},
		{"Retry-After as an HTTP-date on a 503, against the server's Date", 503,
			header("Retry-After: "+now.Add(-50*time.Minute).Format(http.TimeFormat), "Date: "+now.Add(-time.Hour).Format(http.TimeFormat)),
			[]string{"Retry-After r=0 wait=10m0s"}},
		{"Retry-After as an RFC 850 date", 429,
			header("Retry-After: " + now.Add(time.Minute).Format(time.RFC850)),
			[]string{"Retry-After r=0 wait=1m0s"}},
		{"Retry-After beside the fields of a 429", 429,
			header(`RateLimit: "p";r=0;t=4`, "Retry-After: 4"),
			[]string{"p r=0 wait=4s", "Retry-After r=0 wait=4s"}},
		{"Retry-After on a 200 is not read", 200, header("Retry-After: 5"), nil},
		{"Retry-After on a 301 is not read", 301, header("Retry-After: 5"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := items(readLimits(tt.h, tt.status, now))
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// Hostile or broken fields never wait long, never wait negative, never
// keep much.
func TestReadLimitsOfHostileFields(t *testing.T) {
	many := make([]string, 5000)
	for i := range many {
		many[i] = fmt.Sprintf(`"p%d";r=%d;t=%d`, i, 5000-i, i%7)
	}
	tests := []struct {
		name   string
		status int
		h      http.Header
		want   []string
	}{
		{"a Retry-After a year away is a day", 429,
			header("Retry-After: 31536000"), []string{"Retry-After r=0 wait=24h0m0s"}},
		{"a Retry-After date a year away is a day", 429,
			header("Retry-After: " + now.AddDate(1, 0, 0).Format(http.TimeFormat)), []string{"Retry-After r=0 wait=24h0m0s"}},
		{"a Retry-After longer than an int64 is a day", 429,
			header("Retry-After: 99999999999999999999999999"), []string{"Retry-After r=0 wait=24h0m0s"}},
		{"a Retry-After in the past is no wait", 429,
			header("Retry-After: " + now.Add(-time.Hour).Format(http.TimeFormat)), []string{"Retry-After r=0 wait=0s"}},
		{"a negative Retry-After is not read", 429, header("Retry-After: -5"), nil},
		{"a Retry-After of garbage is not read", 429, header("Retry-After: soon"), nil},
		{"huge SF numbers are a day and plenty", 200,
			header(`RateLimit: "p";r=999999999999999;t=999999999999999`), []string{"p r=999999999999999 wait=24h0m0s"}},
		{"SF numbers of 16 digits make the field invalid", 200,
			header(`RateLimit: "p";r=1;t=1, "q";r=1;t=9999999999999999`), nil},
		{"negative r and t are nothing left, no wait", 200,
			header(`RateLimit: "p";r=-5;t=-3`), []string{"p r=0 wait=0s"}},
		{"a negative X-RateLimit-Remaining is nothing left", 200,
			header("X-RateLimit-Remaining: -1", "X-RateLimit-Reset: -9"), []string{"X-RateLimit r=0 wait=1s"}},
		{"a huge X-RateLimit-Remaining is plenty", 200,
			header("X-RateLimit-Remaining: 99999999999999999999999", "X-RateLimit-Reset: 1e400"),
			[]string{"X-RateLimit r=1125899906842624 wait=1s"}},
		{"an X-RateLimit-Reset of NaN or Inf is not read", 200,
			header("X-RateLimit-Remaining: 0", "X-RateLimit-Reset: NaN"), []string{"X-RateLimit r=0 wait=1s"}},
		{"an X-RateLimit-Reset in the year 300000 is a day", 200,
			header("X-RateLimit-Remaining: 0", "X-RateLimit-Reset: 9999999999999999"), []string{"X-RateLimit r=0 wait=24h0m0s"}},
		{"an invalid RateLimit is ignored whole", 200,
			header(`RateLimit: "p";r=0;t=9, "q";r=0;t=`), nil},
		{"a RateLimit with a trailing comma is ignored whole", 200,
			header(`RateLimit: "p";r=0;t=9,`), nil},
		{"a name longer than 128 bytes is skipped", 200,
			header(`RateLimit: "` + strings.Repeat("n", 129) + `";r=0;t=9, "ok";r=1;t=1`), []string{"ok r=1 wait=1s"}},
		{"of 5000 policies, the 64 most restrictive", 200,
			header("RateLimit: " + strings.Join(many, ", ")), nil}, // checked below
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readLimits(tt.h, tt.status, now)
			if tt.name == "of 5000 policies, the 64 most restrictive" {
				if got.n != maxItems {
					t.Fatalf("kept %d, want %d", got.n, maxItems)
				}
				for _, it := range got.all() {
					if it.remaining > maxItems {
						t.Errorf("kept %v, not among the %d with the least remaining", it, maxItems)
					}
				}
				return
			}
			if g := items(got); !slices.Equal(g, tt.want) {
				t.Errorf("got %q\nwant %q", g, tt.want)
			}
		})
	}
}

// Every field line of the draft's examples is read as the draft means it:
// each RateLimit item's r and t, each RateLimit-Policy a valid List. The
// lines are those core/httplimit checks what it sends against.
func TestDraftExamplesAreRead(t *testing.T) {
	f, err := os.Open("../core/httplimit/testdata/draft-ietf-httpapi-ratelimit-headers-11.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	lines := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		_, field, _ := strings.Cut(line, "\t")
		name, value, _ := strings.Cut(field, ":")
		value = strings.TrimSpace(value)
		lines++
		if !parseSFList(value, func(*sfMember) {}) {
			t.Errorf("%s: not read as a List", field)
			continue
		}
		if name != "RateLimit" {
			continue
		}
		list, err := httpsfv.UnmarshalList([]string{value})
		if err != nil {
			t.Fatalf("%s: httpsfv: %v", field, err)
		}
		var want []string
		for _, m := range list {
			it := m.(httpsfv.Item)
			r, _ := it.Params.Get("r")
			wait := defaultDelay
			if tv, ok := it.Params.Get("t"); ok {
				wait = time.Duration(tv.(int64)) * time.Second
			}
			want = append(want, limitItem{name: it.Value.(string), remaining: r.(int64), delay: wait}.String())
		}
		if got := items(readLimits(header("RateLimit: "+value), 200, now)); !slices.Equal(got, want) {
			t.Errorf("%s: read %q, want %q", field, got, want)
		}
	}
	if lines < 30 {
		t.Fatalf("read %d example lines, want the draft's 40", lines)
	}
}

// Reading a field costs the same memory whatever its number of members:
// none is kept but the most restrictive, and no name is made for the rest.
func TestReadingALongFieldCostsNoMemoryPerMember(t *testing.T) {
	field := func(n int) http.Header {
		members := make([]string, n)
		for i := range members {
			members[i] = fmt.Sprintf(`"p\\%d";r=%d;w=1`, i, 1000+i) // escaped names, no t: the policy's w is looked up
		}
		return header("RateLimit: "+strings.Join(members, ", "), "RateLimit-Policy: "+strings.Join(members, ", "))
	}
	short, long := field(100), field(10000)
	allocs := func(h http.Header) float64 {
		return testing.AllocsPerRun(20, func() { readLimits(h, 200, now) })
	}
	if a, b := allocs(short), allocs(long); b > a {
		t.Errorf("%v allocations for 100 members, %v for 10,000", a, b)
	}
}
