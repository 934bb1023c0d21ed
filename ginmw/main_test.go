package ginmw_test

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/goleak"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/ginmw"
	"github.com/tollgate-go/tollgate/internal/leakcheck"
)

// TestMain fails the package's tests if a goroutine outlives them, waiting
// for those that end by themselves (the memory store's default clock, half a
// second after its last reading; a store nobody closed, once collected).
func TestMain(m *testing.M) {
	leakcheck.Exit(m.Run(), "ginmw")
}

// The one-line form's store cannot be closed: once the router that holds
// the middleware is dropped, its goroutines must end by themselves.
func TestPerIPLeavesNoGoroutineOnceDropped(t *testing.T) {
	before := goleak.IgnoreCurrent()
	func() {
		r := gin.New()
		r.Use(ginmw.PerIP(core.PerMinute(2)))
		r.GET("/", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		if w.Code != http.StatusOK {
			t.Fatalf("status %d", w.Code)
		}
		if goleak.Find(before) == nil {
			t.Fatal("no goroutine found while the middleware is in use: the check below would prove nothing")
		}
		runtime.KeepAlive(r) // in use until here: else the check above may see it collected
	}()
	if err := leakcheck.Wait(10*time.Second, before); err != nil {
		t.Fatalf("10s after the router was dropped: %v", err)
	}
}
