package keyfuncs_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/tollgate-go/tollgate/keyfuncs"
)

// TestClientIPFromPeerAgreesWithClientIP: for every trust mode, a request
// read as *http.Request and the same request read as a peer address and a
// header lookup (as a gRPC adapter passes them) give the same client, key
// and error.
func TestClientIPFromPeerAgreesWithClientIP(t *testing.T) {
	resolvers := []struct {
		name string
		r    *keyfuncs.IPResolver
	}{
		{"default", mustResolver(t)},
		{"trusted ranges", mustResolver(t, keyfuncs.TrustProxies("10.0.0.0/8", "2001:db8:ffff::/48"))},
		{"trusted ranges, Forwarded", mustResolver(t, keyfuncs.TrustProxies("10.0.0.0/8"), keyfuncs.FromForwarded())},
		{"trusted header", mustResolver(t, keyfuncs.TrustProxies("10.0.0.0/8"), keyfuncs.TrustHeader("CF-Connecting-IP"))},
		{"two hops", mustResolver(t, keyfuncs.TrustHops(2))},
		{"prefixes /24 and /48", mustResolver(t, keyfuncs.IPv4Prefix(24), keyfuncs.IPv6Prefix(48))},
	}
	cases := []struct {
		name    string
		remote  string
		headers []string
	}{
		{"a direct IPv4 client", "192.0.2.1:1", nil},
		{"a direct IPv6 client", "[2001:db8:1:2::9]:1", nil},
		{"an IPv4-mapped peer", "[::ffff:192.0.2.1]:1", nil},
		{"a zoned peer", "[fe80::1%eth0]:1", nil},
		{"a NAT64 peer", "[64:ff9b::c000:201]:1", nil},
		{"a forged header from an untrusted peer", "192.0.2.1:1", []string{"X-Forwarded-For: 198.51.100.1", "Cf-Connecting-Ip: 198.51.100.2"}},
		{"a proxy's X-Forwarded-For over two lines", "10.0.0.1:1", []string{"X-Forwarded-For: 198.51.100.1, 203.0.113.9", "X-Forwarded-For: 10.0.0.2"}},
		{"an IPv6 proxy", "[2001:db8:ffff::1]:1", []string{"X-Forwarded-For: 203.0.113.9"}},
		{"a proxy's Forwarded", "10.0.0.1:1", []string{`Forwarded: for=198.51.100.1, for="[2001:db8::7]:80";proto=https`}},
		{"a CDN's header", "10.0.0.1:1", []string{"Cf-Connecting-Ip: 203.0.113.7", "X-Forwarded-For: 198.51.100.1"}},
		{"a garbage entry", "10.0.0.1:1", []string{"X-Forwarded-For: 203.0.113.9, garbage"}},
		{"unknown in Forwarded", "10.0.0.1:1", []string{"Forwarded: for=unknown"}},
		{"a chain past MaxProxyEntries", "10.0.0.1:1", []string{"X-Forwarded-For: " + strings.Repeat("10.0.0.3, ", keyfuncs.MaxProxyEntries) + "10.0.0.4"}},
		{"an entry past MaxProxyEntryLen", "10.0.0.1:1", []string{"X-Forwarded-For: 203.0.113.9" + strings.Repeat(" ", keyfuncs.MaxProxyEntryLen)}},
		{"a proxy without the header", "10.0.0.1:1", nil},
	}
	for _, rc := range resolvers {
		for _, c := range cases {
			t.Run(rc.name+"/"+c.name, func(t *testing.T) {
				req := request(c.remote, c.headers...)
				peer := netip.MustParseAddrPort(c.remote).Addr()
				ip, ipErr := rc.r.ClientIP(req)
				pip, pipErr := rc.r.ClientIPFromPeer(peer, req.Header.Values)
				if ip != pip || errText(ipErr) != errText(pipErr) {
					t.Fatalf("ClientIPFromPeer = %v, %v; ClientIP = %v, %v", pip, pipErr, ip, ipErr)
				}
				key, keyErr := rc.r.Key(req)
				pkey, pkeyErr := rc.r.KeyFromPeer(peer, req.Header.Values)
				if key != pkey || errText(keyErr) != errText(pkeyErr) {
					t.Fatalf("KeyFromPeer = %q, %v; Key = %q, %v", pkey, pkeyErr, key, keyErr)
				}
				if keyErr != nil && !errors.Is(pkeyErr, keyfuncs.ErrNoKey) {
					t.Fatalf("KeyFromPeer error %v does not wrap ErrNoKey", pkeyErr)
				}
			})
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestClientIPFromPeerWithoutARequest: the peer-based entry point as a
// gRPC adapter uses it, with a metadata-like lookup holding lower-case
// names, and with no address or headers at all.
func TestClientIPFromPeerWithoutARequest(t *testing.T) {
	md := map[string][]string{"x-forwarded-for": {"198.51.100.1, 203.0.113.9"}}
	get := func(name string) []string { return md[strings.ToLower(name)] } // as metadata.MD.Get reads
	proxy := netip.MustParseAddr("10.0.0.1")
	trusting := mustResolver(t, keyfuncs.TrustProxies("10.0.0.0/8"))
	if got, err := trusting.KeyFromPeer(proxy, get); err != nil || got != "203.0.113.9" {
		t.Errorf("through a trusted proxy: %q, %v; want 203.0.113.9", got, err)
	}
	if got, err := trusting.KeyFromPeer(proxy, nil); err != nil || got != "10.0.0.1" {
		t.Errorf("a nil header lookup: %q, %v; want the proxy itself, 10.0.0.1", got, err)
	}
	if got, err := mustResolver(t).KeyFromPeer(netip.MustParseAddr("2001:db8:1:2::9"), get); err != nil || got != "2001:db8:1:2::/64" {
		t.Errorf("the default resolver: %q, %v; want the peer's /64", got, err)
	}
	if got, err := mustResolver(t).ClientIPFromPeer(netip.Addr{}, get); err == nil || !errors.Is(err, keyfuncs.ErrNoKey) {
		t.Errorf("no peer address: %v, %v; want ErrNoKey", got, err)
	}
	// TrustHops does not read the peer: a Unix socket has no address.
	if got, err := mustResolver(t, keyfuncs.TrustHops(1)).KeyFromPeer(netip.Addr{}, get); err != nil || got != "203.0.113.9" {
		t.Errorf("TrustHops(1) without a peer address: %q, %v; want 203.0.113.9", got, err)
	}
}
