package redisstore_test

import (
	"os"
	"testing"

	"github.com/tollgate-go/tollgate/stores/redisstore/internal/redistest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	redistest.StopAll()
	os.Exit(code)
}
