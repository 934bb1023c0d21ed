package storekit

// Figures are what a store reports of itself, for metrics and an
// operator's page: read when asked (a scrape), never per decision. A field
// a store has nothing to say about stays zero; Kind and Mode say which
// apply. The zero Figures is a store that reports nothing.
type Figures struct {
	// Kind names the store ("memory", "redis"); Mode how it runs
	// ("direct", "batched", "leased"). Both are fixed when the store is
	// made, so metrics may use them as labels.
	Kind, Mode string

	// Keys is the number of keys holding state (a memory store), Evicted
	// the keys dropped to make room before their state expired, Refused
	// the takes of new keys denied because there was no room.
	Keys             int64
	Evicted, Refused uint64

	// Breaker says whether the store has a circuit breaker; BreakerOpen
	// whether it is open now (calls fail at once), BreakerOpened how many
	// times it opened.
	Breaker, BreakerOpen bool
	BreakerOpened        uint64

	// Batches counts the batches of calls sent, BatchedCalls the calls
	// they carried, and BatchSizes[i] the batches of at most
	// BatchSizeBounds[i] calls and more than the bound before (buckets of
	// a histogram, not cumulative).
	Batches, BatchedCalls uint64
	BatchSizes            [len(BatchSizeBounds)]uint64

	// LeaseGrants counts the round trips that leased tokens (lease mode),
	// LeaseGranted the tokens they got, LeaseGivenBack the unused tokens
	// returned; LeaseHot is the number of keys decided from leased tokens
	// now.
	LeaseGrants, LeaseGranted, LeaseGivenBack uint64
	LeaseHot                                  int64
}

// BatchSizeBounds are the upper bounds of Figures.BatchSizes' buckets:
// powers of two, the last catching every larger batch.
var BatchSizeBounds = [...]int{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1 << 30}

// Reporter is a store that reports its Figures. The memory and Redis stores
// (and the Redis store's lease mode) are. Its zero value is nil: a store
// that is not reports nothing.
type Reporter interface {
	Figures() Figures
}
