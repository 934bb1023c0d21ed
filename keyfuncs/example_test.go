package keyfuncs_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/tollgate-go/tollgate/keyfuncs"
)

func ExampleIP() {
	byIP, err := keyfuncs.IP()
	if err != nil {
		panic(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "203.0.113.9:4711"
	r.Header.Set("X-Forwarded-For", "198.51.100.1") // forged: not read by default
	fmt.Println(byIP(r))

	r.RemoteAddr = "[2001:db8:1:2::9]:4711"
	fmt.Println(byIP(r))
	// Output:
	// 203.0.113.9 <nil>
	// 2001:db8:1:2::/64 <nil>
}

func ExampleIP_trustProxies() {
	// The load balancers live in 10.0.0.0/8.
	byIP, err := keyfuncs.IP(keyfuncs.TrustProxies("10.0.0.0/8"))
	if err != nil {
		panic(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.1:4711"
	// The client forged the first entry; the load balancer appended the
	// client's address, then a second balancer appended the first's.
	r.Header.Add("X-Forwarded-For", "198.51.100.1, 203.0.113.9")
	r.Header.Add("X-Forwarded-For", "10.0.0.2")
	fmt.Println(byIP(r))

	// A client that reaches the server directly is keyed by its own address.
	r.RemoteAddr = "192.0.2.7:4711"
	fmt.Println(byIP(r))
	// Output:
	// 203.0.113.9 <nil>
	// 192.0.2.7 <nil>
}

func ExampleHeader() {
	byKey, err := keyfuncs.Header("X-API-Key", 64)
	if err != nil {
		panic(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Api-Key", "k-8f2a")
	fmt.Println(byKey(r))

	r.Header.Del("X-Api-Key")
	_, err = byKey(r)
	fmt.Println(err)
	// Output:
	// k-8f2a <nil>
	// keyfuncs: no key: header X-Api-Key missing or empty
}

func ExampleCompose() {
	byIP, _ := keyfuncs.IP()
	byIPAndPath, err := keyfuncs.Compose(byIP, keyfuncs.Path())
	if err != nil {
		panic(err)
	}
	r := httptest.NewRequest("GET", "/api/orders", nil)
	r.RemoteAddr = "203.0.113.9:4711"
	fmt.Println(byIPAndPath(r))
	// Output:
	// 11:203.0.113.9|11:/api/orders <nil>
}

// Per API key, falling back to the client address: two lines, and the API
// key "203.0.113.9" and the client 203.0.113.9 keep buckets of their own.
func ExampleFirstOf() {
	byKey, _ := keyfuncs.Header("X-API-Key", 128)
	key, _ := keyfuncs.FirstOf(byKey, new(keyfuncs.IPResolver).Key) // the zero resolver: the connection's address

	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "203.0.113.9:4711"
	fmt.Println(key(r))
	r.Header.Set("X-API-Key", "203.0.113.9")
	fmt.Println(key(r))
	// Output:
	// 1:1|11:203.0.113.9 <nil>
	// 1:0|11:203.0.113.9 <nil>
}

// principalKey is the context key under which an (imagined) authentication
// middleware stores the principal it verified.
type principalKey struct{}

// A KeyFunc of your own keys by the principal that authentication found,
// not by the credential the client sent: two tokens of one account share a
// bucket, and no credential becomes a stored key.
func ExampleKeyFunc_principal() {
	byPrincipal := keyfuncs.KeyFunc(func(r *http.Request) (string, error) {
		id, ok := r.Context().Value(principalKey{}).(string)
		if !ok || id == "" {
			return "", fmt.Errorf("%w: not authenticated", keyfuncs.ErrNoKey)
		}
		return "user:" + id, nil
	})
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer eyJhbGciOi...") // verified upstream, not keyed
	fmt.Println(byPrincipal(r.WithContext(context.WithValue(r.Context(), principalKey{}, "42"))))
	_, err := byPrincipal(r)
	fmt.Println(err)
	// Output:
	// user:42 <nil>
	// keyfuncs: no key: not authenticated
}

// Behind a NAT64 translator, each IPv4 client keeps its own key.
func ExampleNAT64Prefixes() {
	byIP, err := keyfuncs.IP() // 64:ff9b::/96 and 64:ff9b:1::/96 by default
	if err != nil {
		panic(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "[64:ff9b::cb00:7109]:4711"
	fmt.Println(byIP(r))

	// A translator on a network-specific prefix is named, with its length.
	byIP, err = keyfuncs.IP(keyfuncs.NAT64Prefixes("2001:db8:64::/96"))
	if err != nil {
		panic(err)
	}
	r.RemoteAddr = "[2001:db8:64::c633:6401]:4711"
	fmt.Println(byIP(r))
	// Output:
	// 203.0.113.9 <nil>
	// 198.51.100.1 <nil>
}
