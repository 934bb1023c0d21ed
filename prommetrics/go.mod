module github.com/tollgate-go/tollgate/prommetrics

go 1.25.0

require (
	github.com/prometheus/client_golang v1.24.1
	github.com/prometheus/client_model v0.6.2
	github.com/prometheus/common v0.70.1
	github.com/redis/go-redis/v9 v9.22.0 // test only
	github.com/tollgate-go/tollgate v0.1.0
	github.com/tollgate-go/tollgate/stores/redisstore v0.1.0 // test only: the Redis figures
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/kylelemons/godebug v1.1.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/prometheus/procfs v0.21.1 // indirect
	go.uber.org/atomic v1.11.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)

replace (
	github.com/tollgate-go/tollgate => ../
	github.com/tollgate-go/tollgate/stores/redisstore => ../stores/redisstore
)
