// Package bare is the README's use of the core without a router.
package bare

import (
	"log"
	"net/http"
	"strconv"
	"time"
)

// README: core
import (
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// README: end

// Handler is the README's handler, limited by hand.
func Handler() (http.Handler, func()) {
	// README: core
	store, err := memstore.New()
	if err != nil {
		log.Fatal(err)
	}
	limit, err := core.ParseLimit("100/m") // or core.PerMinute(100); "10/s burst 20"; "300/5m fixed-window"
	if err != nil {
		log.Fatal(err) // invalid limits are rejected here, naming the field
	}
	lim, err := core.NewLimiter(store, limit, core.WithName("per-ip"))
	if err != nil {
		log.Fatal(err)
	}
	clientIP, err := keyfuncs.IP() // the connection's address; proxy headers only when configured
	if err != nil {
		log.Fatal(err)
	}

	handle := func(w http.ResponseWriter, r *http.Request) {
		key, err := clientIP(r)
		if err != nil {
			http.Error(w, "cannot identify client", http.StatusBadRequest) // never a shared bucket
			return
		}
		d, _ := lim.Take(r.Context(), key) // an error: the store failed, and d follows the failure policy
		if !d.Allowed {
			// d.RetryAfter: the shortest wait after which this request would be admitted
			w.Header().Set("Retry-After", strconv.FormatInt(int64((d.RetryAfter+time.Second-1)/time.Second), 10))
			http.Error(w, "too many requests", http.StatusTooManyRequests)
			return
		}
		w.Write([]byte("hello\n"))
	}
	// README: end
	return http.HandlerFunc(handle), func() { store.Close() }
}
