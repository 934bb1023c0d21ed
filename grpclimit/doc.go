// Package grpclimit puts tollgate in front of a gRPC server: unary and
// stream server interceptors over the same core.Limiters as the HTTP
// adapters, and a client interceptor that honours the waits they send.
//
// # One minute
//
// The one-line form limits each client address in process memory:
//
//	lim := grpclimit.PerIP(core.PerSecond(100))
//	srv := grpc.NewServer(
//		grpc.ChainUnaryInterceptor(lim.Unary()),
//		grpc.ChainStreamInterceptor(lim.Stream()))
//
// The full form takes a core.Limiter (any store, name, failure policy) and
// options, and returns an error:
//
//	l, err := core.NewLimiter(store, core.PerMinute(600), core.WithName("api"))
//	lim, err := grpclimit.New(l,
//		grpclimit.WithMethod("/shop.Orders/Place", placeLimiter, nil), // its own limit
//		grpclimit.WithSkip(isHealthCheck))
//
// A client honours the waits with a ClientInterceptor:
//
//	ci, err := grpclimit.NewClientInterceptor() // 3 retries, 10s of waiting at most
//	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(creds),
//		grpc.WithChainUnaryInterceptor(ci.Unary()),
//		grpc.WithChainStreamInterceptor(ci.Stream()))
//
// # What a client sees
//
// The answers mirror the HTTP adapters' (package httplimit), code for
// status:
//
//	HTTP                          gRPC
//	admitted, fields set          handler runs; header: ratelimit-policy, ratelimit
//	429, Retry-After              ResourceExhausted; RetryInfo (the exact wait),
//	                              QuotaFailure (the limit); trailer: retry-after,
//	                              ratelimit-policy, ratelimit
//	503 (store down, fail-closed) Unavailable; RetryInfo 1s; trailer: retry-after
//	store down, fail-open         handler runs, no fields
//	400 (no key)                  InvalidArgument
//
// A denied call's status message is "quota exceeded; retry after N
// seconds"; its google.rpc.RetryInfo detail carries the wait exactly (the
// shortest after which the same call would be admitted), and its
// google.rpc.QuotaFailure detail names the denying limit (quota_id, the
// limiter's name; quota_value, its quota per window), never the key. The
// metadata values are those of the HTTP fields of the same names:
// retry-after is the wait in whole seconds, rounded up, at least 1;
// ratelimit-policy lists each limit as `"name";q=quota;w=window-seconds`;
// ratelimit each limit decided as `"name";r=remaining;t=seconds`
// (draft-ietf-httpapi-ratelimit-headers). Admitted calls carry theirs in the
// response header (WithoutHeaderFields turns that off); denied calls in the
// trailer, where gRPC puts a failed call's status.
//
// A call whose key cannot be read is refused, never counted in a bucket
// shared by every such call: a peer without an IP address (a Unix socket,
// an in-memory listener), missing metadata, metadata over its length cap
// or sent twice. HTTP answers these 400; gRPC's code for 400 is
// InvalidArgument. A key longer than a store accepts is answered alike.
// When the store fails, the limiter's failure policy decides exactly as it
// does for HTTP (core.WithFailOpen, core.WithFailClosed, the fallback of a
// Redis store). WithDenyHandler and WithErrorHandler replace the errors;
// the defaults never show internals.
//
// # Keys
//
// KeyFunc is keyfuncs.KeyFunc for gRPC: it reads the call's context (the
// peer, the incoming metadata, what an authentication interceptor stored)
// and returns a key or an error. PeerIP keys by the client address with a
// keyfuncs.IPResolver: the connection's address by default, and behind
// proxies you name, x-forwarded-for, forwarded or a trusted single-address
// header read from metadata by the resolver's own rules and code, so one
// resolver serves a service's HTTP and gRPC sides. Metadata keys by a
// metadata value with a length cap, Method by the full method, Compose
// joins several; any func of yours is a KeyFunc.
//
// # Methods and streams
//
// New's limiter applies to every call; WithMethod gives a full method
// ("/pkg.Service/Method") or a whole service ("/pkg.Service/") limits of
// its own instead, and WithSkip lets calls through undecided. Several
// limits of one call are taken together, all or nothing (core.TakeAll), as
// the HTTP adapters take them; a limiter in shadow mode decides and reports
// to its hook but never refuses.
//
// Opening a stream is decided as a unary call is, before its handler runs.
// With WithMessages each message the client sends on a stream is decided
// too, under the keys the stream was opened with: a denied message makes
// RecvMsg return the denial's error.
//
// # The client
//
// A ClientInterceptor retries a unary call refused with ResourceExhausted
// or Unavailable and a RetryInfo detail after the detail's delay, within a
// budget (WithRetries, WithMaxWait; never past the call's deadline, always
// honouring its context), and holds the method meanwhile, so that later
// calls wait instead of being refused. A wait it does not honour comes back
// at once as a *WaitError carrying it. Streams are held, never retried.
// A RetryInfo is read as a server's word, bounded: a negative or malformed
// delay is none, and none is waited for longer than the budget.
package grpclimit
