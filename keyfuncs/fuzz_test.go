package keyfuncs_test

import (
	"errors"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"testing"

	"github.com/tollgate-go/tollgate/keyfuncs"
)

// checkResult asserts the invariants of every ClientIP and Key result: the
// two agree, and agree with ClientIPFromPeer and KeyFromPeer given the
// parsed remote address and the header; errors wrap ErrNoKey; the address
// is valid, unmapped and zone-free; and the key is the canonical form of
// that address or of its masked prefix.
func checkResult(t *testing.T, r *keyfuncs.IPResolver, req *http.Request) (netip.Addr, bool) {
	t.Helper()
	ip, ipErr := r.ClientIP(req)
	key, keyErr := r.Key(req)
	if (ipErr == nil) != (keyErr == nil) {
		t.Fatalf("ClientIP error %v but Key error %v", ipErr, keyErr)
	}
	if ap, err := netip.ParseAddrPort(req.RemoteAddr); err == nil {
		// The entry point without *http.Request: the same code, the same
		// answer.
		pip, pipErr := r.ClientIPFromPeer(ap.Addr(), req.Header.Values)
		pkey, pkeyErr := r.KeyFromPeer(ap.Addr(), req.Header.Values)
		if pip != ip || pkey != key || (pipErr == nil) != (ipErr == nil) || (pkeyErr == nil) != (keyErr == nil) {
			t.Fatalf("from the peer %v: %v %v, %q %v; from the request %q: %v %v, %q %v",
				ap.Addr(), pip, pipErr, pkey, pkeyErr, req.RemoteAddr, ip, ipErr, key, keyErr)
		}
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

// maxKeyBytes bounds the bytes one Key call allocates, whatever the
// headers: the key's text, or an error with its message (a few hundred bytes;
// the bound leaves room for the race detector and for what other goroutines
// allocate meanwhile). Splitting a header as a whole allocated hundreds of
// kilobytes for 64 KiB, megabytes for 1 MiB.
const maxKeyBytes = 32 << 10

// junk is a client's own proxy header, 1 MiB of addresses (and, for
// Forwarded, for= elements), which the walk must never need to read.
var junk = map[string]string{
	"X-Forwarded-For": strings.Repeat("198.51.100.1, ", 1<<20/14),
	"Forwarded":       strings.Repeat("for=198.51.100.1, ", 1<<20/18),
}

// fuzzHeader checks a proxy header, sent as two lines, through every mode
// that reads it. Beyond the invariants of checkResult: the default mode reads
// no header; an untrusted peer is its own client; once the client is found
// in the second line, nothing in the first line (the one a client writes)
// can change it, not even a megabyte of it, on that line or on lines before
// it; and no request allocates more than maxKeyBytes.
func fuzzHeader(t *testing.T, header, remote, first, second string, opt ...keyfuncs.IPOption) {
	trust := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	trusted := func(a netip.Addr) bool { return trust[0].Contains(a) || trust[1].Contains(a) }
	def := mustResolver(t)
	ranges := mustResolver(t, append([]keyfuncs.IPOption{keyfuncs.TrustProxyPrefixes(trust...)}, opt...)...)
	hops := mustResolver(t, append([]keyfuncs.IPOption{keyfuncs.TrustHops(2)}, opt...)...)

	full := fuzzRequest(remote, header, first, header, second)
	lastOnly := fuzzRequest(remote, header, second)
	// The client's megabyte, as lines of its own and on the line of the
	// first entries.
	padded := []*http.Request{
		fuzzRequest(remote, header, junk[header], header, first, header, second),
		fuzzRequest(remote, header, junk[header][:64<<10]+first, header, second),
	}

	peer, peerOK := checkResult(t, def, fuzzRequest(remote))
	if ip, ok := checkResult(t, def, full); ok != peerOK || ip != peer {
		t.Fatalf("default mode: client %v, %v; want the peer %v, %v", ip, ok, peer, peerOK)
	}

	ip, ok := checkResult(t, ranges, full)
	if peerOK && !trusted(peer) && (!ok || ip != peer) {
		t.Fatalf("trusted ranges: client %v, %v; want the untrusted peer %v", ip, ok, peer)
	}
	alone, aloneOK := checkResult(t, ranges, lastOnly)
	found := peerOK && trusted(peer) && aloneOK && !trusted(alone)
	if found && (!ok || ip != alone) {
		t.Fatalf("trusted ranges: client %v from the last line alone, but %v, %v with the first line %q", alone, ip, ok, first)
	}
	for i, req := range padded {
		if ip, ok := checkResult(t, ranges, req); found && (!ok || ip != alone) {
			t.Fatalf("trusted ranges: client %v from the last line alone, but %v, %v with the client's megabyte (%d)", alone, ip, ok, i)
		}
		checkAllocs(t, ranges, req)
	}

	ip, ok = checkResult(t, hops, full)
	alone, aloneOK = checkResult(t, hops, lastOnly)
	if aloneOK && (!ok || ip != alone) {
		t.Fatalf("two hops: client %v from the last line alone, but %v, %v with the first line %q", alone, ip, ok, first)
	}
	for i, req := range padded {
		if ip, ok := checkResult(t, hops, req); aloneOK && (!ok || ip != alone) {
			t.Fatalf("two hops: client %v from the last line alone, but %v, %v with the client's megabyte (%d)", alone, ip, ok, i)
		}
		checkAllocs(t, hops, req)
	}
}

// checkAllocs asserts that keying req allocates at most maxKeyBytes.
func checkAllocs(t *testing.T, r *keyfuncs.IPResolver, req *http.Request) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _ = r.Key(req)
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > maxKeyBytes {
		t.Fatalf("Key: %d bytes allocated, more than %d", n, maxKeyBytes)
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
		{"[64:ff9b::c000:205]:1", "X-Forwarded-For", "2001:db8:c000:221::", "for=\"[64:ff9b:1::1.2.3.4]\""},
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
		mustResolver(f, keyfuncs.NAT64Prefixes("2001:db8::/32", "2001:db8:100::/40", "64:ff9b::/96"), keyfuncs.TrustProxies("192.0.2.0/24")),
		mustResolver(f, keyfuncs.NAT64Prefixes()),
	}
	f.Fuzz(func(t *testing.T, remote, name, value, forwarded string) {
		req := fuzzRequest(remote, name, value, "Forwarded", forwarded, "X-Forwarded-For", value)
		for _, r := range resolvers {
			checkResult(t, r, req)
		}
	})
}

// referenceAddr parses an address as net/netip does, with an optional port
// or brackets, then unmaps it, drops its zone and unwraps the default NAT64
// prefixes: what a resolver must find in a single-IP header holding s.
func referenceAddr(s string) (netip.Addr, bool) {
	s = strings.Trim(s, " \t")
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err2 := netip.ParseAddrPort(s)
		if err2 != nil {
			if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
				return netip.Addr{}, false
			}
			if a, err = netip.ParseAddr(s[1 : len(s)-1]); err != nil || !a.Is6() {
				return netip.Addr{}, false
			}
		} else {
			a = ap.Addr()
		}
	}
	a = a.WithZone("").Unmap()
	for _, p := range []netip.Prefix{netip.MustParsePrefix("64:ff9b::/96"), netip.MustParsePrefix("64:ff9b:1::/96")} {
		if p.Contains(a) {
			b := a.As16()
			a = netip.AddrFrom4([4]byte(b[12:]))
		}
	}
	return a, true
}

// FuzzTrustHeader reads a trusted single-IP header. From an untrusted peer
// the header is ignored; from a trusted one, an address net/netip reads in
// it (at most MaxProxyEntryLen bytes) is the client, a value longer than
// that is refused, and the X-Forwarded-For decoy beside it is never taken
// for the client unless the header names it.
func FuzzTrustHeader(f *testing.F) {
	for _, s := range [][2]string{
		{"10.0.0.1:1", "203.0.113.9"}, {"10.0.0.1:1", " [2001:db8::1]:443\t"}, {"10.0.0.1:1", "1.2.3.4:_x"},
		{"10.0.0.1:1", "::ffff:1.2.3.4"}, {"10.0.0.1:1", "64:ff9b::1.2.3.4"}, {"10.0.0.1:1", "fe80::1%eth0"},
		{"192.0.2.1:1", "203.0.113.9"}, {"10.0.0.1:1", "1.2.3.4:0080"}, {"10.0.0.1:1", ""}, {"10.0.0.1:1", "198.51.100.9, 1.2.3.4"},
	} {
		f.Add(s[0], s[1])
	}
	r := mustResolver(f, keyfuncs.TrustProxies("10.0.0.0/8"), keyfuncs.TrustHeader("X-Real-IP"))
	decoy := netip.MustParseAddr("198.51.100.9")
	f.Fuzz(func(t *testing.T, remote, value string) {
		req := fuzzRequest(remote, "X-Real-Ip", value, "X-Forwarded-For", decoy.String())
		ip, ok := checkResult(t, r, req)
		checkAllocs(t, r, req)
		peer, peerOK := checkResult(t, mustResolver(t), fuzzRequest(remote))
		switch {
		case !peerOK:
			if ok {
				t.Fatalf("client %v from an unparsable peer %q", ip, remote)
			}
		case !netip.MustParsePrefix("10.0.0.0/8").Contains(peer):
			if !ok || ip != peer {
				t.Fatalf("untrusted peer %v: client %v, %v; want the peer", peer, ip, ok)
			}
		case len(value) > keyfuncs.MaxProxyEntryLen:
			if ok {
				t.Fatalf("a %d-byte value gave client %v; want an error", len(value), ip)
			}
		default:
			want, wantOK := referenceAddr(value)
			if wantOK && (!ok || ip != want) {
				t.Fatalf("X-Real-IP %q: client %v, %v; want %v", value, ip, ok, want)
			}
			if ok && ip == decoy && !strings.Contains(value, "198.51.100.9") {
				t.Fatalf("X-Real-IP %q: the X-Forwarded-For decoy was taken for the client", value)
			}
		}
	})
}

// FuzzNAT64 embeds any IPv4 address under any NAT64 prefix of each RFC 6052
// length: the resolver naming that prefix keys it as the IPv4 address, and
// the default resolver as IPv6 unless the prefix is a default one.
func FuzzNAT64(f *testing.F) {
	f.Add([]byte{0x20, 0x01, 0x0d, 0xb8}, uint8(0), uint32(0xc0000221))
	f.Add([]byte{0x00, 0x64, 0xff, 0x9b}, uint8(5), uint32(0x01020304))
	f.Add([]byte{0x20, 0x01, 0x0d, 0xb8, 0x01, 0x22, 0x03, 0x44}, uint8(4), uint32(0xffffffff))
	lengths := []int{32, 40, 48, 56, 64, 96}
	f.Fuzz(func(t *testing.T, prefix []byte, which uint8, v4 uint32) {
		var b [16]byte
		copy(b[:], prefix)
		bits := lengths[int(which)%len(lengths)]
		p, err := netip.AddrFrom16(b).Prefix(bits)
		if err != nil {
			t.Fatal(err)
		}
		if p.Addr().Is4In6() {
			return // refused by NAT64Prefixes; mapped addresses are IPv4 already
		}
		a := p.Addr().As16()
		want := netip.AddrFrom4([4]byte{byte(v4 >> 24), byte(v4 >> 16), byte(v4 >> 8), byte(v4)})
		j := bits / 8
		for _, x := range want.As4() {
			if j == 8 {
				j++ // bits 64 to 71 stay zero
			}
			a[j] = x
			j++
		}
		addr := netip.AddrFrom16(a)
		if addr.Is4In6() {
			return // unmapped first, as every address is
		}
		req := fuzzRequest("[" + addr.String() + "]:1")
		r := mustResolver(t, keyfuncs.NAT64Prefixes(p.String()))
		if got, ok := checkResult(t, r, req); !ok || got != want {
			t.Fatalf("%v under %v: client %v, %v; want %v", addr, p, got, ok, want)
		}
	})
}

// FuzzCompose checks that Compose never gives two distinct pairs of keys
// one composed key, whatever bytes they hold.
func FuzzCompose(f *testing.F) {
	f.Add("a|b", "c", "a", "b|c")
	f.Add("1:a", "b", "1", "a|1:b")
	f.Add("", "x", "x", "")
	f.Fuzz(func(t *testing.T, a, b, c, d string) {
		key := func(x, y string) (string, error) {
			fx := func(*http.Request) (string, error) { return x, nil }
			fy := func(*http.Request) (string, error) { return y, nil }
			k, err := keyfuncs.Compose(fx, fy)
			if err != nil {
				t.Fatal(err)
			}
			return k(nil)
		}
		k1, err1 := key(a, b)
		k2, err2 := key(c, d)
		if (err1 == nil) != (a != "" && b != "") || (err2 == nil) != (c != "" && d != "") {
			t.Fatalf("Compose(%q, %q): %v; Compose(%q, %q): %v; want an error exactly for an empty part", a, b, err1, c, d, err2)
		}
		if err1 == nil && err2 == nil && (k1 == k2) != (a == c && b == d) {
			t.Fatalf("Compose(%q, %q) = %q, Compose(%q, %q) = %q", a, b, k1, c, d, k2)
		}
	})
}

// FuzzHeaderKey keys by a header sent on one or two lines: the key is the
// value exactly, never a truncation of it, or an error.
func FuzzHeaderKey(f *testing.F) {
	f.Add("key-123", "", false)
	f.Add(strings.Repeat("k", 65), "", false)
	f.Add("a", "b", true)
	f.Add("", "", false)
	key, err := keyfuncs.Header("X-API-Key", 64)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, first, second string, twoLines bool) {
		req := fuzzRequest("192.0.2.1:1", "X-Api-Key", first)
		if twoLines {
			req = fuzzRequest("192.0.2.1:1", "X-Api-Key", first, "X-Api-Key", second)
		}
		got, err := key(req)
		switch {
		case twoLines || first == "":
			if err == nil || !errors.Is(err, keyfuncs.ErrNoKey) {
				t.Fatalf("Key = %q, %v; want ErrNoKey", got, err)
			}
		case len(first) > 64:
			if err == nil || !errors.Is(err, keyfuncs.ErrKeyTooLong) || strings.Contains(err.Error(), first) {
				t.Fatalf("Key = %q, %v; want ErrKeyTooLong, without the value", got, err)
			}
		case err != nil || got != first:
			t.Fatalf("Key = %q, %v; want %q", got, err, first)
		}
	})
}
