package storekit

import (
	"context"
	"time"

	"github.com/tollgate-go/tollgate/core"
)

// The interfaces below are what a store implements, beside core.Store, to
// offer more. A core.Limiter finds them in the store it is given by their
// methods (Go interfaces are satisfied structurally), so a store declares
// no dependency on them beyond a compile-time check:
//
//	var _ storekit.MultiStore = (*Store)(nil)

// PrefixTaker is implemented by stores that can take a key given in two
// parts, a prefix and the rest, without the caller joining them. A Limiter
// uses it when its store has it: a call through the core.Store interface
// makes a joined key escape to the heap, where the memory store joins the
// parts on its own stack, only when it keeps the key.
//
// TakePrefixed(ctx, prefix, key, limit, cost) must behave exactly as
// Take(ctx, prefix+key, limit, cost): the same state, the same errors.
// core/storetest checks that for stores that implement it. Its zero value
// is nil: a store that does not implement it is called through Take.
type PrefixTaker interface {
	TakePrefixed(ctx context.Context, prefix, key string, limit core.Limit, cost int64) (core.Decision, error)
}

// PreparedTaker is implemented by stores that can take under a limit
// prepared once, so that what every decision under it computes from the
// limit alone is computed once. A core.Limiter, whose limit is fixed,
// prepares it when it is made (and for each Tier) and uses TakePrepared
// when its store has it.
//
// PrepareLimit(l) validates l as core.Limit.Validate does (a
// LimitChecker's limits too), returning its error, and returns the limit
// prepared as the store likes it (Prepare makes one for Apply). The value
// is the store's: the caller only passes it back.
// TakePrepared(ctx, prepared, prefix, key, cost) must behave exactly as
// TakePrefixed(ctx, prefix, key, l, cost) for the l it was prepared from:
// the same state, the same decisions, the same errors for the key and the
// cost; a prepared value the store did not make is core.ErrInvalidLimit.
// core/storetest checks that for stores that implement it. Its zero value
// is nil: a store that does not implement it is called through
// TakePrefixed or Take.
type PreparedTaker interface {
	PrefixTaker
	PrepareLimit(l core.Limit) (any, error)
	TakePrepared(ctx context.Context, prepared any, prefix, key string, cost int64) (core.Decision, error)
}

// Settler is implemented by stores that can settle a cost known only after
// the request (core.Limiter.Settle): Settle(ctx, key, limit, delta) applies
// this package's Settle to key's state atomically and returns its
// decision. delta is at most the limit's burst either way; input is
// checked as CheckSettle checks it, with its errors. core/storetest checks
// Settle for stores that implement it. Its zero value is nil: a limiter
// over a store without it cannot settle (core.ErrNoSettle).
type Settler interface {
	Settle(ctx context.Context, key string, limit core.Limit, delta int64) (core.Decision, error)
}

// MultiStore is a core.Store that can apply several limits, each to its own
// key, in one atomic step: a request under several named limits (per IP and
// per tenant, say) is admitted by all of them or consumes none. core.TakeAll
// uses it when every limiter of a step keeps its state in one MultiStore.
//
// TakeMany decides every take at one instant and writes decisions[i] for
// takes[i] (the two slices have the same length). If every take is
// admitted, each is consumed and decisions[i] is what Take would have
// returned. If any is denied, no state changes at all: a denied take's
// decision is its denial, and every other decision is what a peek (cost 0)
// of its key shows, the state as it stays. Takes must not repeat a key.
//
// Every take is counted under its own key, the one Take uses: a store never
// keeps one take's state under another's key, so a limit counts the same
// whatever other limits share its steps, and the order of the takes does
// not matter. A store that cannot act atomically on every key of a step
// (Redis Cluster, whose scripts touch one hash slot) may decide every take
// without consuming and then take each key by itself: a step any take
// denies at that first decision still changes nothing, but one racing a
// concurrent step between the two may leave the takes it had consumed
// consumed although it ends denied. Such a store may admit less than its
// limits allow under concurrency, never more, and says so in its doc.
// Errors are those of Take, for the first take at fault, and
// core.ErrInvalidTakes for a wrong number of takes or decisions, or a
// repeated key (CheckTakeMany).
//
// The conformance suite in core/storetest checks TakeMany for every store
// that implements it. Its zero value is nil: a store that does not
// implement it is taken one limit at a time, as core.TakeAll describes.
type MultiStore interface {
	core.Store
	TakeMany(ctx context.Context, takes []core.Take, decisions []core.Decision) error
}

// BoxStore is a MultiStore that also keeps penalty boxes, checked and
// updated in the same atomic step as the decision, so that a box shared by
// many instances (Redis) costs no extra round trip. core.TakeAllBoxed needs
// every limiter of a step in one BoxStore.
//
// TakeBoxed first looks in every box. If the client is in any of them,
// nothing is taken: every decisions[i] is a denial with Reason
// core.ReasonPenalty and RetryAfter the longest time left in a box, which
// TakeBoxed also returns (Boxed fills them in). Otherwise it is TakeMany;
// when the step is denied, the denial counts towards each box that selects
// a denied take (core.Box.Takes), and a box whose count reaches
// Penalty.Denials within Penalty.Within closes for Penalty.For (and
// forgets the denials counted). The decisions are then the step's own, and
// TakeBoxed returns the longest time left in any box after the step: For
// of the longest box the step closed, 0 when none is closed. Errors are
// those of TakeMany, or those of CheckBoxes; on an error nothing is taken
// or counted. A box is kept as two keys (BoxKeys) under two limits
// (BoxLimit, DenialLimit).
//
// The conformance suite in core/storetest checks TakeBoxed for every store
// that implements it. Its zero value is nil: a store that does not
// implement it cannot box, and core.TakeAllBoxed returns core.ErrNoBoxStore.
type BoxStore interface {
	MultiStore
	TakeBoxed(ctx context.Context, boxes []core.Box, takes []core.Take, decisions []core.Decision) (time.Duration, error)
}

// RemoteStore is a core.Store that decides outside the process (a Redis
// server, a cluster) and so can fail to decide while the process is well.
// LocalStore returns a store in process memory that decides in its place: a
// core.Limiter over a RemoteStore falls back to it by default, with its
// limit divided by the instance count (core.WithInstances), so that the
// limit holds while the remote store cannot decide. The RemoteStore owns
// the local store and closes it in Close. A LocalStore of nil means none:
// the Limiter then fails closed, as over any store that is not a
// RemoteStore. Its zero value is nil, a store that is not remote.
type RemoteStore interface {
	core.Store
	LocalStore() core.Store
}

// LimitChecker is implemented by stores that cannot enforce every valid
// core.Limit (a Redis script computes in microseconds with 53-bit numbers).
// core.NewLimiter calls CheckLimit so that such a limit fails at
// construction, with an error naming the field, rather than on every
// request. Its zero value is nil: a store without it enforces every valid
// Limit.
type LimitChecker interface {
	CheckLimit(core.Limit) error
}

// Resetter is implemented by stores that can forget a key's state:
// Reset(ctx, key) deletes what the store keeps for key (as Take is given
// it, a limiter's prefix included), so that the next Take of key sees a
// key never used. Resetting a key that holds no state does nothing and is
// no error. Its input errors are CheckTake's for the key
// (core.ErrInvalidKey). core.Limiter.Reset uses it; core/storetest checks
// it for stores that implement it. Its zero value is nil: a limiter over a
// store without it cannot reset keys (core.ErrNoReset).
type Resetter interface {
	Reset(ctx context.Context, key string) error
}

// BoxReleaser is implemented by BoxStores that can let a client out of a
// penalty box: ReleaseBox(ctx, key) deletes both keys of the box of key
// (BoxKeys: the box and its denials' log), so that the box is open and its
// denials count afresh. Releasing a key in no box does nothing. Its input
// errors are core.Box.Validate's for the key (core.ErrInvalidKey).
// core.ReleaseBox uses it; core/storetest checks it for stores that
// implement it. Its zero value is nil: core.ReleaseBox over a store without
// it returns core.ErrNoReset.
type BoxReleaser interface {
	ReleaseBox(ctx context.Context, key string) error
}
