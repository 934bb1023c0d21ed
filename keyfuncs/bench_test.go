package keyfuncs_test

import (
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
