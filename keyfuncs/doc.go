// Package keyfuncs says who the client of an HTTP request is, as a
// rate-limit key: its IP address (or IPv6 prefix), a header such as an API
// key, the path, the route pattern, the method, or a composition of these.
//
// A KeyFunc returns a key or an error, never an empty key: a request whose
// client cannot be determined is refused (the error wraps ErrNoKey) rather
// than limited in a bucket shared by every such request.
//
// # One minute
//
//	byIP, err := keyfuncs.IP() // the connection's address; no header is read
//	if err != nil {
//		return err
//	}
//	key, err := byIP(r) // "192.0.2.1", or "2001:db8:1:2::/64" for IPv6
//
// Behind your own load balancer at 10.0.0.0/8:
//
//	byIP, err := keyfuncs.IP(keyfuncs.TrustProxies("10.0.0.0/8"))
//
// Per API key and route:
//
//	byKey, _ := keyfuncs.Header("X-API-Key", 128)
//	byBoth, _ := keyfuncs.Compose(byKey, keyfuncs.Pattern())
//
// Per API key, falling back to the client address for requests without one
// (the two never share a bucket):
//
//	byKey, _ := keyfuncs.Header("X-API-Key", 128)
//	byKeyOrIP, _ := keyfuncs.FirstOf(byKey, new(keyfuncs.IPResolver).Key)
//
// # Addresses and keys
//
// Every address, from the connection or a header, is normalised before it is
// checked or keyed: an IPv4-mapped IPv6 address (::ffff:192.0.2.1, as a
// dual-stack listener reports IPv4 peers) becomes IPv4, and an IPv6 zone
// (fe80::1%eth0) is dropped. Otherwise one client would have two keys, and
// netip.Prefix.Contains, which is false for mapped and zoned addresses,
// would fail to recognise a trusted proxy.
//
// An address in a NAT64 prefix (64:ff9b::/96 and 64:ff9b:1::/96 by default;
// see NAT64Prefixes) is the IPv4 address it embeds: a translator in front of
// an IPv6-only service shows every IPv4 client under one /64, and keyed as
// IPv6 they would all share one bucket. 6to4 and Teredo addresses are not
// unwrapped: the IPv4 address in them names a tunnel endpoint that the
// remote host chose, not a client your network saw.
//
// IPv4 clients are keyed by address ("192.0.2.1"); IPv6 clients by their
// /64 ("2001:db8:1:2::/64"), since a single host is commonly given a whole
// /64 and could otherwise use a fresh address per request. IPv4Prefix and
// IPv6Prefix change this. Keys are formatted from parsed addresses, never
// copied from headers, so a forged header cannot mint unbounded or odd keys.
//
// # Trusting proxy headers
//
// The client address is the first thing attackers forge. Any client can
// send "X-Forwarded-For: 1.2.3.4", and a limiter that believes it gives each
// request a bucket of the attacker's choosing: no limit at all, or someone
// else's limit spent. So by default no header is read: the key is the
// connection's remote address. That is right when clients connect directly,
// and wrong behind a proxy (every client then shares the proxy's address),
// which is when one of the following modes is needed. Pick the one that
// matches your deployment; none is safe if the server can also be reached
// without passing through the proxies.
//
// Trusted ranges (TrustProxies): when the connection comes from an address
// in the given ranges, X-Forwarded-For is read from the right: each proxy
// appends the address it received the request from, so entries written by
// your proxies sit on the right, and whatever the client sent sits on the
// left. Entries inside the trusted ranges are skipped and the first one
// outside them is the client. All X-Forwarded-For lines count, merged in
// order (reading only the first line, as Header.Get does, would read the
// line the client wrote). The leftmost entry is never taken while an
// untrusted entry lies to its right. A connection from outside the ranges is
// its own client, whatever its headers say. An entry that does not parse is
// an error, not a reason to keep walking into client-written text. If every
// entry is trusted, the request started inside your network and the
// leftmost entry is used; a missing header means the proxy itself is the
// client.
//
// Trusted count (TrustHops): exactly n proxies stand in front of the server
// and each appends to X-Forwarded-For, so the client is the n-th entry from
// the right. The connection's address is not checked (it may be a Unix
// socket), so the server must be unreachable except through those proxies.
// Fewer than n entries is an error.
//
// Trusted single-IP header (TrustHeader, with TrustProxies): a CDN such as
// Cloudflare puts the client address in its own header (CF-Connecting-IP).
// It is believed only on connections from the trusted ranges, whose list
// must then be the CDN's published ranges; if such a connection lacks the
// header, the X-Forwarded-For walk applies.
//
// FromForwarded makes the first two modes read the RFC 7239 Forwarded header
// (the for= parameter of each element) instead of X-Forwarded-For. "unknown"
// and obfuscated identifiers ("_hidden") are not addresses: met during the
// walk, they refuse the request. Elements are delimited from the right too,
// a quoted-string running from its closing quote back to its opening one, so
// the elements your proxies appended read the same whatever the client put
// to their left; an element whose quotes do not pair up refuses the request
// when the walk reaches it.
//
// The header's size is the client's choice (net/http accepts 1 MiB of
// header by default), so the walk reads it from the right and no further
// than it must, without copying it: at most MaxProxyEntries list elements
// (32; empty ones count), each at most MaxProxyEntryLen bytes (512), the
// value of a TrustHeader header likewise. A chain that goes on past the
// limit with every element trusted, or a longer element met by the walk,
// refuses the request; whatever lies left of the client is never read.
//
// # Other keys
//
// Header keys by a header's value, which must be present once and not longer
// than a cap; Path and Method by the request line; Pattern by the
// http.ServeMux pattern. Compose joins several keys unambiguously, with
// Join; FirstOf takes the first key found among several, namespaced by
// which func found it. Header and Path keys are chosen by the client: use
// them after authentication, or combined with an identity that is not.
//
// KeyFunc and ErrNoKey are the one key vocabulary of tollgate: the adapters
// and core/httplimit take a KeyFunc, and the rules module compiles its key
// specs ("ip", "header:X-API-Key", "route", joined by "+") to these funcs.
//
// # Requests that are not *http.Request
//
// The client address rules are not tied to net/http: ClientIPFromPeer and
// KeyFromPeer take the connection's address and a lookup of header values
// (gRPC's metadata.MD.Get fits), and run the code ClientIP and Key run.
package keyfuncs
