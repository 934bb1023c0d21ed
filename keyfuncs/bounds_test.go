package keyfuncs_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tollgate-go/tollgate/keyfuncs"
)

// chainOf returns n comma-separated copies of entry.
func chainOf(entry string, n int) string {
	return strings.TrimSuffix(strings.Repeat(entry+", ", n), ", ")
}

// TestProxyHeaderWorkDoesNotGrowWithTheHeader keys requests whose client
// sent a proxy header of 1 KiB, 64 KiB and 1 MiB in front of what the trusted
// proxies wrote: the client found is the same, and so is the number of
// allocations, a small constant, whatever the size. (Splitting the header
// into entries, as a first version did, allocated in proportion to it.)
func TestProxyHeaderWorkDoesNotGrowWithTheHeader(t *testing.T) {
	for _, tt := range []struct {
		name   string
		opts   []keyfuncs.IPOption
		remote string
		header string
		junk   string // one entry of the client's prefix
		last   []string
		want   string
	}{
		{"X-Forwarded-For, trusted ranges", []keyfuncs.IPOption{keyfuncs.TrustProxies("10.0.0.0/8")},
			"10.0.0.1:1", "X-Forwarded-For", "198.51.100.1", []string{"203.0.113.9", "10.0.0.2"}, "203.0.113.9"},
		{"X-Forwarded-For, trusted ranges, a forged trusted prefix", []keyfuncs.IPOption{keyfuncs.TrustProxies("10.0.0.0/8")},
			"10.0.0.1:1", "X-Forwarded-For", "10.9.9.9", []string{"203.0.113.9", "10.0.0.2"}, "203.0.113.9"},
		{"X-Forwarded-For, TrustHops from an untrusted peer", []keyfuncs.IPOption{keyfuncs.TrustHops(2)},
			"198.51.100.7:1", "X-Forwarded-For", "198.51.100.1", []string{"203.0.113.9", "10.0.0.2"}, "203.0.113.9"},
		{"Forwarded, trusted ranges", []keyfuncs.IPOption{keyfuncs.TrustProxies("10.0.0.0/8"), keyfuncs.FromForwarded()},
			"10.0.0.1:1", "Forwarded", `for="[2001:db8::1]:80";proto=https`, []string{"for=203.0.113.9", "for=10.0.0.2"}, "203.0.113.9"},
		{"Forwarded, TrustHops", []keyfuncs.IPOption{keyfuncs.TrustHops(2), keyfuncs.FromForwarded()},
			"198.51.100.7:1", "Forwarded", "for=198.51.100.1", []string{"for=203.0.113.9", "for=10.0.0.2"}, "203.0.113.9"},
		{"Forwarded, a client's open quote", []keyfuncs.IPOption{keyfuncs.TrustProxies("10.0.0.0/8"), keyfuncs.FromForwarded()},
			"10.0.0.1:1", "Forwarded", `for="`, []string{"for=203.0.113.9", "for=10.0.0.2"}, "203.0.113.9"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := mustResolver(t, tt.opts...)
			var allocs []float64
			for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
				// The client's list and the first proxy's entry share a line,
				// as a proxy appending to the field writes it; the second
				// proxy adds a line.
				junk := chainOf(tt.junk, size/(len(tt.junk)+2))
				req := fuzzRequest(tt.remote, tt.header, junk+", "+tt.last[0], tt.header, tt.last[1])
				if got, err := r.Key(req); err != nil || got != tt.want {
					t.Fatalf("%d bytes: Key = %q, %v; want %q", size, got, err, tt.want)
				}
				allocs = append(allocs, testing.AllocsPerRun(20, func() { _, _ = r.Key(req) }))
			}
			if allocs[0] != allocs[1] || allocs[1] != allocs[2] || allocs[2] > 2 {
				t.Errorf("allocations at 1 KiB, 64 KiB, 1 MiB: %v; want one small constant", allocs)
			}
		})
	}
}

// TestProxyHeaderLimits checks the bounds of a walk: MaxProxyEntries list
// elements, each at most MaxProxyEntryLen bytes, and TrustHeader values of
// at most MaxProxyEntryLen bytes. Within them nothing changes.
func TestProxyHeaderLimits(t *testing.T) {
	ranges := mustResolver(t, keyfuncs.TrustProxies("10.0.0.0/8"))
	fwd := mustResolver(t, keyfuncs.TrustProxies("10.0.0.0/8"), keyfuncs.FromForwarded())
	hdr := mustResolver(t, keyfuncs.TrustProxies("10.0.0.0/8"), keyfuncs.TrustHeader("X-Real-IP"))
	const peer = "10.0.0.1:1"
	long := " " + strings.Repeat(" ", keyfuncs.MaxProxyEntryLen-len("203.0.113.9")-1) // padded to the limit
	for _, tt := range []struct {
		name string
		r    *keyfuncs.IPResolver
		keyCase
	}{
		{"MaxProxyEntries trusted entries: the leftmost is the client", ranges, keyCase{remote: peer,
			headers: []string{"X-Forwarded-For: 10.0.0.8, " + chainOf("10.0.0.9", keyfuncs.MaxProxyEntries-1)}, want: "10.0.0.8"}},
		{"more trusted entries than MaxProxyEntries are refused", ranges, keyCase{remote: peer,
			headers: []string{"X-Forwarded-For: 10.0.0.8, " + chainOf("10.0.0.9", keyfuncs.MaxProxyEntries)},
			errText: fmt.Sprintf("X-Forwarded-For goes on past the %d list elements", keyfuncs.MaxProxyEntries)}},
		{"the client is found within MaxProxyEntries, however long the header", ranges, keyCase{remote: peer,
			headers: []string{"X-Forwarded-For: " + chainOf("198.51.100.1", 10*keyfuncs.MaxProxyEntries) + ", 203.0.113.9, " + chainOf("10.0.0.9", keyfuncs.MaxProxyEntries-2)},
			want:    "203.0.113.9"}},
		{"empty elements count towards MaxProxyEntries", ranges, keyCase{remote: peer,
			headers: []string{"X-Forwarded-For: 203.0.113.9" + strings.Repeat(",", keyfuncs.MaxProxyEntries)}, errText: "goes on past"}},
		{"empty lines count towards MaxProxyEntries", ranges, keyCase{remote: peer,
			headers: append([]string{"X-Forwarded-For: 203.0.113.9"}, slicesRepeat("X-Forwarded-For: ", keyfuncs.MaxProxyEntries)...), errText: "goes on past"}},
		{"an entry of MaxProxyEntryLen bytes is read", ranges, keyCase{remote: peer,
			headers: []string{"X-Forwarded-For: 198.51.100.1," + long + "203.0.113.9"}, want: "203.0.113.9"}},
		{"a longer entry is refused", ranges, keyCase{remote: peer,
			headers: []string{"X-Forwarded-For: 198.51.100.1, " + long + "203.0.113.9"}, errText: fmt.Sprintf("X-Forwarded-For entry 1 from the right is longer than %d bytes", keyfuncs.MaxProxyEntryLen)}},
		{"a longer entry alone on its line is refused", ranges, keyCase{remote: peer,
			headers: []string{"X-Forwarded-For: " + long + " 203.0.113.9"}, errText: "longer than"}},
		{"a long entry left of the client is never reached", ranges, keyCase{remote: peer,
			headers: []string{"X-Forwarded-For: " + strings.Repeat("9", 1<<20) + ", 203.0.113.9"}, want: "203.0.113.9"}},
		{"a longer Forwarded element is refused", fwd, keyCase{remote: peer,
			headers: []string{`Forwarded: for=203.0.113.9;host="` + strings.Repeat("a", keyfuncs.MaxProxyEntryLen) + `"`}, errText: "Forwarded entry 1 from the right is longer than"}},
		{"a Forwarded element of MaxProxyEntryLen bytes is read", fwd, keyCase{remote: peer,
			headers: []string{`Forwarded: for=203.0.113.9;host="` + strings.Repeat("a", keyfuncs.MaxProxyEntryLen-len(`for=203.0.113.9;host=""`)) + `"`}, want: "203.0.113.9"}},
		{"more Forwarded elements than MaxProxyEntries are refused", fwd, keyCase{remote: peer,
			headers: []string{"Forwarded: " + chainOf("for=10.0.0.9", keyfuncs.MaxProxyEntries+1)}, errText: "Forwarded goes on past"}},
		{"a TrustHeader value of MaxProxyEntryLen bytes is read", hdr, keyCase{remote: peer,
			headers: []string{"X-Real-IP: 203.0.113.9" + long}, want: "203.0.113.9"}},
		{"a longer TrustHeader value is refused", hdr, keyCase{remote: peer,
			headers: []string{"X-Real-IP: 203.0.113.9 " + long}, errText: fmt.Sprintf("X-Real-Ip is longer than %d bytes", keyfuncs.MaxProxyEntryLen)}},
	} {
		tt.keyCase.name = tt.name
		runKeyCases(t, tt.r, []keyCase{tt.keyCase})
	}
	if _, err := keyfuncs.NewIPResolver(keyfuncs.TrustHops(keyfuncs.MaxProxyEntries)); err != nil {
		t.Errorf("TrustHops(MaxProxyEntries): %v", err)
	}
	hops := mustResolver(t, keyfuncs.TrustHops(keyfuncs.MaxProxyEntries))
	if got, err := hops.Key(request(peer, "X-Forwarded-For: 198.51.100.1, 203.0.113.9, "+chainOf("10.0.0.9", keyfuncs.MaxProxyEntries-1))); err != nil || got != "203.0.113.9" {
		t.Errorf("TrustHops(MaxProxyEntries): Key = %q, %v; want 203.0.113.9", got, err)
	}
	if _, err := keyfuncs.NewIPResolver(keyfuncs.TrustHops(keyfuncs.MaxProxyEntries + 1)); err == nil || !strings.Contains(err.Error(), "MaxProxyEntries") {
		t.Errorf("TrustHops(MaxProxyEntries+1): %v, want an error naming MaxProxyEntries", err)
	}
}

func slicesRepeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// TestRequestWithoutHeaderMap keys a request whose Header is nil, as a
// hand-built request may have.
func TestRequestWithoutHeaderMap(t *testing.T) {
	r := mustResolver(t, keyfuncs.TrustProxies("10.0.0.0/8"), keyfuncs.TrustHeader("X-Real-IP"))
	if got, err := r.Key(&http.Request{RemoteAddr: "10.0.0.1:1"}); err != nil || got != "10.0.0.1" {
		t.Errorf("Key = %q, %v; want the peer", got, err)
	}
}
