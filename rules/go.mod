module github.com/tollgate-go/tollgate/rules

go 1.25.0

require go.yaml.in/yaml/v3 v3.0.6

require (
	github.com/tollgate-go/tollgate v0.1.0
	go.uber.org/goleak v1.3.0 // indirect; test only: the leak check in TestMain (internal/leakcheck)
)

replace github.com/tollgate-go/tollgate => ..
