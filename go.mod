module github.com/tollgate-go/tollgate

go 1.25.0

require (
	github.com/dunglas/httpsfv v1.1.2 // test only: an RFC 9651 parser that is not ours checks the rate-limit fields
	go.uber.org/goleak v1.3.0 // internal/leakcheck: the leak check ending every module's tests
)
