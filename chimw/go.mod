module github.com/tollgate-go/tollgate/chimw

go 1.25.0

require github.com/go-chi/chi/v5 v5.5.0

require (
	github.com/tollgate-go/tollgate v0.1.0
	go.uber.org/goleak v1.3.0 // test only: the leak check in TestMain
)

replace github.com/tollgate-go/tollgate => ..
