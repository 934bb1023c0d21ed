package pacer

import (
	"container/list"
	"context"
	"net/http"
	"sync"
	"time"
)

// What the pacer knows of a host, and why it is enough to send no request
// the server will refuse (when this transport is the host's only client
// spending the quota):
//
// A response i answered at c_i says that, when the server decided request
// i (at some instant s_i between sending it, b_i, and c_i), r_i requests
// remained, and that more quota comes t_i seconds later. The requests the
// server may decide after s_i, and so count against r_i, are those sent
// before c_i and not answered before b_i: the ones still in flight at c_i,
// and the ones answered between b_i and c_i. So
//
//	bound_i = r_i - (in flight at c_i) - (answered between b_i and c_i)
//
// is a lower bound, at c_i, of the requests that can still be sent before
// more quota comes, whatever order the server decided them in and the
// answers arrived in (a refill since s_i only adds to it). Each policy
// keeps the largest such bound, avail, less one for every request sent
// since: a request is sent only while every policy of its host has
// avail > 0. A refusal replaces avail with its own bound, since then the
// server says that bound was wrong (another client spent the quota).
//
// When a policy has nothing left, it waits until resetAt, the instant its
// latest answer said more quota comes (read from the answer's arrival, so
// never early), then lets one request through to learn the new state: its
// answer sets avail again. A policy that answer no longer mentions is
// forgotten, so a server that stops sending fields never holds requests
// back. So too before anything is known of a host: its first request goes
// alone, and its answer says what the others may do. A request that learns
// is waited for at most learnWait.

// learnWait is how long the requests behind one that learns the state
// wait for its answer. Behind the first request to a host, they then all
// go: a host whose answers are slow (a long poll) is not made to serve one
// request at a time, at the risk of a refusal that Retry-After handles.
// Behind the first request after a policy's quota came back, one more
// goes, to learn it too: the host is known to limit, and each costs the
// quota one request.
const learnWait = time.Second

// policy is the state of one named limit of a host.
type policy struct {
	name       string
	avail      int64     // requests that may still be sent before resetAt
	resetAt    time.Time // when more quota comes: the latest instant an answer said
	probe      uint64    // the request sent to learn the state after resetAt; 0: none
	probeSince time.Time // when probe was sent
}

// host is what the transport knows of one host.
type host struct {
	key string

	mu           sync.Mutex // guards the fields below
	seq          uint64     // requests sent so far
	answered     uint64     // requests answered (or failed) so far
	inflight     int64      // requests sent and not yet answered
	known        bool       // a request to the host has been answered
	learner      uint64     // while !known, the request sent to learn the host's limits; 0: none
	learnerSince time.Time  // when learner was sent
	pols         []policy   // at most maxPolicies, in no order
	wake         chan struct{}

	elem *list.Element // in Transport.lru; guarded by Transport.mu
}

// ticket is one request sent: what its answer is reconciled with.
type ticket struct {
	seq      uint64
	answered uint64 // host.answered when it was sent
}

// verdict says whether a request may be sent now, and if not, until when
// it waits.
type verdict struct {
	// until is the latest instant an exhausted policy says more quota
	// comes; zero if no policy is exhausted. policy names it.
	until  time.Time
	policy string
	// learn is the earliest instant another request may go to learn the
	// state that a request sent before is learning; zero if none does.
	// learnPolicy names the policy ("" for the host's first request).
	learn       time.Time
	learnPolicy string
}

func (v verdict) free() bool { return v.until.IsZero() && v.learn.IsZero() }

// blocked says whether a request may be sent to h at now.
func (h *host) blocked(now time.Time) verdict {
	var v verdict
	if !h.known && h.learner != 0 {
		if at := h.learnerSince.Add(learnWait); now.Before(at) {
			v.learn = at
		}
	}
	for i := range h.pols {
		p := &h.pols[i]
		switch {
		case p.avail > 0:
		case now.Before(p.resetAt):
			if p.resetAt.After(v.until) {
				v.until, v.policy = p.resetAt, p.name
			}
		case p.probe != 0:
			if at := p.probeSince.Add(learnWait); now.Before(at) && (v.learn.IsZero() || at.Before(v.learn)) {
				v.learn, v.learnPolicy = at, p.name
			}
		}
	}
	return v
}

// send counts a request sent at now, which blocked let through.
func (h *host) send(now time.Time) ticket {
	h.seq++
	if !h.known && h.learner == 0 {
		h.learner, h.learnerSince = h.seq, now
	}
	for i := range h.pols {
		p := &h.pols[i]
		if p.avail > 0 {
			p.avail--
		} else {
			// resetAt has passed: this request learns the new state.
			p.probe, p.probeSince = h.seq, now
		}
	}
	h.inflight++
	return ticket{seq: h.seq, answered: h.answered}
}

// acquire waits until a request may be sent to h, and counts it sent. It
// returns a *WaitError at once, without waiting, when a policy says its
// quota is exhausted until past deadline, or for any time at all under
// failFast; a *WaitError when deadline comes while it waits for a request
// learning the state; and ctx's error if ctx ends first.
func (h *host) acquire(ctx context.Context, deadline time.Time, failFast bool) (ticket, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		h.mu.Lock()
		now := time.Now()
		v := h.blocked(now)
		if v.free() {
			tk := h.send(now)
			h.mu.Unlock()
			return tk, nil
		}
		wake := h.wake
		h.mu.Unlock()

		if !v.until.IsZero() && (failFast || v.until.After(deadline)) {
			return ticket{}, &WaitError{Host: h.key, Policy: v.policy, Wait: v.until.Sub(now)}
		}
		at := v.until
		if !v.learn.IsZero() && (at.IsZero() || v.learn.Before(at)) {
			at = v.learn
		}
		if !now.Before(deadline) {
			// Only a wait for a request learning the state gets here.
			return ticket{}, &WaitError{Host: h.key, Policy: v.learnPolicy, Wait: at.Sub(now)}
		}
		if at.After(deadline) {
			at = deadline
		}
		if timer == nil {
			timer = time.NewTimer(at.Sub(now))
		} else {
			timer.Reset(at.Sub(now))
		}
		select {
		case <-ctx.Done():
			return ticket{}, ctx.Err()
		case <-wake:
		case <-timer.C:
		}
	}
}

// release reconciles the answer to tk, received at now: res, or nil when
// the request failed. It returns, when res is a 429 or 503 with
// Retry-After, the delay it asks for.
func (h *host) release(tk ticket, res *http.Response, now time.Time, maxPolicies int) (retryAfter time.Duration, ok bool) {
	var got limits
	refused := false
	if res != nil {
		got = readLimits(res.Header, res.StatusCode, now)
		refused = res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusServiceUnavailable
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.inflight--
	overlapped := int64(h.answered - tk.answered)
	h.answered++
	if res != nil {
		h.known = true
	}
	if h.learner == tk.seq {
		h.learner = 0 // answered, or failed: then the next request learns
	}
	for _, it := range got.all() {
		if it.name == policyRetryAfter {
			retryAfter, ok = it.delay, true
		}
		bound := it.remaining - h.inflight - overlapped
		resetAt := now.Add(it.delay)
		p := h.find(it.name)
		if p == nil {
			h.add(policy{name: it.name, avail: bound, resetAt: resetAt}, maxPolicies)
			continue
		}
		if refused {
			// The server says no now: what it says replaces what we had
			// (another client may have spent the quota).
			p.avail, p.resetAt = bound, resetAt
		} else {
			// Both are lower bounds: the larger is one too.
			p.avail = max(p.avail, bound)
			if resetAt.After(p.resetAt) {
				p.resetAt = resetAt
			}
		}
		if p.probe == tk.seq {
			p.probe = 0
		}
	}
	// The policies this request was to learn about and its answer did not
	// mention: forgotten if it was answered (the server no longer applies
	// them to it), tried again by the next request if it failed.
	for i := 0; i < len(h.pols); {
		p := &h.pols[i]
		if p.probe != tk.seq {
			i++
			continue
		}
		if res == nil {
			p.probe = 0
			i++
			continue
		}
		h.pols[i] = h.pols[len(h.pols)-1]
		h.pols = h.pols[:len(h.pols)-1]
	}
	close(h.wake)
	h.wake = make(chan struct{})
	return retryAfter, ok
}

func (h *host) find(name string) *policy {
	for i := range h.pols {
		if h.pols[i].name == name {
			return &h.pols[i]
		}
	}
	return nil
}

// restrictive orders policies: less left first, then the later reset.
func (p *policy) restrictive(q *policy) bool {
	if p.avail != q.avail {
		return p.avail < q.avail
	}
	return p.resetAt.After(q.resetAt)
}

// add keeps p, evicting the least restrictive policy when h has
// maxPolicies already (or dropping p, if it is the least restrictive).
func (h *host) add(p policy, maxPolicies int) {
	if len(h.pols) < maxPolicies {
		h.pols = append(h.pols, p)
		return
	}
	worst := 0
	for i := 1; i < len(h.pols); i++ {
		if h.pols[worst].restrictive(&h.pols[i]) {
			worst = i
		}
	}
	if p.restrictive(&h.pols[worst]) {
		h.pols[worst] = p
	}
}
