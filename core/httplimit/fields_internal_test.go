package httplimit

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
)

func oneRuleGate() (*Gate, *decided) {
	g := &Gate{config: config{headers: HeadersAll, clock: core.SystemClock}, rules: []rule{{fields: fields{quota: "100", window: 60}, id: `"per-ip"`}}, policy: []string{`"per-ip";q=100;w=60`}}
	st := &decided{n: 1}
	st.entries[0] = entry{allowed: true, remaining: 99, resetAfter: 600 * time.Millisecond}
	return g, st
}

func TestWriteFieldsAllocatesOnce(t *testing.T) {
	g, st := oneRuleGate()
	h := http.Header{}
	n := testing.AllocsPerRun(100, func() {
		clear(h)
		g.writeFields(h, st)
	})
	if n != 1 {
		t.Errorf("writeFields: %v allocations, want 1", n)
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
		g.rules = append(g.rules, rule{fields: fields{quota: "1000000", window: 3600}, id: name})
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

func BenchmarkWriteFields(b *testing.B) {
	g, st := oneRuleGate()
	h := http.Header{}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		clear(h)
		g.writeFields(h, st)
	}
}
