package keyfuncs_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tollgate-go/tollgate/keyfuncs"
)

func BenchmarkIPKey(b *testing.B) {
	for _, bb := range []struct {
		name string
		opts []keyfuncs.IPOption
		req  []string // remote address, then header lines
	}{
		{"remote IPv4", nil, []string{"203.0.113.9:4711"}},
		{"remote IPv6 /64", nil, []string{"[2001:db8:1:2::9]:4711"}},
		{"trusted X-Forwarded-For chain", []keyfuncs.IPOption{keyfuncs.TrustProxies("10.0.0.0/8", "172.16.0.0/12")},
			[]string{"10.0.0.1:4711", "X-Forwarded-For: 198.51.100.1, 203.0.113.9, 172.16.0.9", "X-Forwarded-For: 10.0.0.2"}},
		{"trusted Forwarded chain", []keyfuncs.IPOption{keyfuncs.TrustProxies("10.0.0.0/8", "172.16.0.0/12"), keyfuncs.FromForwarded()},
			[]string{"10.0.0.1:4711", `Forwarded: for=198.51.100.1, for=203.0.113.9;proto=https, for="172.16.0.9:80"`, "Forwarded: for=10.0.0.2"}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			r := mustResolver(b, bb.opts...)
			req := request(bb.req[0], bb.req[1:]...)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := r.Key(req); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// hugeList returns a proxy header line of about size bytes: the client's own
// list of addresses (elem repeated, comma-separated), as an attacker sends it
// for a trusted proxy to append to.
func hugeList(elem string, size int) string {
	return strings.Repeat(elem+",", size/(len(elem)+1))
}

// BenchmarkHugeProxyHeader measures one key of a request whose client sent a
// proxy header of 64 KiB or 1 MiB (net/http accepts 1 MiB of header by
// default), behind one trusted proxy that appended its own line. The work
// must not grow with the header: a client must not buy CPU with bytes.
func BenchmarkHugeProxyHeader(b *testing.B) {
	for _, size := range []int{64 << 10, 1 << 20} {
		xff := hugeList("1.2.3.4", size) + "203.0.113.9"
		inside := hugeList("10.0.0.9", size) + "10.0.0.8"
		fwd := hugeList("for=1.2.3.4", size) + "for=203.0.113.9"
		for _, bb := range []struct {
			name   string
			opts   []keyfuncs.IPOption
			remote string
			lines  []string
		}{
			{"X-Forwarded-For, trusted peer", []keyfuncs.IPOption{keyfuncs.TrustProxies("10.0.0.0/8")},
				"10.0.0.1:4711", []string{"X-Forwarded-For", xff, "X-Forwarded-For", "10.0.0.2"}},
			{"X-Forwarded-For of trusted entries, trusted peer", []keyfuncs.IPOption{keyfuncs.TrustProxies("10.0.0.0/8")},
				"10.0.0.1:4711", []string{"X-Forwarded-For", inside, "X-Forwarded-For", "10.0.0.2"}},
			{"X-Forwarded-For, TrustHops, untrusted peer", []keyfuncs.IPOption{keyfuncs.TrustHops(2)},
				"198.51.100.7:4711", []string{"X-Forwarded-For", xff, "X-Forwarded-For", "10.0.0.2"}},
			{"Forwarded, trusted peer", []keyfuncs.IPOption{keyfuncs.TrustProxies("10.0.0.0/8"), keyfuncs.FromForwarded()},
				"10.0.0.1:4711", []string{"Forwarded", fwd, "Forwarded", "for=10.0.0.2"}},
			{"X-Real-IP, trusted peer", []keyfuncs.IPOption{keyfuncs.TrustProxies("10.0.0.0/8"), keyfuncs.TrustHeader("X-Real-IP")},
				"10.0.0.1:4711", []string{"X-Real-Ip", strings.Repeat(" ", size) + "203.0.113.9"}},
		} {
			b.Run(fmt.Sprintf("%s/%dKiB", bb.name, size>>10), func(b *testing.B) {
				r := mustResolver(b, bb.opts...)
				req := fuzzRequest(bb.remote, bb.lines...)
				b.ReportAllocs()
				for b.Loop() {
					_, _ = r.Key(req)
				}
			})
		}
	}
}
