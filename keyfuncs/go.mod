module github.com/tollgate-go/tollgate/keyfuncs

go 1.25.0
