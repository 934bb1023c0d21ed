package pacer

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dunglas/httpsfv"
)

// FuzzParseFields reads any rate-limit fields: readLimits never panics,
// keeps at most maxItems limits, none with a delay outside [0, 24h] or a
// remaining outside [0, 2^50]; a host fed the answer keeps at most its
// maximum of policies and never says to wait past 24h. RateLimit is a
// valid List exactly when github.com/dunglas/httpsfv, an RFC 9651 parser
// that is not ours, says so, and the items read from it are the ones that
// parser finds.
func FuzzParseFields(f *testing.F) {
	f.Add(`"per-ip";r=0;t=12, "per-tenant";r=900;t=3600`, `"per-ip";q=100;w=60`, "", "", "", 200)
	f.Add(`"p";r=4`, `"other";q=5;w=7, "p";q=10;w=60`, "", "", "12", 429)
	f.Add(`limit=100, remaining=50, reset=5`, `100;w=60`, "", "", "", 200)
	f.Add(``, ``, "12", "1700000000", "", 200)
	f.Add(``, ``, "-1", "1.5", "Wed, 21 Oct 2099 07:28:00 GMT", 503)
	f.Add(`"a\"b";r=-5;t=-3;pk=:cHsdsRa894==:, ("x" y);r=1, "d";r=1;t=@1659578233, "e";r=1;t=%"caf%c3%a9"`, ``, "", "", "31536000", 429)
	f.Add(`"p";r=999999999999999;t=999999999999999`, `"p";q=1;w=1`, "99999999999999999999", "9999999999999999", "99999999999999999999999", 429)
	f.Add(strings.Repeat(`"p";r=1;t=1, `, 100)+`"z";r=0;t=9`, ``, "", "", "", 200)
	f.Fuzz(func(t *testing.T, rateLimit, policy, xRemaining, xReset, retry string, status int) {
		h := http.Header{}
		for name, v := range map[string]string{
			"Ratelimit": rateLimit, "Ratelimit-Policy": policy, "X-Ratelimit-Remaining": xRemaining,
			"X-Ratelimit-Reset": xReset, "Retry-After": retry,
		} {
			if v != "" {
				h.Set(name, v)
			}
		}
		got := readLimits(h, status, now)
		if got.n > maxItems {
			t.Fatalf("kept %d limits", got.n)
		}
		for _, it := range got.all() {
			if it.remaining < 0 || it.remaining > maxRemaining || it.delay < 0 || it.delay > maxDelay || !it.hasDelay {
				t.Fatalf("limit %v out of bounds", it)
			}
		}

		// A host fed the answer, twice, and a request's wait.
		const maxPolicies = 4
		hs := &host{key: "h", wake: make(chan struct{})}
		for range 2 {
			tk := hs.send(now)
			hs.release(tk, &http.Response{StatusCode: status, Header: h}, now, maxPolicies)
			if len(hs.pols) > maxPolicies {
				t.Fatalf("host keeps %d policies, want at most %d", len(hs.pols), maxPolicies)
			}
			if v := hs.blocked(now); v.until.After(now.Add(maxDelay)) || v.learn.After(now.Add(learnWait)) {
				t.Fatalf("host says wait until %v, past %v", v, maxDelay)
			}
		}

		// The List, against httpsfv.
		if rateLimit == "" {
			return
		}
		list, err := httpsfv.UnmarshalList([]string{rateLimit})
		if valid := parseSFList(rateLimit, func(*sfMember) {}); valid != (err == nil) {
			t.Fatalf("parseSFList(%q) = %v, httpsfv: %v", rateLimit, valid, err)
		}
		if err != nil {
			return
		}
		var want []limitItem
		for _, m := range list {
			it, ok := m.(httpsfv.Item)
			if !ok {
				continue
			}
			var name string
			switch v := it.Value.(type) {
			case string:
				name = v
			case httpsfv.Token:
				name = string(v)
			default:
				continue
			}
			r, _ := it.Params.Get("r")
			rn, ok := r.(int64)
			if !ok || len(name) > maxNameLen/2 {
				return // not read, or a length the escapes may push past the cap: not compared
			}
			tv, _ := it.Params.Get("t")
			tn, ok := tv.(int64)
			if !ok {
				return // its delay comes from elsewhere: not compared
			}
			want = append(want, limitItem{name: name, remaining: clampRemaining(rn), delay: seconds(tn), hasDelay: true})
		}
		if len(want) == 0 || len(want) > maxItems {
			return
		}
		var l limits
		if !readIETF(h, &l) {
			t.Fatalf("readIETF(%q) read nothing, httpsfv found %v", rateLimit, want)
		}
		if l.n != len(want) {
			t.Fatalf("readIETF(%q) read %v, httpsfv found %v", rateLimit, l.all(), want)
		}
		for i := range want {
			if l.items[i] != want[i] {
				t.Fatalf("readIETF(%q) read %v, httpsfv found %v", rateLimit, l.all(), want)
			}
		}
	})
}

// The pacing never sends what a server would refuse, whatever order the
// server decides the requests in flight and their answers arrive in: a
// simulation of a fixed-window server and many concurrent requests,
// driven by a seeded random walk.
func TestPacingNeverExceedsTheServersQuota(t *testing.T) {
	const (
		quota  = 7
		window = 10 * time.Second
		steps  = 20000
	)
	rng := uint64(1)
	rand := func(n int) int {
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		return int(rng % uint64(n))
	}
	type req struct {
		tk        ticket
		decided   bool
		remaining int
		at        time.Time
	}
	hs := &host{key: "h", wake: make(chan struct{})}
	clock := now
	remaining, win := quota, int64(0)
	var flight []*req
	sent, admitted := 0, 0
	for range steps {
		if w := int64(clock.Sub(now) / window); w != win {
			win, remaining = w, quota
		}
		switch rand(4) {
		case 0: // the client sends, if the pacing lets it
			if hs.blocked(clock).free() {
				flight = append(flight, &req{tk: hs.send(clock)})
				sent++
			}
		case 1: // the server decides a request in flight
			if len(flight) == 0 {
				continue
			}
			r := flight[rand(len(flight))]
			if r.decided {
				continue
			}
			if remaining == 0 {
				t.Fatalf("after %d sent and %d admitted, the server refuses one", sent, admitted)
			}
			remaining--
			admitted++
			r.decided, r.remaining, r.at = true, remaining, clock
		case 2: // an answer arrives
			if len(flight) == 0 {
				continue
			}
			i := rand(len(flight))
			r := flight[i]
			if !r.decided {
				continue
			}
			end := now.Add(time.Duration(int64(r.at.Sub(now)/window)+1) * window)
			secs := int64((end.Sub(r.at) + time.Second - 1) / time.Second)
			h := http.Header{"Ratelimit": {`"w";r=` + itoa(int64(r.remaining)) + ";t=" + itoa(secs)}}
			hs.release(r.tk, &http.Response{StatusCode: 200, Header: h}, clock, 16)
			flight = append(flight[:i], flight[i+1:]...)
		case 3: // time passes
			clock = clock.Add(time.Duration(rand(1000)) * time.Millisecond)
		}
	}
	if admitted < steps/20 {
		t.Errorf("admitted %d in %d steps: the pacing let too little through", admitted, steps)
	}
	t.Logf("%d sent, %d admitted, none refused, over %v", sent, admitted, clock.Sub(now))
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// A host keeps at most its maximum of policies, the most restrictive.
func TestAHostKeepsTheMostRestrictivePolicies(t *testing.T) {
	hs := &host{key: "h", wake: make(chan struct{})}
	var b strings.Builder
	for i := range 5000 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`"p` + itoa(int64(i)) + `";r=` + itoa(int64(5000-i)) + ";t=1")
	}
	tk := hs.send(now)
	hs.release(tk, &http.Response{StatusCode: 200, Header: http.Header{"Ratelimit": {b.String()}}}, now, 16)
	if len(hs.pols) != 16 {
		t.Fatalf("keeps %d policies, want 16", len(hs.pols))
	}
	for _, p := range hs.pols {
		if p.avail > 16 {
			t.Errorf("keeps %+v, not among the 16 most restrictive", p)
		}
	}
}

// A policy the answer to the request sent to learn it no longer mentions
// is forgotten; one whose request failed is learnt by the next request.
func TestAPolicyIsForgottenWhenTheServerStopsSendingIt(t *testing.T) {
	hs := &host{key: "h", wake: make(chan struct{})}
	exhausted := &http.Response{StatusCode: 200, Header: http.Header{"Ratelimit": {`"p";r=0;t=5`}}}
	hs.release(hs.send(now), exhausted, now, 16)
	if v := hs.blocked(now); !v.until.Equal(now.Add(5*time.Second)) || v.policy != "p" {
		t.Fatalf("blocked %+v, want until 5s by p", v)
	}
	later := now.Add(5 * time.Second)
	if !hs.blocked(later).free() {
		t.Fatal("still blocked once the quota is back")
	}
	probe := hs.send(later)
	if v := hs.blocked(later); !v.learn.Equal(later.Add(learnWait)) || v.learnPolicy != "p" {
		t.Fatalf("blocked %+v while one request learns p, want to wait for it %v", v, learnWait)
	}
	hs.release(probe, nil, later, 16) // failed: learnt by the next
	if len(hs.pols) != 1 {
		t.Fatal("a failed request made the policy forgotten")
	}
	probe = hs.send(later)
	hs.release(probe, &http.Response{StatusCode: 200, Header: http.Header{}}, later, 16)
	if len(hs.pols) != 0 {
		t.Fatalf("policies %+v kept, want none: the answer had no fields", hs.pols)
	}
}

// The first request to a host goes alone; its answer says what the others
// may do. An answer slower than learnWait lets them all go.
func TestTheFirstRequestToAHostLearnsItsLimits(t *testing.T) {
	hs := &host{key: "h", wake: make(chan struct{})}
	first := hs.send(now)
	if v := hs.blocked(now); !v.learn.Equal(now.Add(learnWait)) || v.learnPolicy != "" {
		t.Fatalf("blocked %+v while the first request is out, want to wait for it %v", v, learnWait)
	}
	slow := now.Add(learnWait)
	var others []ticket
	for range 3 {
		if !hs.blocked(slow).free() {
			t.Fatal("still waiting for the first answer after learnWait")
		}
		others = append(others, hs.send(slow))
	}
	hs.release(first, &http.Response{StatusCode: 200, Header: http.Header{"Ratelimit": {`"p";r=5;t=5`}}}, slow, 16)
	if !hs.blocked(slow).free() {
		t.Fatal("blocked once the host is known")
	}
	for _, tk := range others {
		hs.release(tk, &http.Response{StatusCode: 200, Header: http.Header{}}, slow, 16)
	}
	if p := hs.find("p"); p == nil || p.avail != 2 {
		t.Fatalf("policy %+v, want p with 2 left (5 less the 3 requests in flight when the first answer came)", p)
	}

	// A first request that fails: the next one learns.
	hs = &host{key: "h", wake: make(chan struct{})}
	hs.release(hs.send(now), nil, now, 16)
	hs.send(now)
	if hs.blocked(now).free() {
		t.Fatal("after a failed first request, the next does not learn alone")
	}
}

func TestATransportKeepsAtMostMaxHosts(t *testing.T) {
	tr, err := New(nil, WithMaxHosts(3))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c", "a", "d", "e"} {
		tr.host(k)
	}
	if len(tr.hosts) != 3 || tr.lru.Len() != 3 {
		t.Fatalf("%d hosts, %d in the list, want 3", len(tr.hosts), tr.lru.Len())
	}
	for _, k := range []string{"a", "d", "e"} {
		if _, ok := tr.hosts[k]; !ok {
			t.Errorf("host %s forgotten, want b and c forgotten (used least recently)", k)
		}
	}
}
