package rules

import (
	"net/http"
	"net/netip"
	"regexp"
	"strings"
)

// matcher is a compiled Match: every set condition must hold.
type matcher struct {
	methods  []string
	prefixes []string
	regex    *regexp.Regexp
	routes   []string
	headers  []headerCond
	cidrs    []netip.Prefix
}

type headerCond struct {
	name   string // canonical
	equals string // "" : present
}

func (m *matcher) match(q *request) bool {
	r := q.r
	if len(m.methods) > 0 {
		method := r.Method
		if method == "" {
			method = http.MethodGet
		}
		if !contains(m.methods, method) {
			return false
		}
	}
	if len(m.prefixes) > 0 || m.regex != nil {
		path := "/"
		if r.URL != nil && r.URL.Path != "" {
			path = r.URL.Path
		}
		if len(m.prefixes) > 0 {
			ok := false
			for _, p := range m.prefixes {
				if strings.HasPrefix(path, p) {
					ok = true
					break
				}
			}
			if !ok {
				return false
			}
		}
		if m.regex != nil && !m.regex.MatchString(path) {
			return false
		}
	}
	if len(m.routes) > 0 && !contains(m.routes, q.route) {
		return false
	}
	for _, h := range m.headers {
		vs := r.Header[h.name]
		if h.equals == "" {
			if len(vs) == 0 {
				return false
			}
		} else if len(vs) != 1 || vs[0] != h.equals {
			return false
		}
	}
	if len(m.cidrs) > 0 {
		ip, err := q.clientIP()
		if err != nil || !inAny(m.cidrs, ip) {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func inAny(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parsePrefix reads a CIDR or a single address, normalised as keyfuncs
// reads clients: IPv4-mapped ranges are unmapped, since a client address
// never is mapped.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}
