package redisstore

import (
	"math/bits"
	"sync/atomic"
)

// Stats are a store's own figures, for metrics (read them when a scrape
// asks: they cost a few atomic loads). The zero Stats is a store that has
// done nothing.
type Stats struct {
	// Batched is true for a store made WithBatching.
	Batched bool
	// BreakerEnabled is false under WithoutBreaker; BreakerOpen reports
	// whether the breaker is open now (calls fail at once, or one probes),
	// and BreakerOpened how many times it opened since New.
	BreakerEnabled bool
	BreakerOpen    bool
	BreakerOpened  uint64
	// Batches counts the batches sent (WithBatching), BatchedCalls the
	// calls they carried, and BatchSizes[i] the batches of at most
	// BatchSizeBounds[i] calls (and more than the bound before): a
	// histogram's buckets, not cumulative.
	Batches      uint64
	BatchedCalls uint64
	BatchSizes   [len(BatchSizeBounds)]uint64
}

// BatchSizeBounds are the upper bounds of Stats.BatchSizes' buckets: powers
// of two up to DefaultBatchSize's largest allowed size, the last one
// catching every larger batch.
var BatchSizeBounds = [...]int{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1 << 30}

// sizeHistogram counts batch sizes by BatchSizeBounds.
type sizeHistogram struct {
	n, sum  atomic.Uint64
	buckets [len(BatchSizeBounds)]atomic.Uint64
}

func (h *sizeHistogram) observe(size int) {
	h.n.Add(1)
	h.sum.Add(uint64(size))
	// The bucket of the smallest power of two at least size.
	i := min(bits.Len(uint(max(size, 1)-1)), len(BatchSizeBounds)-1)
	h.buckets[i].Add(1)
}

// Stats returns the store's figures.
func (s *Store) Stats() Stats {
	var st Stats
	if b := s.breaker; b != nil {
		st.BreakerEnabled = true
		st.BreakerOpen = b.openUntil.Load() != 0
		st.BreakerOpened = b.opened.Load()
	}
	if b := s.batch; b != nil {
		st.Batched = true
		st.Batches = b.sizes.n.Load()
		st.BatchedCalls = b.sizes.sum.Load()
		for i := range st.BatchSizes {
			st.BatchSizes[i] = b.sizes.buckets[i].Load()
		}
	}
	return st
}

// LeaseStats are a Leased store's figures (see Stats).
type LeaseStats struct {
	// Grants counts the round trips that asked Redis for tokens, Granted
	// the tokens they got, and GivenBack the unused tokens returned (by
	// Close) to windows still open.
	Grants, Granted, GivenBack uint64
	// Hot is the number of keys decided locally from leased tokens now.
	Hot int
}

// Stats returns the lease mode's figures; the base store's Stats has the rest.
func (l *Leased) Stats() LeaseStats {
	return LeaseStats{Grants: uint64(l.grants.Load()), Granted: l.granted.Load(), GivenBack: l.givenBack.Load(), Hot: l.Hot()}
}
