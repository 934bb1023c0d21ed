module github.com/tollgate-go/tollgate

go 1.25.0

require go.uber.org/goleak v1.3.0 // test only: the leak check in TestMain
