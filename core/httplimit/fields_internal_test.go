package httplimit

import (
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
)

func oneRuleGate() (*Gate, *decided) {
	g := &Gate{config: config{headers: HeadersAll, clock: core.SystemClock}, rules: []rule{{fields: fieldsOf(core.PerMinute(100)), id: `"per-ip"`}}, policy: []string{`"per-ip";q=100;w=60`}}
	st := &decided{n: 1}
	st.entries[0] = entry{allowed: true, remaining: 99, resetAfter: 600 * time.Millisecond}
	return g, st
}

func TestWriteFieldsAllocatesAtMostOnce(t *testing.T) {
	g, st := oneRuleGate()
	h := http.Header{}
	n := testing.AllocsPerRun(100, func() {
		clear(h)
		g.writeFields(h, st)
	})
	if n > 1 {
		t.Errorf("writeFields: %v allocations, want 1 at most", n)
	}
	want := map[string]string{hLimit: "100", hRemaining: "99", hReset: "1", hPolicy: `"per-ip";q=100;w=60`, hRateLimit: `"per-ip";r=99;t=1`}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
}

// TestWriteFieldsSpillsLongListsSafely fills the arena past its buffer: the
// values made before the spill must stay intact.
func TestWriteFieldsSpillsLongListsSafely(t *testing.T) {
	g := &Gate{config: config{headers: HeadersAll, clock: core.SystemClock}}
	st := &decided{}
	var wantRL []string
	for i := 0; i < MaxLimits; i++ {
		name := `"a-rather-long-policy-name-` + string(rune('a'+i)) + `"`
		g.rules = append(g.rules, rule{fields: fieldsOf(core.PerHour(1000000)), id: name})
		st.add(i, false, core.Decision{Allowed: true, Remaining: 999999 - int64(i), ResetAfter: time.Hour})
		wantRL = append(wantRL, name+";r="+strconv.Itoa(999999-i)+";t=3600")
	}
	g.policy = []string{"p"}
	h := http.Header{}
	g.writeFields(h, st)
	want := map[string]string{hLimit: "1000000", hRemaining: "999992", hReset: "3600", hPolicy: "p", hRateLimit: strings.Join(wantRL, ", ")}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
}

// BenchmarkWriteAdmitted writes an admission's fields whose numbers were
// sent just before (from admittedCache), and ones never sent before (a
// remaining counting down from 1e12, as under a fixed window: every
// response makes its values).
func BenchmarkWriteAdmitted(b *testing.B) {
	g, _ := oneRuleGate()
	fs, id := &g.rules[0].fields, g.rules[0].id
	h := http.Header{}
	b.Run("numbers-sent-before", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			clear(h)
			g.writeAdmitted(h, fs, id, g.policy, 99, 600*time.Millisecond)
		}
	})
	b.Run("numbers-never-sent", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			clear(h)
			g.writeAdmitted(h, fs, id, g.policy, 1e12-int64(i), 600*time.Millisecond)
		}
	})
}

func BenchmarkWriteFields(b *testing.B) {
	g, st := oneRuleGate()
	h := http.Header{}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		clear(h)
		g.writeFields(h, st)
	}
}

// TestWriteAdmittedFields checks the fields of an admission, written by
// writeAdmitted, in every header family, with either form of
// X-RateLimit-Reset, long and short policy ids and large and small numbers:
// each value exact, no other field set, and one allocation at most for a
// short id and a remaining of a few digits (two at most otherwise).
func TestWriteAdmittedFields(t *testing.T) {
	clock := core.NewManualClock(time.Unix(1_700_000_000, 250_000_000))
	for _, headers := range []Headers{HeadersX, HeadersIETF, HeadersAll} {
		for _, resetUnix := range []bool{false, true} {
			for _, id := range []string{`"per-ip"`, `"` + strings.Repeat("n", 30) + `"`, `"` + strings.Repeat("n", 200) + `"`} {
				for _, d := range []core.Decision{
					{Remaining: 0, ResetAfter: 0},
					{Remaining: 99, ResetAfter: 600 * time.Millisecond},
					{Remaining: 1<<62 + 7, ResetAfter: 90*time.Second + 1},
				} {
					g := &Gate{config: config{headers: headers, resetUnix: resetUnix, clock: clock}, policy: []string{"the-policy"}}
					fs := fieldsOf(core.PerMinute(100))
					want := http.Header{}
					if headers&HeadersX != 0 {
						reset := ceilSeconds(d.ResetAfter)
						if resetUnix {
							reset = unixCeil(clock.Now().UnixNano(), d.ResetAfter)
						}
						want[hLimit] = []string{"100"}
						want[hRemaining] = []string{strconv.FormatInt(d.Remaining, 10)}
						want[hReset] = []string{strconv.FormatInt(reset, 10)}
					}
					if headers&HeadersIETF != 0 {
						want[hPolicy] = []string{"the-policy"}
						want[hRateLimit] = []string{id + ";r=" + strconv.FormatInt(d.Remaining, 10) + ";t=" + strconv.FormatInt(ceilSeconds(d.ResetAfter), 10)}
					}
					h := http.Header{}
					allocs := testing.AllocsPerRun(10, func() {
						clear(h)
						g.writeAdmitted(h, &fs, id, g.policy, d.Remaining, d.ResetAfter)
					})
					name := fmt.Sprintf("headers %d, reset unix %v, id of %d bytes, remaining %d, reset after %v", headers, resetUnix, len(id), d.Remaining, d.ResetAfter)
					if !reflect.DeepEqual(h, want) {
						t.Errorf("%s: fields\n%v, want\n%v", name, h, want)
					}
					switch {
					case len(id) < 40 && d.Remaining < 1e6 && allocs > 1:
						t.Errorf("%s: %v allocations, want 1 at most", name, allocs)
					case allocs > 2:
						t.Errorf("%s: %v allocations, want 2 at most", name, allocs)
					}
				}
			}
		}
	}
}

// TestWriteAdmittedValuesStayIntact checks that a response's values are
// its own: writing the next response's fields leaves them as they were.
func TestWriteAdmittedValuesStayIntact(t *testing.T) {
	g, _ := oneRuleGate()
	fs := &g.rules[0].fields
	h1, h2 := http.Header{}, http.Header{}
	g.writeAdmitted(h1, fs, g.rules[0].id, g.policy, 41, 3*time.Second)
	g.writeAdmitted(h2, fs, g.rules[0].id, g.policy, 7, 9*time.Second)
	h1.Add(hLimit, "appended") // must copy the shared value, not write into it
	if got := h2.Get(hLimit); got != "100" || len(h2[hLimit]) != 1 {
		t.Errorf("second response's X-RateLimit-Limit %q after an Add to the first's", h2[hLimit])
	}
	for k, v := range map[string]string{hRemaining: "41", hReset: "3", hRateLimit: `"per-ip";r=41;t=3`} {
		if got := h1.Get(k); got != v {
			t.Errorf("first response's %s: %q, want %q", k, got, v)
		}
	}
	for k, v := range map[string]string{hRemaining: "7", hReset: "9", hRateLimit: `"per-ip";r=7;t=9`} {
		if got := h2.Get(k); got != v {
			t.Errorf("second response's %s: %q, want %q", k, got, v)
		}
	}
}

// An admission whose numbers were sent lately shares their values: two
// admissions in a row with the same numbers get the same entry (within a
// few tries: a test running alongside may replace it in between).
func TestAdmittedValuesAreShared(t *testing.T) {
	id := `"per-ip"`
	for try := 0; ; try++ {
		e1 := admittedValues(id, 41, 3)
		e2 := admittedValues(id, 41, 3)
		if e1 == e2 {
			if want := [3]string{`"per-ip";r=41;t=3`, "41", "3"}; e1.vals != want {
				t.Errorf("values %q, want %q", e1.vals, want)
			}
			return
		}
		if try == 10 {
			t.Fatal("ten pairs of the same admission did not share their values")
		}
	}
}

// Responses written at once, from many goroutines, by several gates whose
// numbers collide in admittedCache, each carry their own numbers.
func TestAdmittedValuesUnderContention(t *testing.T) {
	ids := []string{`"a"`, `"bb"`, `"per-ip"`, `"` + strings.Repeat("x", 50) + `"`}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := http.Header{}
			for i := 0; i < 20000; i++ {
				id := ids[(w+i)%len(ids)]
				remaining, reset := int64(i%5000), int64(i%7)
				g := &Gate{config: config{headers: HeadersAll}, policy: []string{"p"}}
				fs := fieldsOf(core.PerMinute(100))
				clear(h)
				g.writeAdmitted(h, &fs, id, g.policy, remaining, time.Duration(reset)*time.Second)
				r, x := strconv.FormatInt(remaining, 10), strconv.FormatInt(reset, 10)
				if got, want := h.Get(hRateLimit), id+";r="+r+";t="+x; got != want {
					t.Errorf("RateLimit %q, want %q", got, want)
					return
				}
				if h.Get(hRemaining) != r || h.Get(hReset) != x {
					t.Errorf("X- fields %q, %q, want %q, %q", h.Get(hRemaining), h.Get(hReset), r, x)
					return
				}
			}
		}()
	}
	wg.Wait()
}
