package keyfuncs_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tollgate-go/tollgate/keyfuncs"
)

func TestHeader(t *testing.T) {
	byKey, err := keyfuncs.Header("x-api-key", 8)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		lines   []string
		want    string
		wantErr error
		errText string
	}{
		{name: "the value is the key", lines: []string{"X-Api-Key: k-123"}, want: "k-123"},
		{name: "the name is matched whatever its case", lines: []string{"X-API-KEY: k-123"}, want: "k-123"},
		{name: "a value of exactly maxLen bytes is kept", lines: []string{"X-Api-Key: 12345678"}, want: "12345678"},
		{name: "a missing header is no key", wantErr: keyfuncs.ErrNoKey, errText: "header X-Api-Key missing"},
		{name: "an empty header is no key", lines: []string{"X-Api-Key: "}, wantErr: keyfuncs.ErrNoKey, errText: "header X-Api-Key missing or empty"},
		{name: "a header on two lines is ambiguous", lines: []string{"X-Api-Key: k-1", "X-Api-Key: k-2"},
			wantErr: keyfuncs.ErrNoKey, errText: "header X-Api-Key sent on 2 lines"},
		{name: "a longer value is refused, not truncated", lines: []string{"X-Api-Key: 123456789"},
			wantErr: keyfuncs.ErrKeyTooLong, errText: "header X-Api-Key is 9 bytes, more than 8"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := byKey(request("192.0.2.1:1", tt.lines...))
			if tt.wantErr == nil {
				if err != nil || got != tt.want {
					t.Fatalf("key = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if got != "" || !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.errText) {
				t.Fatalf("key = %q, %v; want %v containing %q", got, err, tt.wantErr, tt.errText)
			}
			for _, l := range tt.lines {
				if _, v, _ := strings.Cut(l, ": "); v != "" && strings.Contains(err.Error(), v) {
					t.Fatalf("error %q quotes the value %q, which may be a secret", err, v)
				}
			}
		})
	}
}

func TestHeaderRejectsBadArguments(t *testing.T) {
	for _, tt := range []struct {
		name    string
		header  string
		maxLen  int
		errText string
	}{
		{"an empty name", "", 10, `Header("")`},
		{"a name with a space", "X Api Key", 10, `Header("X Api Key")`},
		{"a name with a colon", "X-Api-Key:", 10, `Header("X-Api-Key:")`},
		{"a zero cap", "X-Api-Key", 0, `Header("X-Api-Key", 0): maxLen`},
		{"a negative cap", "X-Api-Key", -1, "maxLen must be at least 1"},
	} {
		f, err := keyfuncs.Header(tt.header, tt.maxLen)
		if f != nil || err == nil || !strings.Contains(err.Error(), tt.errText) {
			t.Errorf("%s: Header = %v, %v; want an error containing %q", tt.name, f, err, tt.errText)
		}
	}
}

func TestPathMethodPattern(t *testing.T) {
	empty := httptest.NewRequest(http.MethodGet, "/", nil)
	empty.URL.Path = ""
	empty.Method = ""
	for _, tt := range []struct {
		name string
		f    keyfuncs.KeyFunc
		r    *http.Request
		want string
	}{
		{"Path is the decoded URL path", keyfuncs.Path(), httptest.NewRequest(http.MethodGet, "/api/a%20b?q=1", nil), "/api/a b"},
		{"an empty path is /", keyfuncs.Path(), empty, "/"},
		{"Method is the request method", keyfuncs.Method(), httptest.NewRequest(http.MethodPost, "/", nil), "POST"},
		{"an empty method is GET", keyfuncs.Method(), empty, "GET"},
	} {
		got, err := tt.f(tt.r)
		if err != nil || got != tt.want {
			t.Errorf("%s: key = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}

	noURL := httptest.NewRequest(http.MethodGet, "/", nil)
	noURL.URL = nil
	for _, tt := range []struct {
		name string
		f    keyfuncs.KeyFunc
		r    *http.Request
	}{
		{"Path of a request without URL", keyfuncs.Path(), noURL},
		{"Path of a nil request", keyfuncs.Path(), nil},
		{"Method of a nil request", keyfuncs.Method(), nil},
		{"Pattern of a request not routed by ServeMux", keyfuncs.Pattern(), httptest.NewRequest(http.MethodGet, "/", nil)},
	} {
		if got, err := tt.f(tt.r); got != "" || !errors.Is(err, keyfuncs.ErrNoKey) {
			t.Errorf("%s: key = %q, %v; want ErrNoKey", tt.name, got, err)
		}
	}
}

func TestPatternIsTheServeMuxRoute(t *testing.T) {
	var got []string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		k, err := keyfuncs.Pattern()(r)
		if err != nil {
			t.Error(err)
		}
		got = append(got, k)
	})
	for _, path := range []string{"/users/1", "/users/2"} {
		mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	if len(got) != 2 || got[0] != "GET /users/{id}" || got[1] != got[0] {
		t.Fatalf("keys = %q, want one pattern for both users", got)
	}
}

// constant returns a KeyFunc that always returns k.
func constant(k string) keyfuncs.KeyFunc {
	return func(*http.Request) (string, error) { return k, nil }
}

func TestCompose(t *testing.T) {
	byIP, _ := keyfuncs.IP()
	byKey, _ := keyfuncs.Header("X-Api-Key", 64)
	r := httptest.NewRequest(http.MethodGet, "/api", nil) // from 192.0.2.1:1234
	for _, tt := range []struct {
		name string
		fns  []keyfuncs.KeyFunc
		want string
	}{
		{"each part is prefixed by its length", []keyfuncs.KeyFunc{byIP, keyfuncs.Path()}, "9:192.0.2.1|4:/api"},
		{"one part is still prefixed", []keyfuncs.KeyFunc{keyfuncs.Method()}, "3:GET"},
		{"a separator in the first part does not collide…", []keyfuncs.KeyFunc{constant("a|b"), constant("c")}, "3:a|b|1:c"},
		{"…with one in the second", []keyfuncs.KeyFunc{constant("a"), constant("b|c")}, "1:a|3:b|c"},
		{"a length-like part does not collide…", []keyfuncs.KeyFunc{constant("1:a"), constant("b")}, "3:1:a|1:b"},
		{"…with a split one", []keyfuncs.KeyFunc{constant("1"), constant("a|1:b")}, "1:1|5:a|1:b"},
	} {
		f, err := keyfuncs.Compose(tt.fns...)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := f(r); err != nil || got != tt.want {
			t.Errorf("%s: key = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}

	f, _ := keyfuncs.Compose(byIP, byKey)
	if got, err := f(r); got != "" || !errors.Is(err, keyfuncs.ErrNoKey) || !strings.Contains(err.Error(), "Compose part 1") {
		t.Errorf("a part's error: key = %q, %v; want ErrNoKey naming part 1", got, err)
	}
	f, _ = keyfuncs.Compose(byIP, constant(""))
	if got, err := f(r); got != "" || !errors.Is(err, keyfuncs.ErrNoKey) {
		t.Errorf("a part's empty key: key = %q, %v; want ErrNoKey", got, err)
	}
	fns := []keyfuncs.KeyFunc{constant("a")}
	f, _ = keyfuncs.Compose(fns...)
	fns[0] = constant("b")
	if got, _ := f(r); got != "1:a" {
		t.Errorf("after the caller reused its slice: key = %q, want 1:a", got)
	}
}

func TestComposeRejectsBadArguments(t *testing.T) {
	for _, tt := range []struct {
		name    string
		fns     []keyfuncs.KeyFunc
		errText string
	}{
		{"no funcs", nil, "no key funcs"},
		{"a nil func", []keyfuncs.KeyFunc{keyfuncs.Path(), nil}, "key func 1 is nil"},
	} {
		if f, err := keyfuncs.Compose(tt.fns...); f != nil || err == nil || !strings.Contains(err.Error(), tt.errText) {
			t.Errorf("%s: Compose = %v, %v; want an error containing %q", tt.name, f, err, tt.errText)
		}
	}
}
