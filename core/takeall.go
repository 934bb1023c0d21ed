package core

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TakeAll charges each limiter its cost on its key, ls[i] on keys[i], and
// writes the decisions to ds (all three slices have the same length, at
// most MaxTakes). A request under several limits is admitted only if every
// decision is.
//
// When every limiter keeps its state in one store and that store takes
// several limits in one step (a storekit.MultiStore), the limits are taken in one atomic step: all are consumed, or,
// if any denies, none is (the others' decisions then say what a peek shows).
// Otherwise TakeAll peeks every limiter first and takes only if none would
// deny, so a denied request consumes nothing unless concurrent requests
// change a key between the peek and the take.
//
// Invalid input (an empty key) is refused for the whole step with an error
// and ReasonInvalid decisions, and nothing is taken. Limiters in shadow mode
// (WithShadow) are taken apart from the step, each by itself, so that their
// would-be denials never hold it back. When the store fails, the store is
// not asked again: if every limiter falls back to one such store (by
// default a remote store's local store), the step is taken there, atomically, each
// limit divided among the instances; otherwise each limiter applies its own
// failure policy, as TakeN does. A caller whose context is done by then is
// refused. The error reports the failure. Hooks see each limiter's decision.
func TakeAll(ctx context.Context, ls []*Limiter, keys []string, ds []Decision) error {
	if err := checkAll(ls, keys, ds); err != nil {
		return err
	}
	for _, l := range ls {
		if l.shadow {
			_, err := takeShadowApart(ctx, nil, ls, keys, ds)
			return err
		}
	}
	if ms := sharedMulti(ls); ms != nil {
		_, err := takeAtomic(ctx, ms, nil, ls, keys, ds)
		return err
	}
	// Not atomic: peek every limiter, and take only if each has room.
	for i, l := range ls {
		d, err := l.TakeN(ctx, keys[i], 0)
		if err == nil && (!d.Allowed || d.Remaining < l.cost) {
			// l would deny: its own take reports why (a denial consumes
			// nothing), the others are reported as they stay.
			for j := range ls {
				if j != i {
					ds[j], _ = ls[j].TakeN(ctx, keys[j], 0)
				}
			}
			ds[i], err = l.TakeN(ctx, keys[i], l.cost)
			return err
		}
	}
	return takeEach(ctx, ls, keys, ds)
}

// checkAll validates TakeAll's arguments; an empty key makes every
// decision invalid.
func checkAll(ls []*Limiter, keys []string, ds []Decision) error {
	if len(ls) == 0 || len(ls) > MaxTakes || len(keys) != len(ls) || len(ds) != len(ls) {
		return &inputError{ErrInvalidTakes, fmt.Sprintf("%d limiters, %d keys, %d decisions: want 1 to %d of each, as many", len(ls), len(keys), len(ds), MaxTakes)}
	}
	for i, l := range ls {
		if keys[i] == "" {
			invalidAll(ls, ds)
			return &inputError{ErrInvalidKey, "empty key for limiter " + strconv.Quote(l.name)}
		}
	}
	return nil
}

// takeEach takes each limiter by itself, with its own failure policy, and
// returns the first error.
func takeEach(ctx context.Context, ls []*Limiter, keys []string, ds []Decision) error {
	var first error
	for i, l := range ls {
		var err error
		if ds[i], err = l.TakeN(ctx, keys[i], l.cost); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// invalidAll reports a step refused for its input: every decision invalid.
func invalidAll(ls []*Limiter, ds []Decision) {
	for j := range ds {
		ds[j] = Decision{Reason: ReasonInvalid, Limit: ls[j].limit, Name: ls[j].name}
	}
}

// takeShadowApart takes the enforced limiters together, under boxes when
// there are any, and each shadow one by itself: a limit in shadow mode never
// decides a request, so its would-be denial must not hold back the enforced
// limits' step, nor count towards a box. (A shadow limit counts every
// request it would admit, whatever the enforced limits decide.) It returns
// the time left in the boxes.
func takeShadowApart(ctx context.Context, boxes []Box, ls []*Limiter, keys []string, ds []Decision) (time.Duration, error) {
	var els [MaxTakes]*Limiter
	var ekeys [MaxTakes]string
	var eds [MaxTakes]Decision
	var at [MaxTakes]int
	n := 0
	var first error
	for i, l := range ls {
		if l.shadow {
			var err error
			if ds[i], err = l.TakeN(ctx, keys[i], l.cost); err != nil && first == nil {
				first = err
			}
			continue
		}
		els[n], ekeys[n], at[n] = l, keys[i], i
		n++
	}
	if n == 0 {
		return 0, first
	}
	// The boxes select the enforced limiters by their place in the step
	// of enforced limiters alone.
	var ebs [MaxBoxes]Box
	nb := 0
	for _, b := range boxes {
		if b.Takes != 0 {
			var sel uint16
			for j := 0; j < n; j++ {
				if b.Takes&(1<<at[j]) != 0 {
					sel |= 1 << j
				}
			}
			if sel == 0 {
				continue // only shadow limiters: nothing it selects can count
			}
			b.Takes = sel
		}
		ebs[nb] = b
		nb++
	}
	var left time.Duration
	var err error
	if nb > 0 {
		left, err = TakeAllBoxed(ctx, ebs[:nb], els[:n], ekeys[:n], eds[:n])
	} else {
		err = TakeAll(ctx, els[:n], ekeys[:n], eds[:n])
	}
	for j := 0; j < n; j++ {
		ds[at[j]] = eds[j]
	}
	if err != nil {
		return left, err
	}
	return left, first
}

// sharedMulti returns the multiStore every limiter keeps its state in, or
// nil.
func sharedMulti(ls []*Limiter) multiStore {
	ms, ok := ls[0].store.(multiStore)
	if !ok {
		return nil
	}
	for _, l := range ls[1:] {
		if l.store != ls[0].store {
			return nil
		}
	}
	return ms
}

// takeBufs holds the takes and boxes of TakeAll's atomic step (the slices
// are a store's only while TakeMany or TakeBoxed runs; the keys in them are
// strings of their own).
var takeBufs = sync.Pool{New: func() any { return new(takeBuf) }}

type takeBuf struct {
	takes [MaxTakes]Take
	boxes [MaxBoxes]Box
}

// takeAtomic takes ls in one step of ms, under boxes when there are any (ms
// is then a boxStore), and returns the time left in the boxes.
func takeAtomic(ctx context.Context, ms multiStore, boxes []Box, ls []*Limiter, keys []string, ds []Decision) (time.Duration, error) {
	var start time.Time
	hooked := false
	for _, l := range ls {
		hooked = hooked || l.hook != nil
	}
	if hooked {
		start = time.Now()
	}
	var epochs [MaxTakes]uint64
	for i, l := range ls {
		if l.onSwitch != nil {
			epochs[i] = l.onSwitch.switches.Load()
		}
	}
	// The prefixed keys, and the boxes' keys, are built in one string (one
	// allocation), which the takes and boxes slice: a store may keep a key
	// it is given. The caller's keys are only read: they may live on its
	// stack.
	n := 0
	for i, l := range ls {
		n += len(l.prefix) + len(keys[i])
	}
	for i := range boxes {
		n += len(boxes[i].Key)
	}
	var sb strings.Builder
	sb.Grow(n)
	for i, l := range ls {
		sb.WriteString(l.prefix)
		sb.WriteString(keys[i])
	}
	for i := range boxes {
		sb.WriteString(boxes[i].Key)
	}
	joined := sb.String()
	tb := takeBufs.Get().(*takeBuf)
	takes := tb.takes[:len(ls)]
	at := 0
	for i, l := range ls {
		end := at + len(l.prefix) + len(keys[i])
		takes[i] = Take{Key: joined[at:end], Limit: l.limit, Cost: l.cost}
		at = end
	}
	var left time.Duration
	var err error
	if len(boxes) > 0 {
		bs := tb.boxes[:len(boxes)]
		for i := range boxes {
			end := at + len(boxes[i].Key)
			bs[i] = Box{Key: joined[at:end], Penalty: boxes[i].Penalty, Takes: boxes[i].Takes}
			at = end
		}
		left, err = ms.(boxStore).TakeBoxed(ctx, bs, takes, ds)
		clear(bs)
	} else {
		err = ms.TakeMany(ctx, takes, ds)
	}
	clear(takes)
	takeBufs.Put(tb)
	if err != nil {
		if errors.Is(err, ErrInvalidKey) || errors.Is(err, ErrInvalidCost) || errors.Is(err, ErrInvalidTakes) || errors.Is(err, ErrInvalidLimit) || errors.Is(err, ErrInvalidPenalty) {
			invalidAll(ls, ds)
			return 0, err
		}
		// The store failed: nothing was decided.
		return takeFailed(ctx, boxes, ls, keys, ds, err, &epochs, start)
	}
	var latency time.Duration
	if hooked {
		latency = time.Since(start)
	}
	for i, l := range ls {
		ds[i].Name = l.name
		l.recovered(epochs[i])
		if l.hook != nil {
			l.callHook(ctx, Event{Name: l.name, Key: keys[i], Cost: l.cost, Decision: ds[i], Latency: latency})
		}
	}
	return left, nil
}

// takeFailed decides a step its store could not decide (err), without
// asking that store again. A caller that went away is refused. When every
// limiter falls back to one multiStore (a remote store's local store, by
// default), the step is taken there, atomically and under the box as the
// store would have, each limit divided among the instances; otherwise each
// limiter applies its own failure policy, as a lone Take would.
func takeFailed(ctx context.Context, boxes []Box, ls []*Limiter, keys []string, ds []Decision, err error, epochs *[MaxTakes]uint64, start time.Time) (time.Duration, error) {
	var left time.Duration
	var first error
	fb := false
	if ctx.Err() == nil {
		if fms := sharedFallback(ls, len(boxes) > 0); fms != nil {
			serr := fmt.Errorf("%w: %w", ErrStore, err)
			for i, l := range ls {
				if l.onSwitch != nil && epochs[i]&1 == 0 && l.onSwitch.switches.CompareAndSwap(epochs[i], epochs[i]+1) {
					l.onSwitch.post(true, serr)
				}
			}
			var takes [MaxTakes]Take
			for i, l := range ls {
				takes[i] = Take{Key: l.prefix + keys[i], Limit: l.fbLimit, Cost: l.cost}
			}
			var ferr error
			if len(boxes) > 0 {
				left, ferr = fms.(boxStore).TakeBoxed(ctx, boxes, takes[:len(ls)], ds)
			} else {
				ferr = fms.TakeMany(ctx, takes[:len(ls)], ds)
			}
			first, fb = serr, true
			if ferr != nil {
				first = fmt.Errorf("%w (fallback: %w)", serr, ferr)
				for i, l := range ls {
					ds[i] = Decision{Reason: ReasonFailClosed, Limit: l.limit, RetryAfter: failClosedRetryAfter}
				}
			}
		}
	}
	if !fb {
		for i, l := range ls {
			var e error
			ds[i], e, _ = l.failed(ctx, l.prefix+keys[i], l.cost, err, epochs[i])
			if first == nil {
				first = e
			}
		}
	}
	for i, l := range ls {
		ds[i].Name = l.name
		l.shade(&ds[i])
		if l.hook != nil {
			l.callHook(ctx, Event{Name: l.name, Key: keys[i], Cost: l.cost, Decision: ds[i], Err: first, Fallback: fb, Latency: time.Since(start)})
		}
	}
	return left, first
}

// sharedFallback returns the multiStore (a boxStore when boxed) every
// limiter of a step falls back to, or nil.
func sharedFallback(ls []*Limiter, boxed bool) multiStore {
	if ls[0].policy != FailBack {
		return nil
	}
	ms, ok := ls[0].fallback.(multiStore)
	if !ok {
		return nil
	}
	if _, ok := ms.(boxStore); boxed && !ok {
		return nil
	}
	for _, l := range ls[1:] {
		if l.policy != FailBack || l.fallback != ls[0].fallback {
			return nil
		}
	}
	return ms
}
