package keyfuncs_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/tollgate-go/tollgate/keyfuncs"
)

// request returns a GET request from remote carrying the given header lines,
// each "Name: value", added in order (so a name may repeat).
func request(remote string, lines ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = remote
	for _, l := range lines {
		name, value, _ := strings.Cut(l, ":")
		r.Header.Add(name, strings.TrimPrefix(value, " "))
	}
	return r
}

// keyCase is one request and the key (or the error text) expected for it.
type keyCase struct {
	name    string
	remote  string
	headers []string
	want    string // the key; "" when an error is expected
	errText string // a part of the expected error, which must wrap ErrNoKey
}

func runKeyCases(t *testing.T, r *keyfuncs.IPResolver, cases []keyCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Key(request(tt.remote, tt.headers...))
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("Key = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if got != "" || !errors.Is(err, keyfuncs.ErrNoKey) || !strings.Contains(err.Error(), tt.errText) {
				t.Fatalf("Key = %q, %v; want an ErrNoKey error containing %q", got, err, tt.errText)
			}
		})
	}
}

func mustResolver(t testing.TB, opts ...keyfuncs.IPOption) *keyfuncs.IPResolver {
	t.Helper()
	r, err := keyfuncs.NewIPResolver(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestIPDefaultUsesTheRemoteAddressOnly(t *testing.T) {
	runKeyCases(t, mustResolver(t), []keyCase{
		{name: "a host:port remote address is keyed by its host", remote: "192.0.2.1:4711", want: "192.0.2.1"},
		{name: "a bare IPv4 remote address is its own key", remote: "192.0.2.1", want: "192.0.2.1"},
		{name: "a forged X-Forwarded-For line changes nothing", remote: "192.0.2.1:4711",
			headers: []string{"X-Forwarded-For: 203.0.113.9"}, want: "192.0.2.1"},
		{name: "forged X-Forwarded-For lines change nothing", remote: "192.0.2.1:4711",
			headers: []string{"X-Forwarded-For: 203.0.113.9, 10.0.0.1", "X-Forwarded-For: 198.51.100.7"}, want: "192.0.2.1"},
		{name: "forged Forwarded, X-Real-IP and CF-Connecting-IP change nothing", remote: "192.0.2.1:4711",
			headers: []string{"Forwarded: for=203.0.113.9", "X-Real-IP: 203.0.113.9", "CF-Connecting-IP: 203.0.113.9"}, want: "192.0.2.1"},
		{name: "an IPv4-mapped remote address is keyed as IPv4", remote: "[::ffff:192.0.2.1]:4711", want: "192.0.2.1"},
		{name: "a bare IPv4-mapped remote address is keyed as IPv4", remote: "::ffff:192.0.2.1", want: "192.0.2.1"},
		{name: "an IPv6 remote address is keyed by its /64", remote: "[2001:db8:1:2:3:4:5:6]:4711", want: "2001:db8:1:2::/64"},
		{name: "a bare IPv6 remote address is keyed by its /64", remote: "2001:db8:1:2::1", want: "2001:db8:1:2::/64"},
		{name: "a zoned remote address loses its zone", remote: "[fe80::1%eth0]:80", want: "fe80::/64"},
		{name: "an empty remote address is refused", remote: "", errText: `remote address ""`},
		{name: "a Unix socket's @ is refused", remote: "@", errText: `"@"`},
		{name: "a Unix socket path is refused", remote: "/run/app.sock", errText: "/run/app.sock"},
		{name: "an out-of-range port is refused", remote: "192.0.2.1:65536", errText: "192.0.2.1:65536"},
		{name: "an empty port is refused", remote: "192.0.2.1:", errText: "192.0.2.1:"},
		{name: "an unclosed bracket is refused", remote: "[2001:db8::1:80", errText: "remote address"},
		{name: "IPv4 in brackets is refused", remote: "[192.0.2.1]:80", errText: "remote address"},
		{name: "a host name is refused", remote: "localhost:80", errText: "localhost"},
	})
}

func TestIPZonesAndMappingGiveOneKeyPerClient(t *testing.T) {
	r := mustResolver(t)
	for _, pair := range [][2]string{
		{"[fe80::1%eth0]:80", "[fe80::1]:80"},
		{"[fe80::1%25eth0]:80", "fe80::1"},
		{"[::ffff:192.0.2.1]:80", "192.0.2.1:80"},
	} {
		a, errA := r.Key(request(pair[0]))
		b, errB := r.Key(request(pair[1]))
		if errA != nil || errB != nil || a != b {
			t.Errorf("Key(%s) = %q, %v; Key(%s) = %q, %v; want one key", pair[0], a, errA, pair[1], b, errB)
		}
	}
	ip, err := r.ClientIP(request("[fe80::1%eth0]:80"))
	if err != nil || ip != netip.MustParseAddr("fe80::1") {
		t.Errorf("ClientIP of a zoned address = %v, %v; want fe80::1 without zone", ip, err)
	}
	ip, err = r.ClientIP(request("[::ffff:192.0.2.1]:80"))
	if err != nil || ip != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("ClientIP of a mapped address = %v, %v; want 192.0.2.1 (Is4)", ip, err)
	}
}

func TestIPTrustedRanges(t *testing.T) {
	r := mustResolver(t, keyfuncs.TrustProxies("10.0.0.0/8", "2001:db8:ffff::/48", " 192.0.2.254 ", "::ffff:172.16.0.0/108"))
	const peer = "10.0.0.1:4711"
	runKeyCases(t, r, []keyCase{
		{name: "an untrusted peer is the client and its headers are ignored", remote: "198.51.100.7:1",
			headers: []string{"X-Forwarded-For: 203.0.113.9"}, want: "198.51.100.7"},
		{name: "a trusted peer without the header is the client", remote: peer, want: "10.0.0.1"},
		{name: "a trusted peer's empty header is no header", remote: peer, headers: []string{"X-Forwarded-For: "}, want: "10.0.0.1"},
		{name: "the rightmost untrusted entry is the client", remote: peer,
			headers: []string{"X-Forwarded-For: 203.0.113.9, 10.0.0.2"}, want: "203.0.113.9"},
		{name: "a forged leftmost entry is ignored", remote: peer,
			headers: []string{"X-Forwarded-For: 198.51.100.1, 203.0.113.9, 10.0.0.2"}, want: "203.0.113.9"},
		{name: "a forged trusted address on the left is ignored", remote: peer,
			headers: []string{"X-Forwarded-For: 10.9.9.9, 203.0.113.9"}, want: "203.0.113.9"},
		{name: "lines are merged in order, the last line's entry winning", remote: peer,
			headers: []string{"X-Forwarded-For: 198.51.100.1", "X-Forwarded-For: 203.0.113.9"}, want: "203.0.113.9"},
		{name: "lines are merged in order, trusted hops skipped across lines", remote: peer,
			headers: []string{"X-Forwarded-For: 198.51.100.1, 203.0.113.9", "X-Forwarded-For: 10.0.0.3, 10.0.0.2"}, want: "203.0.113.9"},
		{name: "an unparsable entry in the walked part is an error", remote: peer,
			headers: []string{"X-Forwarded-For: 203.0.113.9, garbage, 10.0.0.2"}, errText: `X-Forwarded-For entry 2 from the right, "garbage"`},
		{name: "unknown in the walked part is an error", remote: peer,
			headers: []string{"X-Forwarded-For: unknown"}, errText: `"unknown"`},
		{name: "an unparsable entry left of the client is never reached", remote: peer,
			headers: []string{"X-Forwarded-For: garbage, 203.0.113.9"}, want: "203.0.113.9"},
		{name: "when every entry is trusted the leftmost is the client", remote: peer,
			headers: []string{"X-Forwarded-For: 10.1.1.1, 10.0.0.2"}, want: "10.1.1.1"},
		{name: "ports and whitespace around entries are dropped", remote: peer,
			headers: []string{"X-Forwarded-For: \t203.0.113.9:4711 ,\t10.0.0.2:80 "}, want: "203.0.113.9"},
		{name: "an IPv6 entry with a port is keyed by its /64", remote: peer,
			headers: []string{"X-Forwarded-For: [2001:db8:1:2::9]:80, 10.0.0.2"}, want: "2001:db8:1:2::/64"},
		{name: "empty list elements are skipped", remote: peer,
			headers: []string{"X-Forwarded-For: 203.0.113.9,, 10.0.0.2,"}, want: "203.0.113.9"},
		{name: "a mapped trusted entry is trusted", remote: peer,
			headers: []string{"X-Forwarded-For: 203.0.113.9, ::ffff:10.0.0.2"}, want: "203.0.113.9"},
		{name: "a mapped client entry is keyed as IPv4", remote: peer,
			headers: []string{"X-Forwarded-For: [::ffff:203.0.113.9]:80"}, want: "203.0.113.9"},
		{name: "a mapped trusted peer is trusted", remote: "[::ffff:10.0.0.1]:4711",
			headers: []string{"X-Forwarded-For: 203.0.113.9"}, want: "203.0.113.9"},
		{name: "a zoned trusted peer is trusted", remote: "[2001:db8:ffff::1%eth0]:4711",
			headers: []string{"X-Forwarded-For: 203.0.113.9"}, want: "203.0.113.9"},
		{name: "a zoned trusted entry is trusted", remote: peer,
			headers: []string{"X-Forwarded-For: 203.0.113.9, 2001:db8:ffff::2%eth1"}, want: "203.0.113.9"},
		{name: "a trusted bare address is a /32", remote: "192.0.2.254:1",
			headers: []string{"X-Forwarded-For: 203.0.113.9"}, want: "203.0.113.9"},
		{name: "its neighbour is not trusted", remote: "192.0.2.253:1",
			headers: []string{"X-Forwarded-For: 203.0.113.9"}, want: "192.0.2.253"},
		{name: "a mapped trusted range covers IPv4 peers", remote: "172.16.5.5:1",
			headers: []string{"X-Forwarded-For: 203.0.113.9"}, want: "203.0.113.9"},
		{name: "Forwarded is not read without FromForwarded", remote: peer,
			headers: []string{"Forwarded: for=203.0.113.9"}, want: "10.0.0.1"},
	})
}

func TestIPForwarded(t *testing.T) {
	r := mustResolver(t, keyfuncs.TrustProxies("10.0.0.0/8"), keyfuncs.FromForwarded())
	const peer = "10.0.0.1:4711"
	runKeyCases(t, r, []keyCase{
		{name: "a token for= is the client", remote: peer, headers: []string{"Forwarded: for=203.0.113.9"}, want: "203.0.113.9"},
		{name: "the parameter name is case-insensitive", remote: peer,
			headers: []string{"Forwarded: proto=https;For=203.0.113.9;by=10.0.0.1"}, want: "203.0.113.9"},
		{name: "a quoted IPv6 address with a port is understood", remote: peer,
			headers: []string{`Forwarded: FOR="[2001:db8:cafe::17]:4711"`}, want: "2001:db8:cafe::/64"},
		{name: "a quoted IPv4 address with a port is understood", remote: peer,
			headers: []string{`Forwarded: for="203.0.113.9:4711"`}, want: "203.0.113.9"},
		{name: "an obfuscated port is dropped", remote: peer,
			headers: []string{`Forwarded: for="203.0.113.9:_p1"`}, want: "203.0.113.9"},
		{name: "an unquoted bracketed IPv6 address is understood", remote: peer,
			headers: []string{`Forwarded: for=[2001:db8:cafe::17]`}, want: "2001:db8:cafe::/64"},
		{name: "backslash escapes in a quoted-string are undone", remote: peer,
			headers: []string{`Forwarded: for="\[2001:db8:cafe::17\]:80"`}, want: "2001:db8:cafe::/64"},
		{name: "elements are walked from the right past trusted hops", remote: peer,
			headers: []string{"Forwarded: for=198.51.100.1, for=203.0.113.9;proto=http, for=10.0.0.2"}, want: "203.0.113.9"},
		{name: "lines are merged in order", remote: peer,
			headers: []string{"Forwarded: for=198.51.100.1", "Forwarded: for=203.0.113.9, for=10.0.0.2"}, want: "203.0.113.9"},
		{name: "commas and semicolons inside quotes do not split", remote: peer,
			headers: []string{`Forwarded: by="a,b;c=d";for=203.0.113.9, for=10.0.0.2`}, want: "203.0.113.9"},
		{name: "a quoted list is one unparsable value", remote: peer,
			headers: []string{`Forwarded: for="198.51.100.1, 203.0.113.9"`}, errText: "Forwarded entry 1 from the right"},
		{name: "unknown is not an address", remote: peer,
			headers: []string{"Forwarded: for=unknown"}, errText: `"unknown"`},
		{name: "an obfuscated identifier is not an address", remote: peer,
			headers: []string{`Forwarded: for=_hidden, for="10.0.0.2"`}, errText: `Forwarded entry 2 from the right, "_hidden"`},
		{name: "unknown left of the client is never reached", remote: peer,
			headers: []string{"Forwarded: for=unknown, for=203.0.113.9"}, want: "203.0.113.9"},
		{name: "an element without for= is unparsable", remote: peer,
			headers: []string{"Forwarded: for=203.0.113.9, proto=https"}, errText: "Forwarded entry 1 from the right"},
		{name: "a repeated for= is unparsable", remote: peer,
			headers: []string{"Forwarded: for=203.0.113.9;for=198.51.100.1"}, errText: "Forwarded entry 1"},
		{name: "an unterminated quote spoils the rest of its line", remote: peer,
			headers: []string{`Forwarded: for="203.0.113.9, for=10.0.0.2`}, errText: `Forwarded entry 2 from the right, ""`},
		{name: "an unterminated quote left of the client is never reached", remote: peer,
			headers: []string{`Forwarded: for="198.51.100.1, for=203.0.113.9, for=10.0.0.2`}, want: "203.0.113.9"},
		{name: "an unterminated quote on an earlier line spoils only that line", remote: peer,
			headers: []string{`Forwarded: for="198.51.100.1`, "Forwarded: for=203.0.113.9"}, want: "203.0.113.9"},
		{name: "an escaped closing quote leaves the string open", remote: peer,
			headers: []string{`Forwarded: for="203.0.113.9\"`}, errText: "Forwarded entry 1"},
		{name: "whitespace around = is refused", remote: peer,
			headers: []string{"Forwarded: for= 203.0.113.9"}, errText: "Forwarded entry 1"},
		{name: "X-Forwarded-For is not read with FromForwarded", remote: peer,
			headers: []string{"X-Forwarded-For: 203.0.113.9"}, want: "10.0.0.1"},
		{name: "an untrusted peer's Forwarded is ignored", remote: "198.51.100.7:1",
			headers: []string{"Forwarded: for=203.0.113.9"}, want: "198.51.100.7"},
	})
}

func TestIPTrustHops(t *testing.T) {
	one := mustResolver(t, keyfuncs.TrustHops(1))
	two := mustResolver(t, keyfuncs.TrustHops(2))
	fwd := mustResolver(t, keyfuncs.TrustHops(2), keyfuncs.FromForwarded())
	for _, tt := range []struct {
		name string
		r    *keyfuncs.IPResolver
		keyCase
	}{
		{"one hop: the rightmost entry is the client", one, keyCase{remote: "198.51.100.7:1",
			headers: []string{"X-Forwarded-For: 198.51.100.1, 203.0.113.9"}, want: "203.0.113.9"}},
		{"one hop: the peer is not consulted, even over a Unix socket", one, keyCase{remote: "@",
			headers: []string{"X-Forwarded-For: 203.0.113.9"}, want: "203.0.113.9"}},
		{"two hops: the second from the right is the client", two, keyCase{remote: "10.0.0.1:1",
			headers: []string{"X-Forwarded-For: 198.51.100.1, 203.0.113.9, 10.0.0.2"}, want: "203.0.113.9"}},
		{"two hops: lines are merged in order", two, keyCase{remote: "10.0.0.1:1",
			headers: []string{"X-Forwarded-For: 198.51.100.1, 203.0.113.9", "X-Forwarded-For: 10.0.0.2"}, want: "203.0.113.9"}},
		{"two hops: a client that forges its own chain is still counted from the right", two, keyCase{remote: "10.0.0.1:1",
			headers: []string{"X-Forwarded-For: 10.0.0.5, 10.0.0.6, 203.0.113.9, 10.0.0.2"}, want: "203.0.113.9"}},
		{"two hops: one entry is too few", two, keyCase{remote: "10.0.0.1:1",
			headers: []string{"X-Forwarded-For: 203.0.113.9"}, errText: "X-Forwarded-For has 1 entries, fewer than TrustHops(2)"}},
		{"one hop: no header is too few", one, keyCase{remote: "10.0.0.1:1", errText: "has 0 entries"}},
		{"two hops: garbage at the client's position is an error", two, keyCase{remote: "10.0.0.1:1",
			headers: []string{"X-Forwarded-For: 203.0.113.9, garbage, 10.0.0.2"}, errText: `entry 2 from the right, "garbage"`}},
		{"two hops of Forwarded: the second element from the right is the client", fwd, keyCase{remote: "10.0.0.1:1",
			headers: []string{`Forwarded: for=198.51.100.1, for="[2001:db8::1]:80"`, "Forwarded: for=10.0.0.2"}, want: "2001:db8::/64"}},
		{"two hops of Forwarded: unknown at the client's position is an error", fwd, keyCase{remote: "10.0.0.1:1",
			headers: []string{"Forwarded: for=unknown, for=10.0.0.2"}, errText: `"unknown"`}},
	} {
		tt.keyCase.name = tt.name
		runKeyCases(t, tt.r, []keyCase{tt.keyCase})
	}
}

func TestIPTrustHeader(t *testing.T) {
	r := mustResolver(t, keyfuncs.TrustProxies("10.0.0.0/8"), keyfuncs.TrustHeader("cf-connecting-ip"))
	const peer = "10.0.0.1:4711"
	runKeyCases(t, r, []keyCase{
		{name: "a trusted peer's header is the client", remote: peer,
			headers: []string{"CF-Connecting-IP: 203.0.113.9"}, want: "203.0.113.9"},
		{name: "it wins over X-Forwarded-For", remote: peer,
			headers: []string{"X-Forwarded-For: 198.51.100.1", "CF-Connecting-IP: 203.0.113.9"}, want: "203.0.113.9"},
		{name: "an untrusted peer's header is ignored", remote: "198.51.100.7:1",
			headers: []string{"CF-Connecting-IP: 203.0.113.9"}, want: "198.51.100.7"},
		{name: "the last of several lines counts", remote: peer,
			headers: []string{"CF-Connecting-IP: 198.51.100.1", "CF-Connecting-IP: 203.0.113.9"}, want: "203.0.113.9"},
		{name: "a port and whitespace are allowed", remote: peer,
			headers: []string{"CF-Connecting-IP:  [2001:db8::1]:443 "}, want: "2001:db8::/64"},
		{name: "a mapped address is keyed as IPv4", remote: peer,
			headers: []string{"CF-Connecting-IP: ::ffff:203.0.113.9"}, want: "203.0.113.9"},
		{name: "garbage is an error", remote: peer,
			headers: []string{"CF-Connecting-IP: garbage"}, errText: `Cf-Connecting-Ip "garbage"`},
		{name: "a list is an error", remote: peer,
			headers: []string{"CF-Connecting-IP: 203.0.113.9, 198.51.100.1"}, errText: "Cf-Connecting-Ip"},
		{name: "an empty value is an error", remote: peer,
			headers: []string{"CF-Connecting-IP: "}, errText: "Cf-Connecting-Ip"},
		{name: "without the header a trusted peer's X-Forwarded-For is walked", remote: peer,
			headers: []string{"X-Forwarded-For: 198.51.100.1, 203.0.113.9, 10.0.0.2"}, want: "203.0.113.9"},
	})
}

func TestIPv6PrefixGroupsAHost(t *testing.T) {
	def := mustResolver(t)
	for _, tt := range []struct {
		name string
		a, b string
		same bool
	}{
		{"two addresses in one /64 share a key", "[2001:db8:1:2::1]:1", "[2001:db8:1:2:ffff::9]:2", true},
		{"addresses in neighbouring /64s do not", "[2001:db8:1:2::1]:1", "[2001:db8:1:3::1]:1", false},
	} {
		ka, _ := def.Key(request(tt.a))
		kb, _ := def.Key(request(tt.b))
		if (ka == kb) != tt.same {
			t.Errorf("%s: keys %q and %q", tt.name, ka, kb)
		}
	}
	for _, tt := range []struct {
		name   string
		opts   []keyfuncs.IPOption
		remote string
		want   string
	}{
		{"IPv6Prefix(48) keys a /48", []keyfuncs.IPOption{keyfuncs.IPv6Prefix(48)}, "[2001:db8:1:2::5]:1", "2001:db8:1::/48"},
		{"IPv6Prefix(128) keys the address", []keyfuncs.IPOption{keyfuncs.IPv6Prefix(128)}, "[2001:db8:1:2::5]:1", "2001:db8:1:2::5"},
		{"IPv6Prefix leaves IPv4 alone", []keyfuncs.IPOption{keyfuncs.IPv6Prefix(48)}, "192.0.2.1:1", "192.0.2.1"},
		{"IPv4Prefix(24) keys a /24", []keyfuncs.IPOption{keyfuncs.IPv4Prefix(24)}, "192.0.2.77:1", "192.0.2.0/24"},
		{"IPv4Prefix(16) keys a mapped address as IPv4", []keyfuncs.IPOption{keyfuncs.IPv4Prefix(16)}, "[::ffff:192.0.2.77]:1", "192.0.0.0/16"},
		{"IPv4Prefix leaves IPv6 alone", []keyfuncs.IPOption{keyfuncs.IPv4Prefix(24)}, "[2001:db8:1:2::5]:1", "2001:db8:1:2::/64"},
	} {
		got, err := mustResolver(t, tt.opts...).Key(request(tt.remote))
		if err != nil || got != tt.want {
			t.Errorf("%s: Key = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	ip, err := def.ClientIP(request("[2001:db8:1:2::5]:1"))
	if err != nil || ip != netip.MustParseAddr("2001:db8:1:2::5") {
		t.Errorf("ClientIP = %v, %v; want the whole address, 2001:db8:1:2::5", ip, err)
	}
}

func TestNewIPResolverRejectsBadOptions(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []keyfuncs.IPOption
		want string
	}{
		{"a prefix length over 32 names the range", []keyfuncs.IPOption{keyfuncs.TrustProxies("10.0.0.0/33")}, `TrustProxies: "10.0.0.0/33"`},
		{"a host name names the range", []keyfuncs.IPOption{keyfuncs.TrustProxies("10.0.0.0/8", "proxy.internal")}, `TrustProxies: "proxy.internal"`},
		{"an empty range is refused", []keyfuncs.IPOption{keyfuncs.TrustProxies("")}, `TrustProxies: ""`},
		{"a zone in a prefix is refused", []keyfuncs.IPOption{keyfuncs.TrustProxies("fe80::%eth0/64")}, `TrustProxies: "fe80::%eth0/64"`},
		{"a zero prefix is refused", []keyfuncs.IPOption{keyfuncs.TrustProxyPrefixes(netip.Prefix{})}, "TrustProxyPrefixes: prefix 0"},
		{"zero hops", []keyfuncs.IPOption{keyfuncs.TrustHops(0)}, "TrustHops(0)"},
		{"negative hops", []keyfuncs.IPOption{keyfuncs.TrustHops(-1)}, "TrustHops(-1)"},
		{"an IPv6 prefix of 0 bits", []keyfuncs.IPOption{keyfuncs.IPv6Prefix(0)}, "IPv6Prefix(0)"},
		{"an IPv6 prefix of 129 bits", []keyfuncs.IPOption{keyfuncs.IPv6Prefix(129)}, "IPv6Prefix(129)"},
		{"an IPv4 prefix of 0 bits", []keyfuncs.IPOption{keyfuncs.IPv4Prefix(0)}, "IPv4Prefix(0)"},
		{"an IPv4 prefix of 33 bits", []keyfuncs.IPOption{keyfuncs.IPv4Prefix(33)}, "IPv4Prefix(33)"},
		{"an empty header name", []keyfuncs.IPOption{keyfuncs.TrustProxies("10.0.0.0/8"), keyfuncs.TrustHeader("")}, `TrustHeader("")`},
		{"a header name with a space", []keyfuncs.IPOption{keyfuncs.TrustProxies("10.0.0.0/8"), keyfuncs.TrustHeader("X Real IP")}, `TrustHeader("X Real IP")`},
		{"X-Forwarded-For as a single-IP header", []keyfuncs.IPOption{keyfuncs.TrustProxies("10.0.0.0/8"), keyfuncs.TrustHeader("x-forwarded-for")}, "a list header"},
		{"a trusted header without trusted ranges", []keyfuncs.IPOption{keyfuncs.TrustHeader("X-Real-IP")}, `TrustHeader("X-Real-Ip") requires TrustProxies`},
		{"a trusted header with an empty range list", []keyfuncs.IPOption{keyfuncs.TrustProxies(), keyfuncs.TrustHeader("X-Real-IP")}, "requires TrustProxies"},
		{"FromForwarded alone", []keyfuncs.IPOption{keyfuncs.FromForwarded()}, "FromForwarded requires"},
		{"hops and ranges together", []keyfuncs.IPOption{keyfuncs.TrustHops(1), keyfuncs.TrustProxies("10.0.0.0/8")}, "TrustHops and TrustProxies"},
		{"a nil option", []keyfuncs.IPOption{nil}, "nil option"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := keyfuncs.NewIPResolver(tt.opts...)
			if r != nil || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewIPResolver = %v, %v; want an error containing %q", r, err, tt.want)
			}
			if f, err := keyfuncs.IP(tt.opts...); f != nil || err == nil {
				t.Fatalf("IP = %v, %v; want the same error", f, err)
			}
		})
	}
}

func TestIPResolverIsSafeForConcurrentUse(t *testing.T) {
	r := mustResolver(t, keyfuncs.TrustProxies("10.0.0.0/8"))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if k, err := r.Key(request("10.0.0.1:1", "X-Forwarded-For: 203.0.113.9, 10.0.0.2")); k != "203.0.113.9" || err != nil {
					t.Errorf("Key = %q, %v", k, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestTheZeroIPResolverIsTheDefault(t *testing.T) {
	var zero keyfuncs.IPResolver
	runKeyCases(t, &zero, []keyCase{
		{name: "an IPv4 client is keyed by its address", remote: "192.0.2.1:1",
			headers: []string{"X-Forwarded-For: 203.0.113.9"}, want: "192.0.2.1"},
		{name: "an IPv6 client is keyed by its /64", remote: "[2001:db8:1:2::9]:1", want: "2001:db8:1:2::/64"},
	})
}

func TestClientIPOfANilRequestIsAnError(t *testing.T) {
	if _, err := mustResolver(t).ClientIP(nil); !errors.Is(err, keyfuncs.ErrNoKey) {
		t.Fatalf("ClientIP(nil) error = %v, want ErrNoKey", err)
	}
}

func TestIPKeyOfAPlainIPv4PeerIsItsTextWithoutAllocating(t *testing.T) {
	key, err := keyfuncs.IP()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ remote, want string }{
		{"203.0.113.7:41000", "203.0.113.7"},
		{"203.0.113.7", "203.0.113.7"},
		{"0.0.0.0:1", "0.0.0.0"},
		{"[::ffff:203.0.113.7]:80", "203.0.113.7"},
		{"::ffff:203.0.113.7", "203.0.113.7"},
		{"[2001:db8::1]:80", "2001:db8::/64"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		if got, err := key(r); err != nil || got != tt.want {
			t.Errorf("RemoteAddr %q: key %q, %v; want %q", tt.remote, got, err, tt.want)
		}
	}
	for _, bad := range []string{"203.0.113.007:80", "203.0.113.7:", "203.0.113.7:80:80", "1.2.3:80", "256.1.1.1:80", ""} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = bad
		if got, err := key(r); err == nil {
			t.Errorf("RemoteAddr %q: key %q, want an error", bad, got)
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "203.0.113.7:41000"
	if n := testing.AllocsPerRun(100, func() { _, _ = key(r) }); n != 0 {
		t.Errorf("IPv4 key: %v allocations, want 0", n)
	}
}

func TestReadsHeaders(t *testing.T) {
	cases := []struct {
		opts []keyfuncs.IPOption
		want bool
	}{
		{nil, false},
		{[]keyfuncs.IPOption{keyfuncs.IPv6Prefix(48), keyfuncs.IPv4Prefix(24)}, false},
		{[]keyfuncs.IPOption{keyfuncs.TrustProxies("10.0.0.0/8")}, true},
		{[]keyfuncs.IPOption{keyfuncs.TrustHops(2)}, true},
		{[]keyfuncs.IPOption{keyfuncs.TrustProxies("10.0.0.0/8"), keyfuncs.TrustHeader("CF-Connecting-IP")}, true},
	}
	for i, c := range cases {
		r, err := keyfuncs.NewIPResolver(c.opts...)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.ReadsHeaders(); got != c.want {
			t.Errorf("case %d: ReadsHeaders() = %v, want %v", i, got, c.want)
		}
	}
	if new(keyfuncs.IPResolver).ReadsHeaders() {
		t.Error("the zero keyfuncs.IPResolver reads headers")
	}
}
