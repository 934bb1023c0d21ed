package main

import (
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/redisstore"
)

// leaseStore wraps base in lease mode: the instance takes tokens from Redis
// in batches and decides locally, at lease mode's defaults (see
// redisstore.LeaseConfig). The client's key turns hot after 10 requests
// within a second; before that each request goes to Redis.
func leaseStore(base *redisstore.Store) (core.Store, error) {
	return redisstore.NewLeased(base, redisstore.LeaseConfig{})
}
