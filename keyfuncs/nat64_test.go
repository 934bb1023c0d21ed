package keyfuncs_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/tollgate-go/tollgate/keyfuncs"
)

// TestNAT64AddressesAreKeyedAsTheirIPv4 checks that an IPv4 client seen
// through a NAT64 translator (64:ff9b::/96, 64:ff9b:1::/96 by default) is
// keyed, trusted and reported as its IPv4 address: otherwise every IPv4
// client of the translator would share the bucket of one /64.
func TestNAT64AddressesAreKeyedAsTheirIPv4(t *testing.T) {
	runKeyCases(t, mustResolver(t), []keyCase{
		{name: "the well-known prefix embeds the IPv4 client", remote: "[64:ff9b::c000:201]:1", want: "192.0.2.1"},
		{name: "written in dotted form too", remote: "[64:ff9b::192.0.2.1]:1", want: "192.0.2.1"},
		{name: "a neighbour behind the same translator has its own key", remote: "[64:ff9b::c000:202]:1", want: "192.0.2.2"},
		{name: "the first /96 of RFC 8215's local-use prefix embeds it too", remote: "[64:ff9b:1::c000:201]:1", want: "192.0.2.1"},
		{name: "another part of the local-use prefix is IPv6, its format unknown", remote: "[64:ff9b:1:ab::c000:201]:1", want: "64:ff9b:1:ab::/64"},
		{name: "6to4 is not unwrapped", remote: "[2002:c000:201::1]:1", want: "2002:c000:201::/64"},
		{name: "Teredo is not unwrapped", remote: "[2001:0:4136:e378:8000:63bf:3fff:fdd2]:1", want: "2001:0:4136:e378::/64"},
		{name: "an IPv4-compatible address (::a.b.c.d, deprecated) is not unwrapped", remote: "[::c000:201]:1", want: "::/64"},
	})
	ip, err := mustResolver(t).ClientIP(request("[64:ff9b::c000:201]:1"))
	if err != nil || ip != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("ClientIP = %v, %v; want 192.0.2.1 (Is4)", ip, err)
	}
	runKeyCases(t, mustResolver(t, keyfuncs.IPv4Prefix(24)), []keyCase{
		{name: "IPv4Prefix applies to the embedded address", remote: "[64:ff9b::c000:201]:1", want: "192.0.2.0/24"},
	})
	var zero keyfuncs.IPResolver
	runKeyCases(t, &zero, []keyCase{
		{name: "the zero resolver unwraps too", remote: "[64:ff9b::c000:201]:1", want: "192.0.2.1"},
	})

	trusted := mustResolver(t, keyfuncs.TrustProxies("192.0.2.0/24"))
	runKeyCases(t, trusted, []keyCase{
		{name: "a trusted IPv4 proxy seen through NAT64 is trusted", remote: "[64:ff9b::c000:205]:1",
			headers: []string{"X-Forwarded-For: 203.0.113.9"}, want: "203.0.113.9"},
		{name: "a NAT64 entry in X-Forwarded-For is its IPv4", remote: "192.0.2.5:1",
			headers: []string{"X-Forwarded-For: 64:ff9b::cb00:7109"}, want: "203.0.113.9"},
		{name: "a trusted NAT64 entry is skipped", remote: "192.0.2.5:1",
			headers: []string{"X-Forwarded-For: 203.0.113.9, [64:ff9b::c000:206]:80"}, want: "203.0.113.9"},
	})
	runKeyCases(t, mustResolver(t, keyfuncs.TrustProxies("64:ff9b::c000:200/120")), []keyCase{
		{name: "a trusted range written inside the NAT64 prefix is its IPv4 range", remote: "192.0.2.5:1",
			headers: []string{"X-Forwarded-For: 203.0.113.9"}, want: "203.0.113.9"},
	})
	runKeyCases(t, mustResolver(t, keyfuncs.TrustProxies("10.0.0.0/8"), keyfuncs.TrustHeader("X-Real-IP")), []keyCase{
		{name: "a NAT64 TrustHeader value is its IPv4", remote: "10.0.0.1:1",
			headers: []string{"X-Real-IP: 64:ff9b::cb00:7109"}, want: "203.0.113.9"},
	})
}

// TestNAT64PrefixesNamesTheTranslator checks the RFC 6052 formats, with the
// examples of its section 2.4 (192.0.2.33 under each prefix length).
func TestNAT64PrefixesNamesTheTranslator(t *testing.T) {
	for _, tt := range []struct{ prefix, addr string }{
		{"2001:db8::/32", "2001:db8:c000:221::"},
		{"2001:db8:100::/40", "2001:db8:1c0:2:21::"},
		{"2001:db8:122::/48", "2001:db8:122:c000:2:2100::"},
		{"2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"},
		{"2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0"},
		{"2001:db8:122:344::/96", "2001:db8:122:344::192.0.2.33"},
	} {
		r := mustResolver(t, keyfuncs.NAT64Prefixes(tt.prefix))
		if got, err := r.Key(request("[" + tt.addr + "]:1")); err != nil || got != "192.0.2.33" {
			t.Errorf("%s under %s: Key = %q, %v; want 192.0.2.33", tt.addr, tt.prefix, got, err)
		}
	}
	own := mustResolver(t, keyfuncs.NAT64Prefixes("2001:db8:64::/96"), keyfuncs.NAT64Prefixes("64:ff9b::/96"))
	runKeyCases(t, own, []keyCase{
		{name: "a named prefix is unwrapped", remote: "[2001:db8:64::c000:201]:1", want: "192.0.2.1"},
		{name: "prefixes given twice add up", remote: "[64:ff9b::c000:201]:1", want: "192.0.2.1"},
		{name: "a default prefix not named is not", remote: "[64:ff9b:1::c000:201]:1", want: "64:ff9b:1::/64"},
	})
	runKeyCases(t, mustResolver(t, keyfuncs.NAT64Prefixes()), []keyCase{
		{name: "no prefix unwraps none", remote: "[64:ff9b::c000:201]:1", want: "64:ff9b::/64"},
	})
	for _, tt := range []struct {
		name string
		opts []keyfuncs.IPOption
		want string
	}{
		{"a length RFC 6052 does not define", []keyfuncs.IPOption{keyfuncs.NAT64Prefixes("64:ff9b::/95")}, `NAT64Prefixes: "64:ff9b::/95": the length must be`},
		{"an IPv4 prefix", []keyfuncs.IPOption{keyfuncs.NAT64Prefixes("10.0.0.0/8")}, `NAT64Prefixes: "10.0.0.0/8" is not an IPv6 prefix`},
		{"an IPv4-mapped prefix", []keyfuncs.IPOption{keyfuncs.NAT64Prefixes("::ffff:0:0/96")}, "is not an IPv6 prefix"},
		{"not a prefix", []keyfuncs.IPOption{keyfuncs.NAT64Prefixes("64:ff9b::")}, `NAT64Prefixes: "64:ff9b::" is not a CIDR prefix`},
		{"a trusted range inside a NAT64 prefix of another format", []keyfuncs.IPOption{keyfuncs.NAT64Prefixes("2001:db8:100::/40"), keyfuncs.TrustProxies("2001:db8:100::/48")},
			"trusted range 2001:db8:100::/48 lies in the NAT64 prefix 2001:db8:100::/40"},
	} {
		if r, err := keyfuncs.NewIPResolver(tt.opts...); r != nil || err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: NewIPResolver = %v, %v; want an error containing %q", tt.name, r, err, tt.want)
		}
	}
}
