package keyfuncs_test

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/tollgate-go/tollgate/keyfuncs"
)

// checkResult asserts the invariants of every ClientIP and Key result: the
// two agree, errors wrap ErrNoKey, the address is valid, unmapped and
// zone-free, and the key is the canonical form of that address or of its
// masked prefix.
func checkResult(t *testing.T, r *keyfuncs.IPResolver, req *http.Request) (netip.Addr, bool) {
	t.Helper()
	ip, ipErr := r.ClientIP(req)
	key, keyErr := r.Key(req)
	if (ipErr == nil) != (keyErr == nil) {
		t.Fatalf("ClientIP error %v but Key error %v", ipErr, keyErr)
	}
	if ipErr != nil {
		if !errors.Is(ipErr, keyfuncs.ErrNoKey) || !errors.Is(keyErr, keyfuncs.ErrNoKey) || key != "" {
			t.Fatalf("failure = %q, %v, %v; want \"\" and errors wrapping ErrNoKey", key, ipErr, keyErr)
		}
		return netip.Addr{}, false
	}
	if !ip.IsValid() || ip.Is4In6() || ip.Zone() != "" {
		t.Fatalf("ClientIP = %v: want a valid, unmapped, zone-free address", ip)
	}
	if key == "" {
		t.Fatal("empty key with a nil error")
	}
	if strings.Contains(key, "/") {
		p, err := netip.ParsePrefix(key)
		if err != nil || p.String() != key || p != p.Masked() || !p.Contains(ip) {
			t.Fatalf("key %q is not the canonical masked prefix of %v", key, ip)
		}
	} else if a, err := netip.ParseAddr(key); err != nil || a != ip || a.String() != key {
		t.Fatalf("key %q is not the canonical form of %v", key, ip)
	}
	return ip, true
}

func fuzzRequest(remote string, lines ...string) *http.Request {
	req := &http.Request{RemoteAddr: remote, Header: http.Header{}}
	for i := 0; i+1 < len(lines); i += 2 {
		req.Header[lines[i]] = append(req.Header[lines[i]], lines[i+1])
	}
	return req
}

// fuzzHeader checks a proxy header, sent as two lines, through every mode
// that reads it. Beyond the invariants of checkResult: the default mode reads
// no header; an untrusted peer is its own client; and once the client is
// found in the second line, nothing in the first line (the one a client
// writes) can change it.
func fuzzHeader(t *testing.T, header, remote, first, second string, opt ...keyfuncs.IPOption) {
	trust := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	trusted := func(a netip.Addr) bool { return trust[0].Contains(a) || trust[1].Contains(a) }
	def := mustResolver(t)
	ranges := mustResolver(t, append([]keyfuncs.IPOption{keyfuncs.TrustProxyPrefixes(trust...)}, opt...)...)
	hops := mustResolver(t, append([]keyfuncs.IPOption{keyfuncs.TrustHops(2)}, opt...)...)

	full := fuzzRequest(remote, header, first, header, second)
	lastOnly := fuzzRequest(remote, header, second)

	peer, peerOK := checkResult(t, def, fuzzRequest(remote))
	if ip, ok := checkResult(t, def, full); ok != peerOK || ip != peer {
		t.Fatalf("default mode: client %v, %v; want the peer %v, %v", ip, ok, peer, peerOK)
	}

	ip, ok := checkResult(t, ranges, full)
	if peerOK && !trusted(peer) && (!ok || ip != peer) {
		t.Fatalf("trusted ranges: client %v, %v; want the untrusted peer %v", ip, ok, peer)
	}
	if alone, aloneOK := checkResult(t, ranges, lastOnly); peerOK && trusted(peer) && aloneOK && !trusted(alone) && (!ok || ip != alone) {
		t.Fatalf("trusted ranges: client %v from the last line alone, but %v, %v with the first line %q", alone, ip, ok, first)
	}

	ip, ok = checkResult(t, hops, full)
	if alone, aloneOK := checkResult(t, hops, lastOnly); aloneOK && (!ok || ip != alone) {
		t.Fatalf("two hops: client %v from the last line alone, but %v, %v with the first line %q", alone, ip, ok, first)
	}
}

func FuzzXForwardedFor(f *testing.F) {
	for _, s := range [][3]string{
		{"10.0.0.1:4711", "198.51.100.1, 203.0.113.9", "10.0.0.2"},
		{"10.0.0.1:4711", "garbage", "203.0.113.9, 10.0.0.2"},
		{"[::ffff:10.0.0.1]:80", "[::ffff:203.0.113.9]:80", " 10.0.0.2:80 ,,"},
		{"[2001:db8:ffff::1%eth0]:80", "fe80::1%eth0", "2001:db8:ffff::2%25x"},
		{"192.0.2.1", "[2001:db8::1", "unknown"},
		{"@", "", ""},
		{"", "1.2.3.4:99999", "[1.2.3.4]:80"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, remote, first, second string) {
		fuzzHeader(t, "X-Forwarded-For", remote, first, second)
	})
}

func FuzzForwarded(f *testing.F) {
	for _, s := range [][3]string{
		{"10.0.0.1:4711", "for=198.51.100.1", `For="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.2`},
		{"10.0.0.1:4711", `for="unterminated`, "for=_hidden, for=unknown"},
		{"10.0.0.1:4711", `by="a,b;c";for=203.0.113.9`, `for="\[2001:db8::1\]:_p"`},
		{"10.0.0.1:4711", `for="x\"`, "for=1.2.3.4;for=5.6.7.8, ;, proto=http"},
		{"[::ffff:10.0.0.1]:80", `for="::ffff:203.0.113.9"`, `for="[fe80::1%eth0]"`},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, remote, first, second string) {
		fuzzHeader(t, "Forwarded", remote, first, second, keyfuncs.FromForwarded())
	})
}

func FuzzClientIP(f *testing.F) {
	for _, s := range [][4]string{
		{"192.0.2.1:4711", "X-Forwarded-For", "203.0.113.9", "203.0.113.9"},
		{"10.0.0.1:1", "Cf-Connecting-Ip", "[2001:db8::1]:443", "for=203.0.113.9"},
		{"[fe80::1%eth0]:80", "X-Real-Ip", "garbage", ""},
		{"[::ffff:10.0.0.1]:80", "Cf-Connecting-Ip", "::ffff:203.0.113.9", "for=unknown"},
		{"/run/app.sock", "Forwarded", "for=\"", "\xff"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	resolvers := []*keyfuncs.IPResolver{
		mustResolver(f),
		mustResolver(f, keyfuncs.IPv4Prefix(24), keyfuncs.IPv6Prefix(48)),
		mustResolver(f, keyfuncs.IPv4Prefix(1), keyfuncs.IPv6Prefix(128)),
		mustResolver(f, keyfuncs.TrustProxies("10.0.0.0/8", "::ffff:0:0/96"), keyfuncs.TrustHeader("CF-Connecting-IP")),
		mustResolver(f, keyfuncs.TrustProxies("0.0.0.0/0", "::/0"), keyfuncs.FromForwarded(), keyfuncs.IPv4Prefix(16)),
		mustResolver(f, keyfuncs.TrustHops(1), keyfuncs.IPv6Prefix(1)),
	}
	f.Fuzz(func(t *testing.T, remote, name, value, forwarded string) {
		req := fuzzRequest(remote, name, value, "Forwarded", forwarded, "X-Forwarded-For", value)
		for _, r := range resolvers {
			checkResult(t, r, req)
		}
	})
}
