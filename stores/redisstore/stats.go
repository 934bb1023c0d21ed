package redisstore

import (
	"math/bits"
	"sync/atomic"

	"github.com/tollgate-go/tollgate/core/storekit"
)

// sizeHistogram counts batch sizes by storekit.BatchSizeBounds.
type sizeHistogram struct {
	n, sum  atomic.Uint64
	buckets [len(storekit.BatchSizeBounds)]atomic.Uint64
}

func (h *sizeHistogram) observe(size int) {
	h.n.Add(1)
	h.sum.Add(uint64(size))
	// The bucket of the smallest power of two at least size.
	i := min(bits.Len(uint(max(size, 1)-1)), len(storekit.BatchSizeBounds)-1)
	h.buckets[i].Add(1)
}

var (
	_ storekit.Reporter = (*Store)(nil)
	_ storekit.Reporter = (*Leased)(nil)
)

// Figures implements storekit.Reporter: Kind "redis", Mode "direct" or
// "batched" (WithBatching), the breaker's state and openings, the batches'
// sizes. It costs a few atomic loads.
func (s *Store) Figures() storekit.Figures {
	f := storekit.Figures{Kind: "redis", Mode: "direct"}
	if b := s.breaker; b != nil {
		f.Breaker = true
		f.BreakerOpen = b.openUntil.Load() != 0
		f.BreakerOpened = b.opened.Load()
	}
	if b := s.batch; b != nil {
		f.Mode = "batched"
		f.Batches = b.sizes.n.Load()
		f.BatchedCalls = b.sizes.sum.Load()
		for i := range f.BatchSizes {
			f.BatchSizes[i] = b.sizes.buckets[i].Load()
		}
	}
	return f
}

// Figures implements storekit.Reporter: the base store's, in Mode
// "leased", with the grants (round trips, tokens got, unused tokens given
// back by Close) and the keys decided locally now.
func (l *Leased) Figures() storekit.Figures {
	f := l.s.Figures()
	f.Mode = "leased"
	f.LeaseGrants = uint64(l.grants.Load())
	f.LeaseGranted = l.granted.Load()
	f.LeaseGivenBack = l.givenBack.Load()
	f.LeaseHot = int64(l.Hot())
	return f
}
