package rules_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/rules"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

func ExampleNew() {
	store, err := memstore.New()
	if err != nil {
		panic(err)
	}
	defer store.Close()
	e, err := rules.New(store, rules.Config{Rules: []rules.Rule{
		{Name: "health", Match: rules.Match{PathPrefixes: []string{"/healthz"}}, Skip: true},
		{Name: "api", Match: rules.Match{PathPrefixes: []string{"/"}},
			Limits: []rules.NamedLimit{{Name: "per-ip", Limit: core.PerMinute(2), Key: "ip"}}},
	}})
	if err != nil {
		panic(err)
	}
	h := e.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, path := range []string{"/healthz", "/a", "/b", "/c"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		fmt.Printf("%s %d %q\n", path, w.Code, w.Header().Get("RateLimit"))
	}
	// Output:
	// /healthz 200 ""
	// /a 200 "\"per-ip\";r=1;t=30"
	// /b 200 "\"per-ip\";r=0;t=60"
	// /c 429 "\"per-ip\";r=0;t=30"
}

func ExampleParse() {
	_, err := rules.Parse("rules.yaml", []byte(`
rules:
  - name: login
    match: {method: POST, path_prefix: /login}
    limits:
      - {name: login-per-ip, limit: ten per minute, key: ip}
`))
	fmt.Println(err)
	// Output:
	// rules.yaml:6: rules[0].limits[0].limit: core: invalid limit: limit "ten per minute": want RATE/PERIOD, as in 100/m
}
