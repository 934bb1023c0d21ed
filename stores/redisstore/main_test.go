package redisstore_test

import (
	"runtime"
	"testing"

	"github.com/tollgate-go/tollgate/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
