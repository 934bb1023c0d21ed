package storetest

// README: storetest
import (
	"testing"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storetest"
	mystore "github.com/tollgate-go/tollgate/stores/memstore"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clock core.Clock) core.Store {
		s, err := mystore.New(mystore.WithClock(clock))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// README: end
