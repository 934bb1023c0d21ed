module github.com/tollgate-go/tollgate/grpclimit

go 1.25.0

require (
	github.com/tollgate-go/tollgate v0.1.0
	go.uber.org/goleak v1.3.0 // indirect; test only: the leak check in TestMain (internal/leakcheck)
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260706201446-f0a921348800
	google.golang.org/grpc v1.84.0
	google.golang.org/protobuf v1.36.11
)

require (
	golang.org/x/net v0.57.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/text v0.40.0 // indirect
)

replace github.com/tollgate-go/tollgate => ..
