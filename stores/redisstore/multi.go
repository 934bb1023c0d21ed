package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
)

// ErrCrossSlot is returned for a step of several limits that Redis refused
// because its keys are in different Cluster slots (CROSSSLOT): the store
// sent it as one script because the client is a *redis.Client, a single
// server, but the server is a Cluster node. Use a *redis.ClusterClient for
// a Cluster. It wraps core.ErrInvalidTakes, so that core.TakeAll denies
// the step as invalid (ReasonInvalid) instead of applying the failure
// policy: a wrong setup is not an outage, and failing open on it would
// admit every request. The breaker does not count it.
var ErrCrossSlot = fmt.Errorf("redisstore: the keys of a step are in different Redis Cluster slots, and the client is a *redis.Client, which the store takes for a single server; use a *redis.ClusterClient: %w", core.ErrInvalidTakes)

// errReply marks a reply the store cannot read.
var errReply = errors.New("redisstore: unexpected script reply")

func replyError(vals []any, err error) error {
	return fmt.Errorf("%w %v (%v)", errReply, vals, err)
}

// The modes of lua/multi.lua (ARGV[2]).
const (
	modeStep  = 0 // decide every take, write all or none
	modeDry   = 1 // decide every take, write nothing
	modeDeny  = 2 // count a denial in every box
	boxValues = 4 // parameters per box, besides its mask
)

var (
	_ storekit.MultiStore = (*Store)(nil)
	_ storekit.BoxStore   = (*Store)(nil)
)

// TakeMany implements storekit.MultiStore. Every take is counted under its own
// key, the one Take uses, so a limit counts the same whatever other limits
// share its steps.
//
// On a single server (a *redis.Client, or a Sentinel failover client) one
// script call decides every take and writes them all, or none (see
// lua/multi.lua). On a Redis Cluster (or a Ring, or a client the store
// does not recognise) each key is in a slot of its own, and one script may
// only touch one slot, so the step is taken split by slot, in two pipelined
// round trips: every take decided without writing (a dry run), and, if
// none would deny, each taken by itself. A step a dry run denies takes
// nothing, as on one server. Between the two, concurrent steps may race:
// a take denied in the second round trip leaves the others of its step
// consumed, so a raced step can count against limits it was not admitted
// by (under-admission), but no limit ever admits more than it allows.
//
// The deny cache is not consulted: the other takes need Redis anyway.
func (s *Store) TakeMany(ctx context.Context, takes []core.Take, ds []core.Decision) error {
	if err := storekit.CheckTakeMany(takes, ds); err != nil {
		return err
	}
	_, err := s.takeMany(ctx, takes, ds, nil)
	return err
}

// TakeBoxed implements storekit.BoxStore: on a single server the boxes are
// read, the step decided and a denial counted by the one script TakeMany
// runs, so the boxes cost no round trip and are shared by every instance
// on the Redis. Split by slot (a Cluster), the boxes are read in the dry
// run's round trip, and a denial is counted in a third, each box's two
// keys sharing a slot; a box's count then follows the step's outcome.
func (s *Store) TakeBoxed(ctx context.Context, boxes []core.Box, takes []core.Take, ds []core.Decision) (time.Duration, error) {
	if err := storekit.CheckTakeMany(takes, ds); err != nil {
		return 0, err
	}
	if err := storekit.CheckBoxes(boxes, len(takes)); err != nil {
		return 0, err
	}
	return s.takeMany(ctx, takes, ds, boxes)
}

// step is one TakeMany or TakeBoxed, ready for the scripts. It holds
// nothing of the caller's (whose keys would then escape to the heap) but
// copies.
type step struct {
	n, nb  int // takes and boxes
	limits [core.MaxTakes]core.Limit
	costs  [core.MaxTakes]int64 // capped at burst + 1, which decides the same
	ps     [core.MaxTakes]params
	keys   [core.MaxTakes]string    // the takes' stored keys
	bkeys  [core.MaxBoxes][2]string // each box's stored box and denials keys
	bps    [core.MaxBoxes][boxValues]int64
	masks  [core.MaxBoxes]uint16
	fors   [core.MaxBoxes]time.Duration
	at     any // the instant (see Store.at)
}

// takeMany is TakeMany, under boxes when there are any.
func (s *Store) takeMany(ctx context.Context, takes []core.Take, ds []core.Decision, boxes []core.Box) (time.Duration, error) {
	if s.closed.Load() {
		return 0, core.ErrClosed
	}
	st := step{n: len(takes), nb: len(boxes)}
	for i := range takes {
		p, err := paramsOf(takes[i].Limit)
		if err != nil {
			return 0, fmt.Errorf("%w (take %d)", err, i)
		}
		st.ps[i], st.limits[i], st.costs[i] = p, takes[i].Limit, min(takes[i].Cost, p.burst+1)
	}
	for j := range boxes {
		bp, err := paramsOf(storekit.BoxLimit(boxes[j].Penalty))
		if err != nil {
			return 0, fmt.Errorf("%w: box %d: for: %w", core.ErrInvalidPenalty, j, err)
		}
		lp, err := paramsOf(storekit.DenialLimit(boxes[j].Penalty))
		if err != nil {
			return 0, fmt.Errorf("%w: box %d: within: %w", core.ErrInvalidPenalty, j, err)
		}
		st.bps[j] = [boxValues]int64{bp.args[0], bp.args[1], lp.args[0], lp.args[1]}
		st.masks[j], st.fors[j] = boxes[j].Takes, boxes[j].Penalty.For
	}
	// New strings: the commands may outlive the caller's buffers.
	for i := range takes {
		st.keys[i] = s.keys.key(takes[i].Key)
	}
	for j := range boxes {
		st.bkeys[j][0], st.bkeys[j][1] = s.keys.boxKeys(boxes[j].Key)
	}
	st.at = s.at()
	var left time.Duration
	var err, late error
	if s.split && !st.oneSlot() {
		left, err, late = s.takeSplit(ctx, &st, takes, ds)
	} else {
		left, err = s.takeOne(ctx, &st, takes, ds)
	}
	if err != nil && redis.HasErrorPrefix(err, "CROSSSLOT") {
		// Redis answered: the setup is wrong, not the server.
		return 0, fmt.Errorf("%w (%w)", ErrCrossSlot, err)
	}
	if err != nil {
		if errors.Is(err, errReply) {
			return 0, err
		}
		return 0, s.callError(err, "several limits")
	}
	// A denial the boxes failed to count (late) is still the step's
	// decision: returning the error would have the limiters apply their
	// failure policy to a step Redis has denied. (The breaker heard of it
	// from the pipeline.)
	_ = late
	return left, nil
}

// oneSlot reports whether every key of the step is in one Cluster slot
// (and one shard of a Ring): they have the same hashed part.
func (st *step) oneSlot() bool {
	var part string
	first := true
	same := func(k string) bool {
		p := slotPart(k)
		if first {
			part, first = p, false
			return true
		}
		return p == part
	}
	for i := 0; i < st.n; i++ {
		if !same(st.keys[i]) {
			return false
		}
	}
	for j := 0; j < st.nb; j++ {
		if !same(st.bkeys[j][0]) || !same(st.bkeys[j][1]) {
			return false
		}
	}
	return true
}

// multiArgs is the EVALSHA of sc (multiScript, or multiGCRAScript without
// boxes) in mode, for the takes whose bits are set in tm and the boxes
// whose bits are set in bm.
func (s *Store) multiArgs(st *step, sc *script, mode int, tm uint32, bm uint8) []any {
	nt, nb := bits.OnesCount32(tm), bits.OnesCount8(bm)
	args := make([]any, 0, 3+nt+2*nb+4+5*nt+(boxValues+1)*nb)
	args = append(args, "evalsha", sc.sha, nt+2*nb)
	for i := 0; i < st.n; i++ {
		if tm>>i&1 == 1 {
			args = append(args, st.keys[i])
		}
	}
	for j := 0; j < st.nb; j++ {
		if bm>>j&1 == 1 {
			args = append(args, st.bkeys[j][0], st.bkeys[j][1])
		}
	}
	args = append(args, st.at, mode, s.grace, nt)
	for i := 0; i < st.n; i++ {
		if tm>>i&1 == 0 {
			continue
		}
		p, cost := &st.ps[i], st.costs[i]
		if sc == &multiGCRAScript {
			args = append(args, cost, p.args[0], p.args[1])
			continue
		}
		args = append(args, int(st.limits[i].Algorithm), cost, p.args[0], p.args[1], p.args[2])
	}
	for j := 0; j < st.nb; j++ {
		if bm>>j&1 == 1 {
			b := &st.bps[j]
			args = append(args, b[0], b[1], b[2], b[3], int(st.masks[j]))
		}
	}
	return args
}

// takeOne takes the step in one script call, all of its keys being on one
// node.
func (s *Store) takeOne(ctx context.Context, st *step, takes []core.Take, ds []core.Decision) (time.Duration, error) {
	n, nb := st.n, st.nb
	sc := &multiScript
	if nb == 0 {
		gcra := true
		for i := 0; i < n; i++ {
			gcra = gcra && st.limits[i].Algorithm == core.GCRA
		}
		if gcra {
			sc = &multiGCRAScript
		}
	}
	cmd, err := s.call(ctx, sc, s.multiArgs(st, sc, modeStep, 1<<n-1, 1<<nb-1))
	if err != nil {
		return 0, err
	}
	vals, err := cmd.Slice()
	if err != nil {
		return 0, replyError(vals, err)
	}
	if left, ok := inBox(vals, nb); ok {
		storekit.Boxed(takes, ds, left)
		return left, nil
	}
	if len(vals) != 4*n+nb {
		return 0, replyError(vals, nil)
	}
	for i := 0; i < n; i++ {
		if ds[i], err = decode(vals[4*i:4*i+4], st.limits[i]); err != nil {
			return 0, err
		}
	}
	var left time.Duration
	for j := 0; j < nb; j++ {
		if closed, _ := vals[4*n+j].(int64); closed == 1 {
			left = max(left, st.fors[j])
		}
	}
	return left, nil
}

// inBox reads the reply of a client in a box, {-1, microseconds left}.
func inBox(vals []any, nb int) (time.Duration, bool) {
	if nb == 0 || len(vals) != 2 {
		return 0, false
	}
	if flag, _ := vals[0].(int64); flag != -1 {
		return 0, false
	}
	us, _ := vals[1].(int64)
	return time.Duration(max(us, 1)) * time.Microsecond, true
}

// takeSplit takes the step split by slot: one pipeline decides every take
// without writing (each in its own slot) and reads each box; if no box is
// closed and no take would deny, a second takes each key by itself. A
// denied step counts toward the boxes in a third. late is a failure of
// that third round trip only, after the step was decided.
func (s *Store) takeSplit(ctx context.Context, st *step, takes []core.Take, ds []core.Decision) (left time.Duration, err, late error) {
	var peeks [core.MaxTakes]core.Decision
	boxed, left, denied, err := s.splitDryRun(ctx, st, ds, &peeks)
	switch {
	case err != nil:
		return 0, err, nil
	case boxed:
		storekit.Boxed(takes, ds, left)
		return left, nil, nil
	case denied != 0:
		// Nothing taken: a denied take says why, the others as they stay.
		for i := 0; i < st.n; i++ {
			if denied>>i&1 == 0 {
				ds[i] = peeks[i]
			}
		}
		left, late = s.countDenial(ctx, st, takes, ds, denied)
		return left, nil, late
	}
	if denied, err = s.splitTake(ctx, st, ds); err != nil {
		return 0, err, nil
	}
	if denied != 0 {
		left, late = s.countDenial(ctx, st, takes, ds, denied)
		return left, nil, late
	}
	return 0, nil, nil
}

// splitDryRun sends the dry run of every take and every box of st, each a
// script call on its own slot, in one pipeline. It reports whether a box is
// closed (and the longest time left in one), else each take's decision (in
// ds), its peek (in peeks) and which takes would be denied.
func (s *Store) splitDryRun(ctx context.Context, st *step, ds []core.Decision, peeks *[core.MaxTakes]core.Decision) (boxed bool, left time.Duration, denied uint32, err error) {
	n, nb := st.n, st.nb
	var calls [core.MaxTakes + core.MaxBoxes]pipeCall
	for i := 0; i < n; i++ {
		calls[i] = pipeCall{sc: &multiScript, args: s.multiArgs(st, &multiScript, modeDry, 1<<i, 0)}
	}
	for j := 0; j < nb; j++ {
		calls[n+j] = pipeCall{sc: &multiScript, args: s.multiArgs(st, &multiScript, modeDry, 0, 1<<j)}
	}
	if err := s.pipe(ctx, calls[:n+nb]); err != nil {
		return false, 0, 0, err
	}
	for j := 0; j < nb; j++ {
		vals, err := calls[n+j].cmd.Slice()
		if err != nil {
			return false, 0, 0, replyError(vals, err)
		}
		if l, ok := inBox(vals, 1); ok {
			boxed, left = true, max(left, l)
		} else if len(vals) != 0 {
			return false, 0, 0, replyError(vals, nil)
		}
	}
	if boxed {
		return true, left, 0, nil
	}
	// Each dry run answers the take's decision and its peek.
	for i := 0; i < n; i++ {
		vals, err := calls[i].cmd.Slice()
		if err != nil || len(vals) != 8 {
			return false, 0, 0, replyError(vals, err)
		}
		l := st.limits[i]
		if ds[i], err = decode(vals[:4], l); err != nil {
			return false, 0, 0, err
		}
		if peeks[i], err = decode(vals[4:], l); err != nil {
			return false, 0, 0, err
		}
		if !ds[i].Allowed {
			denied |= 1 << i
		}
	}
	return false, 0, denied, nil
}

// splitTake takes every take of st by its own algorithm's script, in one
// pipeline, once the dry run found room for all, and reports which were
// denied all the same: a concurrent step took the room the dry run saw.
// The other takes stay consumed: under-admission, never over.
func (s *Store) splitTake(ctx context.Context, st *step, ds []core.Decision) (denied uint32, err error) {
	n := st.n
	var calls [core.MaxTakes]pipeCall
	for i := 0; i < n; i++ {
		l := st.limits[i]
		calls[i] = pipeCall{sc: &scripts[l.Algorithm], args: s.evalArgs(st.keys[i], l, st.ps[i], st.costs[i], st.at)}
	}
	if err := s.pipe(ctx, calls[:n]); err != nil {
		return 0, err
	}
	for i := 0; i < n; i++ {
		vals, err := calls[i].cmd.Slice()
		if err != nil || len(vals) != 4 {
			return 0, replyError(vals, err)
		}
		if ds[i], err = decode(vals, st.limits[i]); err != nil {
			return 0, err
		}
		if !ds[i].Allowed {
			denied |= 1 << i
		}
	}
	return denied, nil
}

// countDenial counts a denied step in each box whose selected takes
// include a denied one (a bit of denied), and returns the longest time
// left in a box that closed. A box found closed since the dry run turns
// the step's decisions into the box's answer.
func (s *Store) countDenial(ctx context.Context, st *step, takes []core.Take, ds []core.Decision, denied uint32) (time.Duration, error) {
	var calls [core.MaxBoxes]pipeCall
	var which [core.MaxBoxes]int
	m := 0
	for j := 0; j < st.nb; j++ {
		sel := uint32(st.masks[j])
		if sel == 0 {
			sel = ^uint32(0)
		}
		if sel&denied != 0 {
			calls[m] = pipeCall{sc: &multiScript, args: s.multiArgs(st, &multiScript, modeDeny, 0, 1<<j)}
			which[m] = j
			m++
		}
	}
	if m == 0 {
		return 0, nil
	}
	if err := s.pipe(ctx, calls[:m]); err != nil {
		return 0, err
	}
	var left, boxed time.Duration
	for k := 0; k < m; k++ {
		vals, err := calls[k].cmd.Slice()
		if err != nil || len(vals) != 1 {
			return left, replyError(vals, err)
		}
		switch v, _ := vals[0].(int64); {
		case v == 1:
			left = max(left, st.fors[which[k]])
		case v < 0:
			// The box closed since the dry run read it: the step is
			// answered as one that came after, from the box.
			boxed = max(boxed, time.Duration(-v)*time.Microsecond)
		}
	}
	if boxed > 0 {
		storekit.Boxed(takes, ds, max(boxed, left))
		return max(boxed, left), nil
	}
	return left, nil
}

// pipeCall is one script call of a pipeline.
type pipeCall struct {
	sc   *script
	args []any
	cmd  *redis.Cmd
}

// pipe sends calls in one pipeline (which a Cluster client splits by node
// and sends at once) within the store's deadline, and returns the first
// call's error. Calls Redis answers NOSCRIPT are sent again with EVAL. The
// pipeline is detached from the caller's cancellation and deadline: a
// step is decided whether or not its caller is still there (one that left
// must not be admitted by a failure policy for leaving), under the store's
// own deadline.
func (s *Store) pipe(ctx context.Context, calls []pipeCall) error {
	probe := false
	if s.breaker != nil {
		var err error
		if probe, err = s.breaker.allow(s.localNow()); err != nil {
			return err
		}
	}
	r := &running{parent: ctx, gone: make(chan struct{}), done: make(chan struct{})}
	go func() {
		r.err = s.runPipe(r, calls)
		s.settle(probe, r.err)
		close(r.done)
	}()
	if err := s.await(r); err != nil {
		return err
	}
	return deadlineErr(r.err)
}

func (s *Store) runPipe(ctx context.Context, calls []pipeCall) error {
	p := s.client.Pipeline()
	for i := range calls {
		calls[i].cmd = redis.NewCmd(ctx, calls[i].args...)
		_ = p.Process(ctx, noRetry{calls[i].cmd})
	}
	_, _ = p.Exec(ctx) // each command carries its own error
	var first error
	for i := range calls {
		err := calls[i].cmd.Err()
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			calls[i].cmd, err = s.run(ctx, calls[i].sc, calls[i].args)
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}
