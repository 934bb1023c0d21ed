package e2e_test

import (
	"testing"

	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }
