module github.com/tollgate-go/tollgate/rules

go 1.25.0

require (
	github.com/tollgate-go/tollgate/core v0.0.0-00010101000000-000000000000
	github.com/tollgate-go/tollgate/keyfuncs v0.0.0-00010101000000-000000000000
	github.com/tollgate-go/tollgate/stores/memstore v0.0.0-00010101000000-000000000000
	go.yaml.in/yaml/v3 v3.0.6
)

require go.uber.org/goleak v1.3.0 // test only: the leak check in TestMain

replace (
	github.com/tollgate-go/tollgate/core => ../core
	github.com/tollgate-go/tollgate/keyfuncs => ../keyfuncs
	github.com/tollgate-go/tollgate/stores/memstore => ../stores/memstore
)
