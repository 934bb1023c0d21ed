// Package storekit is for writing a core.Store: the interfaces a store
// implements to offer more than Take, and the parts every store shares, so
// that a memory store, the Redis store and a store of your own decide alike
// and refuse the same input with the same errors. A user who only passes a
// store to core.NewLimiter never needs it.
//
// A store keeps one State per key and runs Apply, the pure transition of
// every algorithm, on it atomically (a lock, a script): read, decide, write
// in one step. Before that it checks its arguments with CheckTake
// (CheckTakeMany for MultiStore's TakeMany, CheckBoxes for BoxStore's
// TakeBoxed). A penalty box is kept as two keys (BoxKeys) under two limits
// (BoxLimit, DenialLimit); a client in a box is answered with Boxed. A
// store whose clock is a UnixNanoClock may read it without building a
// time.Time.
//
// Beside core.Store, a store implements, as it can, MultiStore, BoxStore,
// PrefixTaker, PreparedTaker (whose limits Prepare makes ready and
// CheckPrepared's checks go with), LimitChecker, RemoteStore, Resetter and
// BoxReleaser (whose keys CheckKey and CheckBoxKey check). A core.Limiter finds them in
// the store it is given by their methods, so a store states them with a
// compile-time check (var _ storekit.MultiStore = (*myStore)(nil)).
// core.Take and core.Box, their arguments, stay in core, where
// core.TakeAllBoxed takes boxes too. core/storetest is the conformance
// suite every store must pass.
//
//	func (s *myStore) Take(ctx context.Context, key string, l core.Limit, cost int64) (core.Decision, error) {
//		if err := storekit.CheckTake(key, l, cost); err != nil {
//			return core.Decision{}, err
//		}
//		s.mu.Lock()
//		defer s.mu.Unlock()
//		st := s.states[key]
//		d := storekit.Apply(&st, s.clock.Now().UnixNano(), l, cost)
//		s.states[key] = st
//		return d, nil
//	}
package storekit
