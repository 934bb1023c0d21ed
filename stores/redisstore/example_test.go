package redisstore_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/redisstore"
)

// A limit shared by every instance of a service, falling back to the
// store's local memory store (a quarter of the limit, for four instances)
// if Redis cannot decide. It needs a Redis server, so it is compiled but not
// run.
func ExampleNew() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer client.Close()
	store, err := redisstore.New(client)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	lim, err := core.NewLimiter(store, core.PerMinute(100), core.WithName("per-ip"),
		core.WithFallback(store.LocalStore(), 4),
		core.WithFailoverHook(func(failing bool, err error) { log.Printf("redis failing: %v (%v)", failing, err) }))
	if err != nil {
		log.Fatal(err)
	}
	d, err := lim.Take(context.Background(), "203.0.113.7")
	if err != nil {
		log.Print(err) // Redis failed; d follows the fallback
	}
	fmt.Println(d.Allowed, d.Remaining)
}

// On a Redis Cluster the store needs a key secret, the same on every
// instance, so that clients cannot choose the slots their keys land in.
// It needs a Cluster, so it is compiled but not run.
func ExampleWithKeySecret() {
	client := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                 []string{"10.0.0.5:7000", "10.0.0.6:7000", "10.0.0.7:7000"},
		ContextTimeoutEnabled: true,
	})
	defer client.Close()
	secret := []byte(os.Getenv("TOLLGATE_KEY_SECRET")) // at least 16 random bytes, from the secret store
	store, err := redisstore.New(client, redisstore.WithKeySecret(secret))
	if err != nil {
		log.Fatal(err) // redisstore: key secret: ... bytes, want at least 16 random bytes
	}
	defer store.Close()
}
