package httplimit_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tollgate-go/tollgate/core/httplimit"
)

// qvalue is RFC 9110's weight syntax (section 12.4.2).
var qvalue = regexp.MustCompile(`^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$`)

// referenceAcceptsJSON is content negotiation written plainly, for one
// Accept line of at most 1 KiB: split, lower-cased, weights checked with a
// regular expression and read with strconv.
func referenceAcceptsJSON(line string) bool {
	qJSON, qText := -1.0, -1.0
	for _, part := range strings.Split(line, ",") {
		typ, params, _ := strings.Cut(part, ";")
		typ = strings.ToLower(strings.TrimSpace(typ))
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok || strings.ToLower(strings.TrimSpace(k)) != "q" {
				continue
			}
			q = 0
			if v = strings.TrimSpace(v); qvalue.MatchString(v) {
				q, _ = strconv.ParseFloat(v, 64)
			}
			break
		}
		switch typ {
		case "application/json", "application/problem+json", "application/*+json":
			qJSON = max(qJSON, q)
		case "text/plain", "text/*":
			qText = max(qText, q)
		}
	}
	return qJSON > 0 && qJSON >= qText
}

// FuzzAcceptsJSON negotiates any Accept field. Beyond not panicking:
// AcceptsJSON does not allocate; it agrees with a plain reference on a line
// of at most 1 KiB; nothing past the first KiB changes its answer; and the
// answers written by WriteProblem are valid JSON when JSON was chosen.
func FuzzAcceptsJSON(f *testing.F) {
	for _, s := range []string{
		"", "*/*", "application/json", "Application/JSON;Q=0.5, text/plain;q=0.4",
		"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"application/json;q=0, text/*", "application/*+json;q=1.000", "application/json;q=nan",
		"application/json;q=0.1234", ",,;;==,", "application/problem+json ; q = 0.7 ; charset=utf-8",
		"application/j\u017fon", "text/plain;q=1.", strings.Repeat("text/html;q=0.1,", 70) + "application/json",
	} {
		f.Add(s, 0)
	}
	f.Add("text/plain", 3)
	f.Fuzz(func(t *testing.T, accept string, lines int) {
		r := httptest.NewRequest("GET", "/", nil)
		// The field as one line, or split into up to 4 lines at its commas.
		r.Header["Accept"] = []string{accept}
		if n := lines & 3; n > 0 {
			r.Header["Accept"] = strings.SplitN(accept, ",", n+1)
		}
		got := httplimit.AcceptsJSON(r)
		if n := testing.AllocsPerRun(1, func() { httplimit.AcceptsJSON(r) }); n != 0 {
			t.Fatalf("AcceptsJSON(%q): %v allocations", accept, n)
		}
		one := httptest.NewRequest("GET", "/", nil)
		one.Header["Accept"] = []string{accept}
		if len(accept) <= 1024 {
			if want := referenceAcceptsJSON(accept); httplimit.AcceptsJSON(one) != want {
				t.Fatalf("AcceptsJSON(%q) = %v, the reference says %v", accept, !want, want)
			}
			if len(accept) < 1024 {
				one.Header["Accept"] = []string{accept + "," + strings.Repeat(" ", 1024) + ",application/json"}
			}
		} else {
			one.Header["Accept"] = []string{accept[:1024] + ",application/json;q=1"}
		}
		if again := httplimit.AcceptsJSON(one); again != httplimit.AcceptsJSON(&http.Request{Header: http.Header{"Accept": {accept}}}) {
			t.Fatalf("AcceptsJSON(%q): what follows the first KiB changed the answer to %v", accept, again)
		}

		w := httptest.NewRecorder()
		httplimit.WriteProblem(w, r, http.StatusTooManyRequests, "Slow down.")
		ct := w.Header().Get("Content-Type")
		if got != (ct == "application/problem+json") || got && !json.Valid(w.Body.Bytes()) {
			t.Fatalf("WriteProblem for Accept %q: Content-Type %q, body %q", accept, ct, w.Body.String())
		}
	})
}
