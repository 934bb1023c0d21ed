// Package storekit is for writing a core.Store: the parts every store
// shares, so that a memory store, the Redis store and a store of your own
// decide alike and refuse the same input with the same errors. A user who
// only passes a store to core.NewLimiter never needs it.
//
// A store keeps one core.State per key and runs core.Apply on it
// atomically (a lock, a script): read, decide, write in one step. (Those
// two stay in core, whose own slog hook meters its lines with them.) Before
// that it checks its arguments with CheckTake (CheckTakeMany for
// core.MultiStore's TakeMany, CheckBoxes for core.BoxStore's TakeBoxed). A
// penalty box is kept as two keys (BoxKeys) under two limits (BoxLimit,
// DenialLimit); a client in a box is answered with Boxed. A store whose
// clock is a UnixNanoClock may read it without building a time.Time.
//
// The interfaces a store implements stay in package core, because a
// Limiter looks for them in the store it is given: core.Store, and, as the
// store can, core.MultiStore, core.BoxStore, core.PrefixTaker,
// core.LimitChecker and core.RemoteStore, with core.Take and core.Box as
// their arguments. core/storetest is the conformance suite every store
// must pass.
//
//	func (s *myStore) Take(ctx context.Context, key string, l core.Limit, cost int64) (core.Decision, error) {
//		if err := storekit.CheckTake(key, l, cost); err != nil {
//			return core.Decision{}, err
//		}
//		s.mu.Lock()
//		defer s.mu.Unlock()
//		st := s.states[key]
//		d := core.Apply(&st, s.clock.Now().UnixNano(), l, cost)
//		s.states[key] = st
//		return d, nil
//	}
package storekit
