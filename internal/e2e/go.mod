module github.com/tollgate-go/tollgate/internal/e2e

go 1.25.0

require (
	github.com/go-chi/chi/v5 v5.5.0
	github.com/redis/go-redis/v9 v9.22.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/tollgate-go/tollgate v0.1.0
	github.com/tollgate-go/tollgate/chimw v0.1.0
	github.com/tollgate-go/tollgate/rules v0.1.0
	github.com/tollgate-go/tollgate/stores/redisstore v0.1.0
	go.uber.org/atomic v1.11.0 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	golang.org/x/sys v0.30.0 // indirect
)

replace github.com/tollgate-go/tollgate => ../..

replace github.com/tollgate-go/tollgate/chimw => ../../chimw

replace github.com/tollgate-go/tollgate/rules => ../../rules

replace github.com/tollgate-go/tollgate/stores/redisstore => ../../stores/redisstore
