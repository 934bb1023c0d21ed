package grpclimit_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/tollgate-go/tollgate/grpclimit"
	"github.com/tollgate-go/tollgate/keyfuncs"
)

// callCtx is the context a server handler gets: the peer at addr (nil:
// none) and the incoming metadata pairs md.
func callCtx(addr net.Addr, md ...string) context.Context {
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(md...))
	if addr != nil {
		ctx = peer.NewContext(ctx, &peer.Peer{Addr: addr})
	}
	return ctx
}

// strAddr is a net.Addr of another network than TCP, as a custom
// transport or listener may report.
type strAddr struct{ network, s string }

func (a strAddr) Network() string { return a.network }
func (a strAddr) String() string  { return a.s }

func TestPeerIPKeys(t *testing.T) {
	trusted := mustResolver(t, keyfuncs.TrustProxies("10.0.0.0/8"))
	for _, c := range []struct {
		name string
		r    *keyfuncs.IPResolver
		ctx  context.Context
		key  string // "" : an error wrapping keyfuncs.ErrNoKey
	}{
		{"an IPv4 peer", nil, callCtx(&net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 5}), "192.0.2.1"},
		{"an IPv4 peer in 16 bytes", nil, callCtx(&net.TCPAddr{IP: net.ParseIP("192.0.2.1").To16(), Port: 5}), "192.0.2.1"},
		{"an IPv6 peer, keyed by its /64", nil, callCtx(&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2::9"), Port: 5}), "2001:db8:1:2::/64"},
		{"a zoned link-local peer", nil, callCtx(&net.TCPAddr{IP: net.ParseIP("fe80::1"), Zone: "eth0", Port: 5}), "fe80::/64"},
		{"a peer of another network, by its text", nil, callCtx(strAddr{"custom", "192.0.2.7:99"}), "192.0.2.7"},
		{"a bare address", nil, callCtx(strAddr{"custom", "192.0.2.8"}), "192.0.2.8"},
		{"a Unix socket", nil, callCtx(&net.UnixAddr{Name: "/tmp/s", Net: "unix"}), ""},
		{"a Unix socket named like an address", nil, callCtx(&net.UnixAddr{Name: "192.0.2.1:80", Net: "unix"}), ""},
		{"a TCP address without an IP", nil, callCtx(&net.TCPAddr{Port: 5}), ""},
		{"garbage", nil, callCtx(strAddr{"custom", "not an address"}), ""},
		{"no peer", nil, callCtx(nil), ""},
		{"a forged header, ignored", nil, callCtx(&net.TCPAddr{IP: net.ParseIP("192.0.2.1")}, "x-forwarded-for", "203.0.113.9"), "192.0.2.1"},
		{"a trusted proxy's header", trusted, callCtx(&net.TCPAddr{IP: net.ParseIP("10.0.0.1")}, "x-forwarded-for", "203.0.113.9"), "203.0.113.9"},
		{"a trusted proxy's header on two lines", trusted,
			callCtx(&net.TCPAddr{IP: net.ParseIP("10.0.0.1")}, "x-forwarded-for", "198.51.100.1, 203.0.113.9", "x-forwarded-for", "10.0.0.2"), "203.0.113.9"},
		{"a trusted proxy without the header", trusted, callCtx(&net.TCPAddr{IP: net.ParseIP("10.0.0.1")}), "10.0.0.1"},
		{"two hops, no peer needed", mustResolver(t, keyfuncs.TrustHops(2)), callCtx(nil, "x-forwarded-for", "203.0.113.9, 10.0.0.5"), "203.0.113.9"},
	} {
		t.Run(c.name, func(t *testing.T) {
			key, err := grpclimit.PeerIP(c.r)(c.ctx, emptyCall)
			if c.key == "" {
				if !errors.Is(err, keyfuncs.ErrNoKey) || key != "" {
					t.Errorf("PeerIP = %q, %v; want an error wrapping keyfuncs.ErrNoKey", key, err)
				}
				return
			}
			if err != nil || key != c.key {
				t.Errorf("PeerIP = %q, %v; want %q", key, err, c.key)
			}
		})
	}
}

func TestMetadataKeys(t *testing.T) {
	byKey, err := grpclimit.Metadata("X-API-Key", 8)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		md   []string
		key  string
		err  error
	}{
		{"present", []string{"x-api-key", "k-1"}, "k-1", nil},
		{"at the cap", []string{"x-api-key", "12345678"}, "12345678", nil},
		{"missing", nil, "", keyfuncs.ErrNoKey},
		{"empty", []string{"x-api-key", ""}, "", keyfuncs.ErrNoKey},
		{"twice", []string{"x-api-key", "a", "x-api-key", "b"}, "", keyfuncs.ErrNoKey},
		{"over the cap", []string{"x-api-key", "123456789"}, "", keyfuncs.ErrKeyTooLong},
	} {
		t.Run(c.name, func(t *testing.T) {
			key, err := byKey(callCtx(nil, c.md...), emptyCall)
			if key != c.key || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
				t.Errorf("Metadata = %q, %v; want %q, %v", key, err, c.key, c.err)
			}
			if err != nil && strings.Contains(err.Error(), "123456789") {
				t.Errorf("the error %q quotes the value", err)
			}
		})
	}
	for _, c := range []struct {
		name   string
		maxLen int
		want   string
	}{
		{"", 8, "not a valid metadata key"},
		{"x api key", 8, "not a valid metadata key"},
		{":authority", 8, "not a valid metadata key"},
		{"x-ключ", 8, "not a valid metadata key"},
		{"grpc-timeout", 8, "gRPC's own"},
		{"x-api-key", 0, "maxLen must be at least 1"},
	} {
		if _, err := grpclimit.Metadata(c.name, c.maxLen); err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "grpclimit: Metadata(") {
			t.Errorf("Metadata(%q, %d): %v, want an error saying %q", c.name, c.maxLen, err, c.want)
		}
	}
	if _, err := grpclimit.Metadata("tenant-bin", 8); err != nil {
		t.Errorf("Metadata(tenant-bin): %v, want a binary key accepted", err)
	}
}

func TestMethodAndCompose(t *testing.T) {
	ctx := callCtx(&net.TCPAddr{IP: net.ParseIP("192.0.2.1")}, "tenant", "acme")
	if k, err := grpclimit.Method()(ctx, emptyCall); k != emptyCall || err != nil {
		t.Errorf("Method = %q, %v; want the full method", k, err)
	}
	if _, err := grpclimit.Method()(ctx, ""); !errors.Is(err, keyfuncs.ErrNoKey) {
		t.Errorf("Method without a method: %v, want keyfuncs.ErrNoKey", err)
	}
	byTenant, err := grpclimit.Metadata("tenant", 16)
	if err != nil {
		t.Fatal(err)
	}
	both, err := grpclimit.Compose(grpclimit.PeerIP(nil), grpclimit.Method(), byTenant)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := both(ctx, emptyCall); k != keyfuncs.Join("192.0.2.1", emptyCall, "acme") || err != nil {
		t.Errorf("Compose = %q, %v; want the three parts joined by keyfuncs.Join", k, err)
	}
	if _, err := both(callCtx(&net.TCPAddr{IP: net.ParseIP("192.0.2.1")}), emptyCall); !errors.Is(err, keyfuncs.ErrNoKey) || !strings.Contains(err.Error(), "part 2") {
		t.Errorf("Compose without the tenant: %v, want keyfuncs.ErrNoKey naming part 2", err)
	}
	empty := func(context.Context, string) (string, error) { return "", nil }
	both, _ = grpclimit.Compose(grpclimit.Method(), empty)
	if _, err := both(ctx, emptyCall); !errors.Is(err, keyfuncs.ErrNoKey) {
		t.Errorf("Compose with an empty part: %v, want keyfuncs.ErrNoKey", err)
	}
	if _, err := grpclimit.Compose(); err == nil {
		t.Error("Compose(): no error")
	}
	if _, err := grpclimit.Compose(grpclimit.Method(), nil); err == nil || !strings.Contains(err.Error(), "key func 1 is nil") {
		t.Errorf("Compose with a nil func: %v", err)
	}
}
