module github.com/tollgate-go/tollgate/opspage

go 1.25.0

require (
	github.com/tollgate-go/tollgate v0.1.0
	github.com/tollgate-go/tollgate/rules v0.1.0
)

// Test only: the page in a real headless Chromium, resets on a real Redis.
require (
	github.com/chromedp/cdproto v0.160.4
	github.com/chromedp/chromedp v0.23.1
	github.com/redis/go-redis/v9 v9.22.0
	github.com/tollgate-go/tollgate/stores/redisstore v0.1.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	go.uber.org/atomic v1.11.0 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	golang.org/x/sys v0.30.0 // indirect
)

replace github.com/tollgate-go/tollgate => ..

replace github.com/tollgate-go/tollgate/rules => ../rules

replace github.com/tollgate-go/tollgate/stores/redisstore => ../stores/redisstore
