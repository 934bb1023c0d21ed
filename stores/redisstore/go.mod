module github.com/tollgate-go/tollgate/stores/redisstore

go 1.25.0

require (
	github.com/redis/go-redis/v9 v9.22.0
	go.uber.org/goleak v1.3.0 // indirect; test only: the leak check in TestMain (internal/leakcheck)
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/tollgate-go/tollgate v0.1.0
	go.uber.org/atomic v1.11.0 // indirect
	golang.org/x/sys v0.30.0 // indirect
)

replace github.com/tollgate-go/tollgate => ../..
