package redisstore_test

import (
	"os"
	"runtime"
	"testing"

	"github.com/tollgate-go/tollgate/internal/redistest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	redistest.StopAll()
	os.Exit(code)
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
