module github.com/tollgate-go/tollgate/otelmetrics

go 1.25.0

require (
	github.com/redis/go-redis/v9 v9.22.0 // test only
	github.com/tollgate-go/tollgate v0.1.0
	github.com/tollgate-go/tollgate/rules v0.1.0 // test only
	github.com/tollgate-go/tollgate/stores/redisstore v0.1.0 // test only
	go.opentelemetry.io/otel v1.46.0
	go.opentelemetry.io/otel/metric v1.46.0
	go.opentelemetry.io/otel/sdk v1.46.0 // test only
	go.opentelemetry.io/otel/sdk/metric v1.46.0 // test only
	go.opentelemetry.io/otel/trace v1.46.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/go-logr/logr v1.4.4 // indirect
	github.com/go-logr/stdr v1.2.2 // indirect
	github.com/google/uuid v1.6.0 // indirect
	go.opentelemetry.io/auto/sdk v1.2.1 // indirect
	go.uber.org/atomic v1.11.0 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	golang.org/x/sys v0.47.0 // indirect
)

replace (
	github.com/tollgate-go/tollgate => ..
	github.com/tollgate-go/tollgate/rules => ../rules
	github.com/tollgate-go/tollgate/stores/redisstore => ../stores/redisstore
)
