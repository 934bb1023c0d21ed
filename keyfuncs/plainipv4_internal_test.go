package keyfuncs

import (
	"net/netip"
	"strings"
	"testing"
)

// plainIPv4Reference is what plainIPv4 must agree with: the host before
// the first colon, if the port after it is valid, parsed by
// netip.ParseAddr as an IPv4 address.
func plainIPv4Reference(remote string) (string, bool) {
	host := remote
	if i := strings.IndexByte(remote, ':'); i >= 0 {
		if !validPort(remote[i+1:]) {
			return "", false
		}
		host = remote[:i]
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Is4() {
		return "", false
	}
	return host, true
}

var plainIPv4Cases = []string{
	"203.0.113.7:41000", "203.0.113.7", "0.0.0.0:0", "255.255.255.255:65535", "1.2.3.4:_socket",
	"256.1.1.1:80", "1.2.3.256", "01.2.3.4", "1.2.3.04:80", "1.02.3.4", "0.0.0.00", "00.0.0.0",
	"1.2.3", "1.2.3.4.5", "1..3.4", ".1.2.3.4", "1.2.3.4.", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:80:90",
	"1.2.3.4%eth0", "1.2.3.4%eth0:80", "[::1]:80", "::ffff:1.2.3.4", "2001:db8::1", "", ":80", "1.2.3.4 :80",
	"1.2.3.-4", "1.2.3.4a", "9999.1.1.1", "1.2.3.1000", "127.0.0.1:8080", "10.0.0.1:0080", "1.2.3.4:123456",
}

func TestPlainIPv4AgreesWithParseAddr(t *testing.T) {
	for _, remote := range plainIPv4Cases {
		host, ok := plainIPv4(remote)
		wantHost, wantOK := plainIPv4Reference(remote)
		if host != wantHost || ok != wantOK {
			t.Errorf("plainIPv4(%q) = %q, %v; ParseAddr says %q, %v", remote, host, ok, wantHost, wantOK)
		}
	}
}

func FuzzPlainIPv4(f *testing.F) {
	for _, remote := range plainIPv4Cases {
		f.Add(remote)
	}
	f.Fuzz(func(t *testing.T, remote string) {
		host, ok := plainIPv4(remote)
		wantHost, wantOK := plainIPv4Reference(remote)
		if host != wantHost || ok != wantOK {
			t.Errorf("plainIPv4(%q) = %q, %v; ParseAddr says %q, %v", remote, host, ok, wantHost, wantOK)
		}
	})
}
