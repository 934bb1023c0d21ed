package e2e_test

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
)

// Issue 15, item 1: a client that goes away must not be admitted. Each
// test spends the quota with ordinary requests, then attacks; not one
// attacking request may reach the handler. In every Redis mode, with both
// kinds of go-redis client, through a real chi server over real TCP.

// forEach runs fn for every mode and client kind, each on a site of its own.
func forEach(t *testing.T, boxes bool, fn func(t *testing.T, s *site)) {
	srv := redisServer(t)
	for _, c := range clients {
		for _, m := range modes {
			if boxes && !m.box {
				continue
			}
			t.Run(m.name+"/"+c.name, func(t *testing.T) {
				client := srv.Client(t, c.opt())
				var pen *core.Penalty
				if boxes {
					pen = &core.Penalty{Denials: 2, Within: time.Hour, For: time.Hour}
				}
				fn(t, newSite(t, m.store(t, client), pen))
			})
		}
	}
}

// halfCloseAttack sends n half-closed requests from conc connections at a
// time and requires every one to be answered 429 and none served.
func halfCloseAttack(t *testing.T, s *site, n, conc int) {
	t.Helper()
	served := s.Served.Load()
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	next := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		next <- struct{}{}
	}
	close(next)
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				code, err := halfClosed(s.Addr)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				statuses[code]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if got := s.Served.Load() - served; got != 0 || statuses[http.StatusTooManyRequests] != n {
		t.Fatalf("%d half-closed requests past the quota, %d at a time: statuses %v, %d served; want all 429, none served", n, conc, statuses, got)
	}
}

func TestHalfClosedRequestsPastTheQuotaAreDenied(t *testing.T) {
	for _, conc := range []int{1, 32} {
		t.Run(fmt.Sprintf("%d connections", conc), func(t *testing.T) {
			forEach(t, false, func(t *testing.T, s *site) {
				s.spend(t)
				halfCloseAttack(t, s, 128, conc)
				if code := s.get(t); code != http.StatusTooManyRequests {
					t.Fatalf("an ordinary request after the attack: %d, want 429", code)
				}
			})
		})
	}
}

func TestResetHTTP2StreamsPastTheQuotaAreNotServed(t *testing.T) {
	forEach(t, false, func(t *testing.T, s *site) {
		s.spend(t)
		const n = 128
		served, decided := s.Served.Load(), s.Decided.Load()
		err := resetStreams(s.Addr, n, func() {
			waitFor(t, "the server deciding every reset stream", func() bool { return s.Decided.Load()-decided >= n })
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Served.Load() - served; got != 0 {
			t.Fatalf("%d of %d reset HTTP/2 streams past the quota were served, want none", got, n)
		}
	})
}

func TestHalfClosedRequestsFromABoxedClientAreDenied(t *testing.T) {
	for _, conc := range []int{1, 32} {
		t.Run(fmt.Sprintf("%d connections", conc), func(t *testing.T) {
			forEach(t, true, func(t *testing.T, s *site) {
				s.spend(t) // the quota, and one denial
				if code := s.get(t); code != http.StatusTooManyRequests {
					t.Fatalf("the second denial: %d, want 429", code)
				}
				// The client is in the box now: an hour.
				halfCloseAttack(t, s, 128, conc)
				resp, err := http.Get("http://" + s.Addr + "/")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if retry, _ := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != http.StatusTooManyRequests || retry < 3000 {
					t.Fatalf("an ordinary request after the attack: %d, Retry-After %q; want 429 and the box's hour", resp.StatusCode, resp.Header.Get("Retry-After"))
				}
			})
		})
	}
}
