package keyfuncs

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// Canonical names of the proxy headers, so lookups index the map directly.
const (
	headerXFF       = "X-Forwarded-For"
	headerForwarded = "Forwarded"
)

// IPResolver finds the client address of a request, and its rate-limit key.
// It is built by NewIPResolver, immutable afterwards, and safe for
// concurrent use. The zero value is the default resolver.
//
// Without options it uses the connection's remote address only. The options
// TrustProxies, TrustHops and TrustHeader let it read proxy headers; see the
// package documentation, "Trusting proxy headers".
type IPResolver struct {
	trusted   []netip.Prefix // normalised: masked, IPv4 ranges unmapped
	ranges    bool           // trusted-ranges mode (TrustProxies)
	hops      int            // trusted-count mode when > 0 (TrustHops)
	header    string         // canonical single-IP header (TrustHeader), or ""
	forwarded bool           // read Forwarded, not X-Forwarded-For
	v4Bits    int            // 0 means 32
	v6Bits    int            // 0 means 64
	nat64     []netip.Prefix // NAT64 prefixes unwrapped, when nat64Set
	nat64Set  bool           // false: defaultNAT64
}

// IPOption configures an IPResolver. Options are checked by NewIPResolver,
// which returns the first error. A nil IPOption is not allowed.
type IPOption interface {
	apply(*ipConfig) error
}

type ipConfig struct {
	trusted   []netip.Prefix
	ranges    bool
	hops      int
	header    string
	forwarded bool
	v4Bits    int // 0 until set; IPResolver.Key applies the default
	v6Bits    int
	nat64     []netip.Prefix
	nat64Set  bool
}

type ipOption func(*ipConfig) error

func (o ipOption) apply(c *ipConfig) error { return o(c) }

// TrustProxies trusts the proxies in the given ranges: CIDR prefixes
// ("10.0.0.0/8", "2001:db8::/32") or single addresses ("192.0.2.7", taken as
// /32 or /128). When the connection comes from one of them, the client is
// read from X-Forwarded-For (or Forwarded, with FromForwarded), walking from
// the right past every trusted address. It may be given several times; the
// ranges add up; with none, no peer is trusted. A string that is neither an
// address nor a prefix is an error naming it.
//
// Write IPv4 ranges as IPv4: an IPv4-mapped range ("::ffff:10.0.0.0/104")
// is taken as its IPv4 equivalent, as is a range inside a /96 NAT64 prefix
// ("64:ff9b::a00:0/104"), but an IPv6 range shorter than /96 (such as
// "::/0") matches IPv6 addresses only, since IPv4 peers, mapped or seen
// through NAT64, are unmapped before they are checked. A range inside a
// NAT64 prefix of another length is refused by NewIPResolver.
func TrustProxies(cidrs ...string) IPOption {
	return ipOption(func(c *ipConfig) error {
		for _, s := range cidrs {
			s = strings.TrimSpace(s)
			var p netip.Prefix
			if strings.Contains(s, "/") {
				var err error
				if p, err = netip.ParsePrefix(s); err != nil {
					return fmt.Errorf("keyfuncs: TrustProxies: %q is not a CIDR prefix: %w", s, err)
				}
			} else {
				a, err := netip.ParseAddr(s)
				if err != nil {
					return fmt.Errorf("keyfuncs: TrustProxies: %q is not an IP address or CIDR prefix", s)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			c.trusted = append(c.trusted, normalisePrefix(p))
		}
		c.ranges = true
		return nil
	})
}

// TrustProxyPrefixes is TrustProxies for parsed prefixes. An invalid
// (zero) prefix is an error.
func TrustProxyPrefixes(prefixes ...netip.Prefix) IPOption {
	return ipOption(func(c *ipConfig) error {
		for i, p := range prefixes {
			if !p.IsValid() {
				return fmt.Errorf("keyfuncs: TrustProxyPrefixes: prefix %d is invalid", i)
			}
			c.trusted = append(c.trusted, normalisePrefix(p))
		}
		c.ranges = true
		return nil
	})
}

// TrustHops says that exactly n trusted proxies stand in front of the
// server, each appending its peer's address to X-Forwarded-For (or
// Forwarded, with FromForwarded): the client is then the n-th entry from the
// right, whatever the connection's address. A request with fewer entries is
// refused: it did not come through the proxies. n must be at least 1, and
// TrustHops excludes TrustProxies and TrustHeader.
//
// Use it only when every request must pass the n proxies (the server is not
// reachable otherwise): a client that reaches the server directly chooses its
// own key.
func TrustHops(n int) IPOption {
	return ipOption(func(c *ipConfig) error {
		if n < 1 || n > MaxProxyEntries {
			return fmt.Errorf("keyfuncs: TrustHops(%d): n must be in 1..%d (MaxProxyEntries)", n, MaxProxyEntries)
		}
		c.hops = n
		return nil
	})
}

// TrustHeader names a header that holds the single client address set by a
// trusted proxy or CDN, such as "CF-Connecting-IP" or "X-Real-IP". It is
// honoured only when the connection comes from a range given to
// TrustProxies, which it requires; if repeated, its last line counts; a
// value that is not one address (with an optional port), or is longer than
// MaxProxyEntryLen bytes, refuses the request. When a trusted peer sends no
// such header, the X-Forwarded-For (or Forwarded) walk of TrustProxies
// applies, so traffic from a trusted proxy that does not set the header is
// still told apart.
//
// X-Forwarded-For and Forwarded are lists, not single-IP headers: trust them
// with TrustProxies or TrustHops instead.
func TrustHeader(name string) IPOption {
	return ipOption(func(c *ipConfig) error {
		if !isToken(name) {
			return fmt.Errorf("keyfuncs: TrustHeader(%q): not a valid header name", name)
		}
		key := http.CanonicalHeaderKey(name)
		if key == headerXFF || key == headerForwarded {
			return fmt.Errorf("keyfuncs: TrustHeader(%q): a list header; use TrustProxies or TrustHops", name)
		}
		c.header = key
		return nil
	})
}

// FromForwarded makes the trusted modes read the RFC 7239 Forwarded header
// (its for= parameters) instead of X-Forwarded-For. It requires TrustProxies
// or TrustHops.
func FromForwarded() IPOption {
	return ipOption(func(c *ipConfig) error {
		c.forwarded = true
		return nil
	})
}

// IPv6Prefix sets how many leading bits of an IPv6 client address make its
// key (1 to 128; default 64). One host commonly holds a whole /64, so
// keying by the full address would give it 2^64 buckets.
func IPv6Prefix(bits int) IPOption {
	return ipOption(func(c *ipConfig) error {
		if bits < 1 || bits > 128 {
			return fmt.Errorf("keyfuncs: IPv6Prefix(%d): bits must be in 1..128", bits)
		}
		c.v6Bits = bits
		return nil
	})
}

// IPv4Prefix sets how many leading bits of an IPv4 client address make its
// key (1 to 32; default 32, the address itself).
func IPv4Prefix(bits int) IPOption {
	return ipOption(func(c *ipConfig) error {
		if bits < 1 || bits > 32 {
			return fmt.Errorf("keyfuncs: IPv4Prefix(%d): bits must be in 1..32", bits)
		}
		c.v4Bits = bits
		return nil
	})
}

// defaultNAT64 are the NAT64 prefixes unwrapped unless NAT64Prefixes says
// otherwise: RFC 6052's well-known prefix, and the first /96 of RFC 8215's
// local-use 64:ff9b:1::/48. Both have the /96 format, IPv4 in the last 32
// bits; within 64:ff9b:1::/96 no other RFC 6052 format can embed an IPv4
// address outside 0.0.0.0/8, so reading it as /96 cannot misplace one.
var defaultNAT64 = []netip.Prefix{
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/96"),
}

// NAT64Prefixes names the NAT64 prefixes (RFC 6052) through which IPv4
// clients reach this server as IPv6 addresses: a stateless translator in
// front of an IPv6-only service (SIIT-DC, RFC 7755) shows the IPv4 client
// 192.0.2.1 as 64:ff9b::c000:201. An address in one of these prefixes is
// taken as the IPv4 address embedded in it, before any trust check or
// keying, as an IPv4-mapped address is: each IPv4 client keeps its own key,
// where the /64 rule would put every client of the translator in one bucket.
//
// By default (without this option, and in the zero IPResolver) the
// well-known prefix 64:ff9b::/96 and 64:ff9b:1::/96, the first /96 of RFC
// 8215's local-use 64:ff9b:1::/48, are unwrapped. A translator on another
// prefix (your own network-specific prefix, or a longer one carved from
// 64:ff9b:1::/48) must be named here, with its length: 32, 40, 48, 56, 64 or
// 96 bits, which says where the IPv4 bits lie (RFC 6052 section 2.2). The
// given prefixes replace the default list; the option may be given several
// times, the lists adding up; NAT64Prefixes() with no prefix unwraps none.
//
// 6to4 (2002::/16) and Teredo (2001::/32) addresses are not unwrapped: they
// are tunnels set up by the remote host, not translations made by your
// network, and the IPv4 address they carry names a tunnel endpoint (a 6to4
// router, a Teredo server or the client's NAT) that the host chose or
// shares, not the client. They are keyed like any IPv6 address.
func NAT64Prefixes(cidrs ...string) IPOption {
	return ipOption(func(c *ipConfig) error {
		if !c.nat64Set {
			c.nat64, c.nat64Set = []netip.Prefix{}, true
		}
		for _, s := range cidrs {
			p, err := netip.ParsePrefix(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("keyfuncs: NAT64Prefixes: %q is not a CIDR prefix: %w", s, err)
			}
			if !p.Addr().Is6() || p.Addr().Is4In6() {
				return fmt.Errorf("keyfuncs: NAT64Prefixes: %q is not an IPv6 prefix", s)
			}
			switch p.Bits() {
			case 32, 40, 48, 56, 64, 96:
			default:
				return fmt.Errorf("keyfuncs: NAT64Prefixes: %q: the length must be 32, 40, 48, 56, 64 or 96 (RFC 6052)", s)
			}
			c.nat64 = append(c.nat64, p.Masked())
		}
		return nil
	})
}

// NewIPResolver returns a resolver configured by opts. It returns the first
// option's error, or an error for options that contradict each other.
func NewIPResolver(opts ...IPOption) (*IPResolver, error) {
	var c ipConfig
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("keyfuncs: NewIPResolver: nil option")
		}
		if err := o.apply(&c); err != nil {
			return nil, err
		}
	}
	switch {
	case c.hops > 0 && c.ranges:
		return nil, errors.New("keyfuncs: TrustHops and TrustProxies exclude each other: count the hops or check the ranges")
	case c.header != "" && len(c.trusted) == 0:
		return nil, fmt.Errorf("keyfuncs: TrustHeader(%q) requires TrustProxies ranges: anyone could send it otherwise", c.header)
	case c.forwarded && c.hops == 0 && !c.ranges:
		return nil, errors.New("keyfuncs: FromForwarded requires TrustProxies or TrustHops")
	}
	nat64 := defaultNAT64
	if c.nat64Set {
		nat64 = c.nat64
	}
	for i, t := range c.trusted {
		for _, p := range nat64 {
			if !t.Addr().Is6() || t.Bits() < p.Bits() || !p.Contains(t.Addr()) {
				continue
			}
			// Addresses in p are checked as the IPv4 they embed, so a
			// trusted range inside it must be that IPv4 range.
			if p.Bits() != 96 {
				return nil, fmt.Errorf("keyfuncs: trusted range %s lies in the NAT64 prefix %s, whose addresses are checked as IPv4: write it as an IPv4 range", t, p)
			}
			c.trusted[i] = netip.PrefixFrom(embeddedIPv4(t.Addr(), 96), t.Bits()-96)
		}
	}
	return &IPResolver{
		trusted:   c.trusted,
		ranges:    c.ranges,
		hops:      c.hops,
		header:    c.header,
		forwarded: c.forwarded,
		v4Bits:    c.v4Bits,
		v6Bits:    c.v6Bits,
		nat64:     c.nat64,
		nat64Set:  c.nat64Set,
	}, nil
}

// IP returns the Key method of a resolver configured by opts: the client
// address, masked to its prefix. See IPResolver.Key.
func IP(opts ...IPOption) (KeyFunc, error) {
	r, err := NewIPResolver(opts...)
	if err != nil {
		return nil, err
	}
	return r.Key, nil
}

// ClientIP returns the client address of req: unmapped (an IPv4-mapped IPv6
// address is returned as IPv4, as is an address in a NAT64 prefix, see
// NAT64Prefixes) and without zone. When it cannot be determined, the error
// wraps ErrNoKey and says why. It is ClientIPFromPeer with the address of
// req.RemoteAddr and req's header.
func (r *IPResolver) ClientIP(req *http.Request) (netip.Addr, error) {
	if req == nil {
		return netip.Addr{}, fmt.Errorf("%w: nil request", ErrNoKey)
	}
	header := headerMap(req.Header).values
	if r.hops > 0 {
		// The peer is not consulted, so this works behind a proxy that
		// connects over a Unix socket (RemoteAddr "@" or "").
		return r.nthFromRight(header)
	}
	peer, ok := r.parse(req.RemoteAddr)
	if !ok {
		return netip.Addr{}, fmt.Errorf("%w: remote address %s is not an IP address", ErrNoKey, quote(req.RemoteAddr))
	}
	return r.fromPeer(peer, header)
}

// ClientIPFromPeer is ClientIP for a request that is not an *http.Request
// (a gRPC call, say): peer is the connection's address (an
// AddrPort's Addr; the zero Addr when the connection has none, as over a
// Unix socket), and header returns the values of a request header, all its
// lines in order, or none. header is called only with the canonical names
// of the headers the resolver trusts ("X-Forwarded-For", "Forwarded", the
// TrustHeader name), so http.Header.Values and gRPC's metadata.MD.Get fit
// as they are; nil means the request has no headers. The rules are those of
// ClientIP, applied by the same code: the peer is normalised as RemoteAddr
// is, then trusted or not, and the forwarded values are walked from the
// right within MaxProxyEntries and MaxProxyEntryLen.
func (r *IPResolver) ClientIPFromPeer(peer netip.Addr, header func(name string) []string) (netip.Addr, error) {
	if header == nil {
		header = noHeader
	}
	if r.hops > 0 {
		return r.nthFromRight(header)
	}
	if !peer.IsValid() {
		return netip.Addr{}, fmt.Errorf("%w: the peer has no IP address", ErrNoKey)
	}
	return r.fromPeer(r.unwrap(peer.WithZone("").Unmap()), header)
}

// fromPeer returns the client of a request from peer (parsed and
// normalised) outside TrustHops mode.
func (r *IPResolver) fromPeer(peer netip.Addr, header func(string) []string) (netip.Addr, error) {
	if !r.ranges || !r.isTrusted(peer) {
		return peer, nil // default mode, or a peer that is not one of our proxies
	}
	if r.header != "" {
		if vs := header(r.header); len(vs) > 0 {
			v := vs[len(vs)-1]
			if len(v) > MaxProxyEntryLen {
				return netip.Addr{}, fmt.Errorf("%w: %s is longer than %d bytes", ErrNoKey, r.header, MaxProxyEntryLen)
			}
			a, ok := r.parse(trimOWS(v))
			if !ok {
				return netip.Addr{}, fmt.Errorf("%w: %s %s is not an IP address", ErrNoKey, r.header, quote(v))
			}
			return a, nil
		}
	}
	return r.walk(header, peer)
}

// headerMap reads an http.Header by canonical name, as the resolver asks.
type headerMap http.Header

func (h headerMap) values(name string) []string { return h[name] }

func noHeader(string) []string { return nil }

// Key returns the rate-limit key of req: its client address masked to the
// IPv4 or IPv6 prefix length and formatted canonically. A full-length prefix
// gives the address ("192.0.2.1", "2001:db8::1"); a shorter one the prefix
// ("192.0.0.0/16", "2001:db8:1:2::/64", the IPv6 default). Keys are built
// from parsed addresses, never from header text. Errors are those of
// ClientIP.
func (r *IPResolver) Key(req *http.Request) (string, error) {
	if r.hops == 0 && !r.ranges && req != nil && (r.v4Bits == 0 || r.v4Bits == 32) {
		// The common case, a direct IPv4 client keyed by its address: the
		// text of a valid dotted quad is already canonical (ParseAddr
		// refuses leading zeros), so it is the key as it stands, with no
		// formatting and no allocation.
		if host, ok := plainIPv4(req.RemoteAddr); ok {
			return host, nil
		}
	}
	a, err := r.ClientIP(req)
	if err != nil {
		return "", err
	}
	return r.key(a)
}

// ReadsHeaders reports whether r reads proxy headers (TrustProxies,
// TrustHops or TrustHeader), as opposed to the peer's address alone.
func (r *IPResolver) ReadsHeaders() bool { return r.ranges || r.hops > 0 || r.header != "" }

// KeyFromPeer is Key for a request that is not an *http.Request: the key of
// the client ClientIPFromPeer finds.
func (r *IPResolver) KeyFromPeer(peer netip.Addr, header func(name string) []string) (string, error) {
	a, err := r.ClientIPFromPeer(peer, header)
	if err != nil {
		return "", err
	}
	return r.key(a)
}

// key formats a client address as its key.
func (r *IPResolver) key(a netip.Addr) (string, error) {
	bits := cmp.Or(r.v6Bits, 64)
	if a.Is4() {
		bits = cmp.Or(r.v4Bits, 32)
	}
	if bits == a.BitLen() {
		return a.String(), nil
	}
	p, err := a.Prefix(bits) // cannot fail: bits is in range and a has no zone
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoKey, err)
	}
	var buf [64]byte
	return string(p.AppendTo(buf[:0])), nil
}

// plainIPv4 returns the host of a remote address "a.b.c.d:port" (or
// "a.b.c.d") when it is a valid IPv4 address, whose text is then canonical.
// It reads the address in one pass and accepts exactly the dotted quads
// netip.ParseAddr accepts (four fields of 0 to 255 without leading zeros;
// TestPlainIPv4AgreesWithParseAddr holds it to that), at a third of its
// cost: it runs on every request.
func plainIPv4(remote string) (string, bool) {
	dots, v, digits := 0, 0, 0
	for i := 0; i < len(remote); i++ {
		switch c := remote[i]; {
		case '0' <= c && c <= '9':
			if digits == 1 && v == 0 {
				return "", false // a leading zero
			}
			if v = v*10 + int(c-'0'); v > 255 {
				return "", false
			}
			digits++
		case c == '.':
			if digits == 0 || dots == 3 {
				return "", false
			}
			dots, v, digits = dots+1, 0, 0
		case c == ':':
			if dots != 3 || digits == 0 || !validPort(remote[i+1:]) {
				return "", false
			}
			return remote[:i], true
		default:
			return "", false
		}
	}
	if dots != 3 || digits == 0 {
		return "", false
	}
	return remote, true
}

// list returns the entries of the proxy header in force, to be read from the
// right.
func (r *IPResolver) list(header func(string) []string) (name string, l proxyList) {
	if r.forwarded {
		return headerForwarded, proxyList{lines: header(headerForwarded), forwarded: true}
	}
	return headerXFF, proxyList{lines: header(headerXFF)}
}

// walk returns the rightmost entry of the proxy header that is not in a
// trusted range: everything to its right was written by our proxies, and
// everything to its left by the client, who may forge it. An unparsable entry
// before that point refuses the request: what lies left of it cannot be
// vouched for. If every entry is trusted the request started inside, and the
// leftmost entry is returned: it lies in a trusted range, so a forger can at
// worst share an internal host's bucket, never pick an arbitrary key. Without
// the header, the peer (a trusted proxy) is the client. Entries are read
// from the right and no further than needed, within MaxProxyEntries.
func (r *IPResolver) walk(header func(string) []string, peer netip.Addr) (netip.Addr, error) {
	name, l := r.list(header)
	a := peer
	for n := 1; ; n++ {
		e, st := l.next()
		if st == listEnd {
			return a, nil
		}
		if st != listEntry {
			return netip.Addr{}, listError(name, n, st)
		}
		var ok bool
		if a, ok = r.parse(e); !ok {
			return netip.Addr{}, fmt.Errorf("%w: %s entry %d from the right, %s, is not an IP address", ErrNoKey, name, n, quote(e))
		}
		if !r.isTrusted(a) {
			return a, nil
		}
	}
}

// nthFromRight returns the entry of the proxy header written by the
// outermost of r.hops trusted proxies. The entries to its right are counted,
// not parsed; those to its left are not read.
func (r *IPResolver) nthFromRight(header func(string) []string) (netip.Addr, error) {
	name, l := r.list(header)
	for n := 1; ; n++ {
		e, st := l.next()
		if st == listEnd {
			return netip.Addr{}, fmt.Errorf("%w: %s has %d entries, fewer than TrustHops(%d)", ErrNoKey, name, n-1, r.hops)
		}
		if st != listEntry {
			return netip.Addr{}, listError(name, n, st)
		}
		if n < r.hops {
			continue
		}
		a, ok := r.parse(e)
		if !ok {
			return netip.Addr{}, fmt.Errorf("%w: %s entry %d from the right, %s, is not an IP address", ErrNoKey, name, r.hops, quote(e))
		}
		return a, nil
	}
}

// listError is the error of a walk that stopped at entry n for st.
func listError(name string, n int, st listStep) error {
	switch st {
	case listTooLong:
		return fmt.Errorf("%w: %s entry %d from the right is longer than %d bytes", ErrNoKey, name, n, MaxProxyEntryLen)
	case listCapped:
		return fmt.Errorf("%w: %s goes on past the %d list elements read from the right", ErrNoKey, name, MaxProxyEntries)
	}
	return fmt.Errorf("%w: %s has no entry %d", ErrNoKey, name, n) // not reached: the end is an answer
}

// parse is parseNode, and then unwrap.
func (r *IPResolver) parse(s string) (netip.Addr, bool) {
	a, ok := parseNode(s)
	if !ok {
		return a, false
	}
	return r.unwrap(a), true
}

// unwrap returns the IPv4 address embedded in a (unmapped and zone-free)
// when a lies in one of the resolver's NAT64 prefixes, else a.
func (r *IPResolver) unwrap(a netip.Addr) netip.Addr {
	if !a.Is6() {
		return a
	}
	nat64 := defaultNAT64
	if r.nat64Set {
		nat64 = r.nat64
	}
	for _, p := range nat64 {
		if p.Contains(a) {
			return embeddedIPv4(a, p.Bits())
		}
	}
	return a
}

// embeddedIPv4 returns the IPv4 address that a NAT64 prefix of the given
// length embeds in a: the 32 bits after the prefix, skipping bits 64 to 71
// (RFC 6052 section 2.2). The bits after them, zero in a translator's
// addresses, are ignored, so no more than one key per IPv4 address results.
func embeddedIPv4(a netip.Addr, bits int) netip.Addr {
	b := a.As16()
	var v4 [4]byte
	j := bits / 8
	for i := range v4 {
		if j == 8 {
			j++
		}
		v4[i] = b[j]
		j++
	}
	return netip.AddrFrom4(v4)
}

func (r *IPResolver) isTrusted(a netip.Addr) bool {
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// normalisePrefix masks p and unmaps an IPv4-mapped range (/96 or longer),
// so that it can contain the unmapped, zone-free addresses it is tested on.
func normalisePrefix(p netip.Prefix) netip.Prefix {
	p = p.Masked()
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p
}

// quote quotes s for an error message, cut to 64 bytes: header text is
// the client's and may be huge.
func quote(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "…"
	}
	return strconv.Quote(s)
}
