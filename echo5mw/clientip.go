package echo5mw

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/labstack/echo/v5"
	"github.com/tollgate-go/tollgate/keyfuncs"
)

// ClientIP returns a key func that keys a request by the address e's
// IPExtractor gives (echo.Context.RealIP), so that which proxies to trust is
// declared once, to echo:
//
//	e.IPExtractor = echo.ExtractIPFromXFFHeader(echo.TrustIPRange(proxies))
//	clientIP, err := echo5mw.ClientIP(e)
//	mw, err := echo5mw.New(l, httplimit.WithKeyFunc(clientIP))
//
// echo v5 without an IPExtractor uses the connection's address, which is
// safe; so is an extractor from echo.ExtractIPFromXFFHeader or
// ExtractIPFromRealIPHeader with your proxies as trust options. Do not use
// echo.LegacyIPExtractor, which believes the leftmost X-Forwarded-For entry:
// with it a client chooses its own bucket. The extractor is read on each
// request, so it may be set after the middleware is built.
//
// The address is keyed as keyfuncs.IP keys one (IPv6 clients by their /64
// unless IPv6Prefix says otherwise, NAT64 addresses unwrapped); the options
// may set those, but not which proxies to trust: TrustProxies, TrustHops and
// TrustHeader are refused, since echo decides that. An address the
// extractor returns that does not parse is refused with an error wrapping
// keyfuncs.ErrNoKey (400 by default), never keyed as text.
func ClientIP(e *echo.Echo, opts ...keyfuncs.IPOption) (keyfuncs.KeyFunc, error) {
	if e == nil {
		return nil, errors.New("echo5mw: ClientIP: nil *echo.Echo")
	}
	res, err := keyfuncs.NewIPResolver(opts...)
	if err != nil {
		return nil, fmt.Errorf("echo5mw: ClientIP: %w", err)
	}
	if res.ReadsHeaders() {
		return nil, errors.New("echo5mw: ClientIP: a trust option (TrustProxies, TrustHops, TrustHeader) given; echo's IPExtractor decides which proxies to trust")
	}
	return func(r *http.Request) (string, error) {
		if e.IPExtractor == nil {
			return res.Key(r) // the connection's address, as echo's RealIP
		}
		s := e.IPExtractor(r)
		a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
		if err != nil {
			return "", fmt.Errorf("%w: echo's IPExtractor gave %q, not an IP address", keyfuncs.ErrNoKey, truncate(s))
		}
		return res.KeyFromPeer(a, nil)
	}, nil
}

// truncate keeps an error message short whatever a header held.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
