module github.com/tollgate-go/tollgate/stores/memstore

go 1.25.0

require github.com/tollgate-go/tollgate/core v0.0.0-00010101000000-000000000000

require go.uber.org/goleak v1.3.0 // test only: the leak check in TestMain

replace github.com/tollgate-go/tollgate/core => ../../core
