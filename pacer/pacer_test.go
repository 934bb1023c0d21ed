package pacer_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/pacer"
)

func TestNewRefusesInvalidOptionsNamingThem(t *testing.T) {
	tests := []struct {
		opt  pacer.Option
		want string
	}{
		{pacer.WithMaxWait(0), "pacer: WithMaxWait: 0s is not positive"},
		{pacer.WithMaxWait(-time.Second), "pacer: WithMaxWait: -1s is not positive"},
		{pacer.WithMaxRetries(-1), "pacer: WithMaxRetries: -1 is negative"},
		{pacer.WithMaxHosts(0), "pacer: WithMaxHosts: 0 is less than 1"},
		{pacer.WithMaxPolicies(0), "pacer: WithMaxPolicies: 0 is not between 1 and 64"},
		{pacer.WithMaxPolicies(65), "pacer: WithMaxPolicies: 65 is not between 1 and 64"},
		{nil, "pacer: New: a nil Option"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			p, err := pacer.New(nil, tt.opt)
			if err == nil || err.Error() != tt.want || p != nil {
				t.Errorf("New = %v, %v; want nil, %q", p, err, tt.want)
			}
		})
	}
	for _, opt := range []pacer.Option{
		pacer.WithMaxWait(time.Nanosecond), pacer.WithMaxRetries(0), pacer.WithMaxHosts(1),
		pacer.WithMaxPolicies(1), pacer.WithMaxPolicies(64), pacer.WithFailFast(),
	} {
		if _, err := pacer.New(nil, opt); err != nil {
			t.Errorf("New: %v", err)
		}
	}
}

// closeCounting is a base transport that counts CloseIdleConnections.
type closeCounting struct {
	http.RoundTripper
	closed int
}

func (c *closeCounting) CloseIdleConnections() { c.closed++ }

func TestCloseIdleConnectionsReachesTheBase(t *testing.T) {
	base := &closeCounting{RoundTripper: http.DefaultTransport}
	p := newPacer(t, base)
	(&http.Client{Transport: p}).CloseIdleConnections()
	if base.closed != 1 {
		t.Errorf("base closed %d times, want 1", base.closed)
	}
	newPacer(t, http.NewFileTransport(http.Dir("."))).CloseIdleConnections() // a base without the method: nothing
}

func TestARequestWithoutAURLIsAnError(t *testing.T) {
	body := &closeCounter{Reader: strings.NewReader("x")}
	_, err := newPacer(t, nil).RoundTrip(&http.Request{Method: "PUT", Body: body, Header: http.Header{}})
	if err == nil || body.closed != 1 {
		t.Errorf("error %v, body closed %d times; want an error and the body closed", err, body.closed)
	}
	_, err = newPacer(t, nil).RoundTrip(&http.Request{Method: "GET", URL: &url.URL{Scheme: "http"}, Header: http.Header{}})
	if err == nil {
		t.Error("a URL without a host: no error")
	}
}
