module github.com/tollgate-go/tollgate/echo5mw

go 1.25.0

require (
	github.com/labstack/echo/v5 v5.4.6
	github.com/tollgate-go/tollgate v0.1.0
	go.uber.org/goleak v1.3.0
)

require golang.org/x/time v0.15.0 // indirect

replace github.com/tollgate-go/tollgate => ..
