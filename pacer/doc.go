// Package pacer is the client side of rate limiting: an http.RoundTripper
// that reads the rate-limit fields of the responses it carries and paces
// the next requests by them, so that a program calling a rate-limited API
// is not refused in the first place; and that, when it is refused with
// Retry-After anyway, sends the request again after the delay asked for.
//
//	t, err := pacer.New(nil) // over http.DefaultTransport
//	if err != nil {
//		return err
//	}
//	client := &http.Client{Transport: t} // share it: every goroutine's requests are counted together
//	res, err := client.Get("https://api.example.com/items")
//
// It needs only the standard library, and works with any server that
// sends one of the fields below: tollgate's, or anyone's.
//
// # What it reads
//
// Of each response, the newest family of fields it carries (servers that
// send several, as tollgate does, describe the same limits in each):
//
//   - RateLimit and RateLimit-Policy of draft-ietf-httpapi-ratelimit-headers
//     -08 to -11 (the newest, whose syntax is -10's): Structured Fields
//     Lists of policies named by a String, RateLimit: "per-ip";r=0;t=12
//     (r remaining, t seconds until more quota), RateLimit-Policy giving a
//     policy's window w where RateLimit omits t;
//   - RateLimit of draft -07, a Dictionary: limit=100, remaining=0, reset=12;
//   - RateLimit-Remaining and RateLimit-Reset, of draft -06 and before;
//   - X-RateLimit-Remaining and X-RateLimit-Reset (or X-Rate-Limit-…), the
//     common convention, whose Reset is delay seconds in some APIs and a
//     Unix time in others: a value of at least 1e9 is read as a Unix time
//     in seconds (no delay is 31 years long; every Unix time since 2001 is
//     larger), of at least 1e12 as one in milliseconds;
//
// and, on a 429 or 503, Retry-After in delay seconds or as an HTTP-date.
// Unix times and HTTP-dates are read against the response's Date field
// when it has one, so a server clock that differs from ours changes no
// wait.
//
// The state is kept per host (host and port) and per policy, and every
// policy of a host applies to every request to it: a request waits for the
// most restrictive. The fields that name no policy count as one each:
// "RateLimit" (draft -07 and before), "X-RateLimit", "Retry-After".
//
// # How it paces
//
// With r requests remaining and more quota t seconds later, the goroutines
// sharing a Transport together send no more than r before then: each
// request is counted against r before it is sent, and the answers are
// reconciled as they arrive, counting the requests still in flight as
// spent (the server may decide them after the answer it sent). A request
// that would exceed r waits until the quota comes back; then one request
// learns the new state, and its answer lets the others go. The first
// request to a host goes alone too, so that a burst of goroutines does not
// outrun a quota it does not know yet; the others wait at most a second
// for its answer (then go), so that a slow host is not served one request
// at a time. This holds as
// long as the Transport is the only client spending the quota; another
// client's requests show up as a refusal, which Retry-After handles.
//
// A request waits, honouring its context, at most the maximum wait in all
// (WithMaxWait, a minute by default): a wait that would end later fails
// at once with a *WaitError saying which policy and for how long, rather
// than sleeping. WithFailFast returns the *WaitError for any wait.
//
// # Retries
//
// A 429 or 503 with Retry-After is closed and the request sent again after
// the delay, up to WithMaxRetries times (2 by default) and within the
// maximum wait, when the request is idempotent (GET, HEAD, OPTIONS, TRACE,
// PUT, DELETE, or one with an Idempotency-Key header) and its body can be
// sent again (none, or GetBody set); otherwise the refused response is
// returned as it came.
//
// # Hostile fields
//
// A field that is not valid Structured Fields is ignored whole. A delay is
// read as at most 24 hours, and waiting is bounded by the maximum wait
// anyway; a negative remaining is read as 0. Of one response at most 64
// policies are read (the most restrictive), a host keeps at most
// WithMaxPolicies of them (16 by default) and the Transport at most
// WithMaxHosts hosts (1024), forgetting the one used least recently. A
// field of any length is read in time proportional to it and without
// memory for its members.
package pacer
