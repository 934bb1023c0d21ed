package opspage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/opspage"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// A page over one limiter: a client denied three times is the top denied
// client, under its hash; a tool reads the page's JSON.
func Example() {
	store, err := memstore.New()
	if err != nil {
		panic(err)
	}
	defer store.Close()
	page, err := opspage.New(opspage.WithHashSecret([]byte("an example's secret, 32 bytes ..")))
	if err != nil {
		panic(err)
	}
	view, err := page.Store("memory", store)
	if err != nil {
		panic(err)
	}
	login, err := core.NewLimiter(store, core.PerMinute(2), view.Options("login")...)
	if err != nil {
		panic(err)
	}
	if err := page.Limiters(login); err != nil {
		panic(err)
	}
	for i := 0; i < 5; i++ {
		login.Take(context.Background(), "203.0.113.7")
	}

	srv := httptest.NewServer(page) // mux.Handle("/debug/tollgate", page)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "?format=json")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var s struct {
		Policies []struct{ Name, Limit string }
		Denied   struct {
			Top []struct {
				Policy, Key string
				Count       int
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		panic(err)
	}
	fmt.Println(s.Policies[0].Name, s.Policies[0].Limit)
	for _, c := range s.Denied.Top {
		fmt.Println(c.Policy, c.Key, c.Count, c.Key == page.Hash("203.0.113.7"))
	}
	// Output:
	// login 2/m
	// login h:93d553857d1d5ed1 3 true
}
