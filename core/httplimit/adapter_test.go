package httplimit_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
)

// netAdapter is an adapter for plain net/http, whose context is the request.
func netAdapter() *httplimit.Adapter[*http.Request] {
	return &httplimit.Adapter[*http.Request]{
		Name:  "netmw",
		Route: func(r *http.Request) string { return r.Pattern },
	}
}

func TestAdapterNewErrorsNameTheFault(t *testing.T) {
	l := limiter(t, core.PerMinute(1))
	skipReq := httplimit.WithContextSkip("WithNetSkip", func(*http.Request) bool { return false })
	tests := []struct {
		name string
		a    *httplimit.Adapter[*http.Request]
		l    *core.Limiter
		opts []httplimit.Option
		want []string
	}{
		{"a nil limiter", netAdapter(), nil, nil, []string{"netmw: ", "nil limiter"}},
		{"the zero Adapter", &httplimit.Adapter[*http.Request]{Name: "zero"}, l, nil, []string{"zero: ", "Adapter needs Route"}},
		{"another framework's skip", netAdapter(), l,
			[]httplimit.Option{httplimit.WithContextSkip("WithStringSkip", func(string) bool { return false })},
			[]string{"netmw: ", "WithStringSkip", "func(string) bool", "*http.Request"}},
		{"another framework's deny hook", netAdapter(), l,
			[]httplimit.Option{httplimit.WithContextDenyHandler("WithStringDeny", func(string, core.Decision) error { return nil })},
			[]string{"WithStringDeny", "*http.Request"}},
		{"a nil hook", netAdapter(), l,
			[]httplimit.Option{httplimit.WithContextErrorHandler[*http.Request]("WithNetError", nil)},
			[]string{"WithNetError", "nil func"}},
		{"a native and a net/http error handler", netAdapter(), l,
			[]httplimit.Option{
				httplimit.WithContextErrorHandler("WithNetError", func(*http.Request, error) error { return nil }),
				httplimit.WithErrorHandler(func(http.ResponseWriter, *http.Request, error) {}),
			},
			[]string{"WithErrorHandler and WithNetError both set"}},
		{"a bad httplimit option", netAdapter(), l,
			[]httplimit.Option{skipReq, httplimit.WithDenyStatus(200)}, []string{"netmw: ", "WithDenyStatus(200)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.a.New(tt.l, tt.opts...)
			if err == nil {
				t.Fatalf("no error (middleware %v)", m)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	if _, err := netAdapter().New(l, skipReq); err != nil {
		t.Errorf("a skip hook on the adapter's own context: %v", err)
	}
}

// A hook on a framework's context needs that framework's adapter: a Gate
// built without one would silently ignore it.
func TestGatesRefuseContextHooks(t *testing.T) {
	l := limiter(t, core.PerMinute(1))
	hook := httplimit.WithContextSkip("WithGinSkip", func(*http.Request) bool { return true })
	if _, err := httplimit.New(l, httplimit.WithKeyFunc(anyKey), hook); err == nil || !strings.Contains(err.Error(), "WithGinSkip") {
		t.Errorf("New with a context hook: error %v, want one naming WithGinSkip", err)
	}
	if _, err := httplimit.NewGroup([]*core.Limiter{l}, hook); err == nil || !strings.Contains(err.Error(), "WithGinSkip") {
		t.Errorf("NewGroup with a context hook: error %v, want one naming WithGinSkip", err)
	}
}

// closingStore records whether it was closed.
type closingStore struct {
	unusedStore
	closed *bool
}

func (s closingStore) Close() error { *s.closed = true; return nil }

func TestAdapterPerIPPanicsNamingTheFaultAndClosesItsStore(t *testing.T) {
	tests := []struct {
		name  string
		limit core.Limit
		opts  []httplimit.Option
		want  string
	}{
		{"an invalid limit", core.PerSecond(0), nil, "netmw.PerIP: "},
		{"an invalid option", core.PerSecond(1), []httplimit.Option{httplimit.WithDenyStatus(200)}, "netmw.PerIP: httplimit: WithDenyStatus(200)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			closed := false
			a := netAdapter()
			httplimit.SetNewStore(a, func() (core.Store, error) { return closingStore{closed: &closed}, nil })
			msg := func() (msg string) {
				defer func() { msg = fmt.Sprint(recover()) }()
				a.PerIP(tt.limit, tt.opts...)
				return ""
			}()
			if !strings.HasPrefix(msg, tt.want) {
				t.Errorf("panic %q, want one starting %q", msg, tt.want)
			}
			if !closed {
				t.Error("the store PerIP made was not closed")
			}
		})
	}
	a := netAdapter()
	httplimit.SetNewStore(a, func() (core.Store, error) { return nil, errors.New("no memory") })
	msg := func() (msg string) {
		defer func() { msg = fmt.Sprint(recover()) }()
		a.PerIP(core.PerSecond(1))
		return ""
	}()
	if msg != "netmw.PerIP: no memory" {
		t.Errorf("a store that cannot be made: panic %q, want %q", msg, "netmw.PerIP: no memory")
	}
}
