package grpclimit

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/tollgate-go/tollgate/keyfuncs"
)

// KeyFunc returns the rate-limit key of a call to fullMethod
// ("/pkg.Service/Method") from what ctx carries: the peer, the incoming
// metadata, or what an authentication interceptor before the limit stored.
// It is keyfuncs.KeyFunc for gRPC, under the same contract: it never
// returns an empty key with a nil error, and an error saying the call
// carries no key wraps keyfuncs.ErrNoKey. Every error a KeyFunc returns
// refuses the call (codes.InvalidArgument by default, as HTTP answers 400);
// none puts it in a bucket shared with other unkeyed calls.
//
// The zero value is nil, which no option accepts.
type KeyFunc func(ctx context.Context, fullMethod string) (string, error)

// PeerIP returns a KeyFunc whose key is the client address of the call, as
// r finds it (nil: the zero resolver, which keys by the connection's address
// alone and reads no metadata). It calls r.KeyFromPeer with the peer's
// address and the call's incoming metadata as the header lookup, so a
// resolver that trusts proxies (keyfuncs.TrustProxies, TrustHops,
// TrustHeader) reads x-forwarded-for, forwarded or the trusted header from
// metadata by exactly the rules and code it applies to HTTP requests: one
// resolver can serve a service's HTTP and gRPC sides, its trust declared
// once. Keys are those of keyfuncs.IPResolver.Key ("192.0.2.1",
// "2001:db8:1:2::/64").
//
// A peer without an IP address (a Unix socket, an in-memory listener) is
// refused with an error wrapping keyfuncs.ErrNoKey, as an HTTP request
// without a remote address is, unless r counts hops (TrustHops), which
// never consults the peer.
func PeerIP(r *keyfuncs.IPResolver) KeyFunc {
	if r == nil {
		r = new(keyfuncs.IPResolver)
	}
	if !r.ReadsHeaders() {
		return func(ctx context.Context, _ string) (string, error) {
			return r.KeyFromPeer(peerAddr(ctx), nil)
		}
	}
	return func(ctx context.Context, _ string) (string, error) {
		return r.KeyFromPeer(peerAddr(ctx), func(name string) []string {
			return metadata.ValueFromIncomingContext(ctx, metadataName(name))
		})
	}
}

// metadataName is the gRPC metadata key of an HTTP header name as the
// resolver asks for it (canonical case): metadata keys are lower case.
func metadataName(name string) string {
	switch name {
	case "X-Forwarded-For":
		return "x-forwarded-for"
	case "Forwarded":
		return "forwarded"
	}
	return strings.ToLower(name)
}

// peerAddr returns the IP address of the call's peer, or the zero Addr when
// it has none.
func peerAddr(ctx context.Context) netip.Addr {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return netip.Addr{}
	}
	switch a := p.Addr.(type) {
	case *net.TCPAddr:
		return a.AddrPort().Addr()
	case *net.UnixAddr:
		return netip.Addr{} // a path is no address, whatever it reads like
	}
	s := p.Addr.String()
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr()
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a
	}
	return netip.Addr{}
}

// Metadata returns a KeyFunc whose key is the value of the incoming
// metadata name (an API key, a tenant id), at most maxLen bytes: the gRPC
// form of keyfuncs.Header, with its rules. A call without the key, with an
// empty value or with several values is refused with an error wrapping
// keyfuncs.ErrNoKey; a longer value with keyfuncs.ErrKeyTooLong (which
// wraps ErrNoKey), never truncated. Errors name the key but never quote
// its value, which may be a secret.
//
// name is matched as gRPC stores metadata, in lower case; it must be a
// valid metadata key (letters, digits, '-', '_' and '.'; a "-bin" key's
// value is its decoded bytes) and not one of gRPC's own ("grpc-" keys).
// Metadata returns an error naming the fault for an invalid name or a
// maxLen below 1.
//
// As with HTTP headers, the value is the client's own text: key only by
// metadata that an authentication step has checked, and prefer the
// principal it found (a KeyFunc reading ctx) to the credential.
func Metadata(name string, maxLen int) (KeyFunc, error) {
	key := strings.ToLower(name)
	if !validMetadataKey(key) {
		return nil, fmt.Errorf("grpclimit: Metadata(%q): not a valid metadata key", name)
	}
	if strings.HasPrefix(key, "grpc-") {
		return nil, fmt.Errorf("grpclimit: Metadata(%q): grpc- keys are gRPC's own", name)
	}
	if maxLen < 1 {
		return nil, fmt.Errorf("grpclimit: Metadata(%q, %d): maxLen must be at least 1", name, maxLen)
	}
	return func(ctx context.Context, _ string) (string, error) {
		vs := metadata.ValueFromIncomingContext(ctx, key)
		switch {
		case len(vs) == 0 || len(vs) == 1 && vs[0] == "":
			return "", fmt.Errorf("%w: metadata %s missing or empty", keyfuncs.ErrNoKey, key)
		case len(vs) > 1:
			return "", fmt.Errorf("%w: metadata %s sent %d times", keyfuncs.ErrNoKey, key, len(vs))
		case len(vs[0]) > maxLen:
			return "", fmt.Errorf("%w: metadata %s is %d bytes, more than %d", keyfuncs.ErrKeyTooLong, key, len(vs[0]), maxLen)
		}
		return vs[0], nil
	}, nil
}

// validMetadataKey reports whether key is a gRPC metadata key in lower
// case: 1*( %x30-39 / %x61-7A / "_" / "-" / ".") in the gRPC over HTTP/2
// specification.
func validMetadataKey(key string) bool {
	if key == "" {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Method returns a KeyFunc whose key is the call's full method
// ("/pkg.Service/Method"): one bucket per method for every client, to
// protect what a method costs the server. Combine it with a client identity
// (Compose) for one bucket per client and method.
func Method() KeyFunc {
	return func(_ context.Context, fullMethod string) (string, error) {
		if fullMethod == "" {
			return "", fmt.Errorf("%w: the call has no method", keyfuncs.ErrNoKey)
		}
		return fullMethod, nil
	}
}

// Compose returns a KeyFunc whose key joins the keys of fns, in order, with
// keyfuncs.Join (unambiguous whatever the parts hold): per client and
// method is Compose(PeerIP(nil), Method()). The first error of a part is
// returned, wrapped with its index; a part returning an empty key with a
// nil error is refused with keyfuncs.ErrNoKey.
//
// Compose returns an error when fns is empty or holds a nil func.
func Compose(fns ...KeyFunc) (KeyFunc, error) {
	if len(fns) == 0 {
		return nil, fmt.Errorf("grpclimit: Compose: no key funcs")
	}
	for i, f := range fns {
		if f == nil {
			return nil, fmt.Errorf("grpclimit: Compose: key func %d is nil", i)
		}
	}
	fns = append([]KeyFunc(nil), fns...)
	return func(ctx context.Context, fullMethod string) (string, error) {
		var partsBuf [4]string
		parts := partsBuf[:0]
		for i, f := range fns {
			k, err := f(ctx, fullMethod)
			if err != nil {
				return "", fmt.Errorf("grpclimit: Compose part %d: %w", i, err)
			}
			if k == "" {
				return "", fmt.Errorf("%w: Compose part %d returned an empty key", keyfuncs.ErrNoKey, i)
			}
			parts = append(parts, k)
		}
		return keyfuncs.Join(parts...), nil
	}, nil
}
