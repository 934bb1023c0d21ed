package httplimit

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/keyfuncs"
)

// QuotaExceededType is the problem type of the draft's quota-exceeded
// problem (draft-ietf-httpapi-ratelimit-headers-11, section 5.1), used in the
// default JSON deny body with the extension member "violated-policies": the
// names of the policies that denied.
const QuotaExceededType = "https://iana.org/assignments/http-problem-types#quota-exceeded"

// quotaExceededTitle is the title the draft registers for QuotaExceededType
// (section 10.2.1). RFC 9457 asks that a type's title not change from one
// occurrence to the next, so it does not follow the deny status.
const quotaExceededTitle = "Quota Exceeded"

const (
	ctProblem = "application/problem+json"
	ctText    = "text/plain; charset=utf-8"
)

// defaultDeny answers with the deny status and a short body. Retry-After and
// the rate-limit fields are already set.
func (g *Gate) defaultDeny(w http.ResponseWriter, r *http.Request, d core.Decision) {
	g.writeDenial(w, r, d, nil)
}

// writeDenial is defaultDeny, writing the Content-Type and
// X-Content-Type-Options values in vals when it has room for them.
func (g *Gate) writeDenial(w http.ResponseWriter, r *http.Request, d core.Decision, vals []string) {
	secs := w.Header().Get(hRetryAfter)
	bp := bodyBufs.Get().(*[]byte)
	b := (*bp)[:0]
	if AcceptsJSON(r) {
		b = append(b, `{"type":"`+QuotaExceededType+`","title":"`+quotaExceededTitle+`","status":`...)
		b = strconv.AppendInt(b, int64(g.status), 10)
		b = append(b, `,"detail":"Quota exceeded; retry after `...)
		b = append(b, secs...)
		b = append(b, ` seconds.","violated-policies":["`...)
		b = append(b, d.Name...) // printable ASCII without quote or backslash: see core.WithName
		b = append(b, "\"]}\n"...)
		write(w, g.status, ctProblem, b, vals)
	} else {
		b = append(b, http.StatusText(g.status)...)
		b = append(b, ": quota exceeded; retry after "...)
		b = append(b, secs...)
		b = append(b, " seconds.\n"...)
		write(w, g.status, ctText, b, vals)
	}
	// A Writer must not retain what it is given (io.Writer), so the
	// buffer serves the next denial.
	if cap(b) <= maxPooledBody {
		*bp = b[:0]
		bodyBufs.Put(bp)
	}
}

// bodyBufs holds the buffers denial bodies are built in: a denied request
// costs no allocation for its body.
var bodyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

const maxPooledBody = 1024

// defaultError answers 400 to a request without a key and 503 to one a
// fail-closed limiter could not decide. The body says no more than that.
func defaultError(w http.ResponseWriter, r *http.Request, err error) {
	status, detail := http.StatusServiceUnavailable, "The rate limiter is unavailable; retry later."
	switch {
	case errors.Is(err, keyfuncs.ErrNoKey):
		status, detail = http.StatusBadRequest, "The request does not identify a client for rate limiting."
	case errors.Is(err, core.ErrInvalidLimit):
		status, detail = http.StatusInternalServerError, "The rate limit for this request is misconfigured."
	}
	WriteProblem(w, r, status, detail)
}

// WriteProblem writes status with a short body: an RFC 9457
// application/problem+json object (type about:blank, the status text as title,
// detail) when the client accepts JSON, else the status text and detail as
// plain text. detail must be valid JSON string content (no quote, backslash
// or control character). Custom handlers may use it to answer like the
// defaults. A status that is not a three-digit code, such as an unset 0, is
// answered as 500 Internal Server Error: net/http would panic on it.
func WriteProblem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	if status < 100 || status > 999 {
		status = http.StatusInternalServerError
	}
	title := http.StatusText(status)
	var b []byte
	if AcceptsJSON(r) {
		b = append(b, `{"type":"about:blank","title":"`...)
		b = append(b, title...)
		b = append(b, `","status":`...)
		b = strconv.AppendInt(b, int64(status), 10)
		b = append(b, `,"detail":"`...)
		b = append(b, detail...)
		b = append(b, "\"}\n"...)
		write(w, status, ctProblem, b, nil)
		return
	}
	b = append(b, title...)
	b = append(b, ": "...)
	b = append(b, detail...)
	b = append(b, '\n')
	write(w, status, ctText, b, nil)
}

// write answers status with body. The two fields' values go in vals when it
// has room for them (the spare slots of the rate-limit fields' arena), else
// in one new array: one allocation at most, where two Header.Set calls make
// two. net/http sets Content-Length itself for a body this short, written at
// once.
func write(w http.ResponseWriter, status int, contentType string, body []byte, vals []string) {
	v := vals
	if len(v) < 2 {
		v = make([]string, 2)
	}
	v[0], v[1] = contentType, "nosniff"
	h := w.Header()
	h["Content-Type"] = v[0:1:1]
	h["X-Content-Type-Options"] = v[1:2:2]
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// maxAccept is how many bytes of the Accept field AcceptsJSON reads: a
// browser's Accept is under 300 bytes, and the field's size (up to 1 MiB
// with net/http's defaults) is the client's choice, read on every denial.
const maxAccept = 1024

// AcceptsJSON reports whether r's Accept field prefers JSON to plain text:
// application/json, application/problem+json or application/*+json is
// acceptable (q > 0) with a weight at least that of any text type listed.
// A missing Accept, or one that reaches JSON only through */*, gets text.
//
// Only the first 1 KiB of the field (its lines in order, each counting at
// least one byte) is read: media ranges beyond it, or cut by it, are ignored,
// so the answer costs the same whatever the client sends. Weights follow RFC
// 9110's qvalue syntax ("0.5", "1", at most three decimals); a malformed one
// makes its range unacceptable. AcceptsJSON does not allocate.
func AcceptsJSON(r *http.Request) bool {
	qJSON, qText := -1, -1 // thousandths; -1: not listed
	budget := maxAccept
	for _, line := range r.Header["Accept"] {
		if budget <= 0 {
			break
		}
		whole := len(line) <= budget
		if !whole {
			line = line[:budget]
		}
		budget -= max(len(line), 1)
		for line != "" {
			part, rest, more := strings.Cut(line, ",")
			if !more && !whole {
				break // cut by the budget: its weight may lie beyond
			}
			line = rest
			typ, params, _ := strings.Cut(part, ";")
			typ = strings.TrimSpace(typ)
			switch {
			case lowerIs(typ, "application/json"), lowerIs(typ, "application/problem+json"), lowerIs(typ, "application/*+json"):
				qJSON = max(qJSON, qValue(params))
			case lowerIs(typ, "text/plain"), lowerIs(typ, "text/*"):
				qText = max(qText, qValue(params))
			}
		}
	}
	return qJSON > 0 && qJSON >= qText
}

// qValue reads the q parameter of a media range's parameters, in
// thousandths: 1000 when absent, 0 when malformed.
func qValue(params string) int {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !lowerIs(strings.TrimSpace(k), "q") {
			continue
		}
		return parseQ(strings.TrimSpace(v))
	}
	return 1000
}

// parseQ parses a qvalue (RFC 9110 section 12.4.2: "0" or "1", then
// optionally "." and up to three digits, at most 1) in thousandths, or
// returns 0 when v is not one.
func parseQ(v string) int {
	if v == "" || v[0] != '0' && v[0] != '1' {
		return 0
	}
	q := int(v[0]-'0') * 1000
	if len(v) == 1 {
		return q
	}
	if v[1] != '.' || len(v) > 5 {
		return 0
	}
	scale := 100
	for _, c := range []byte(v[2:]) {
		if c < '0' || c > '9' {
			return 0
		}
		q += int(c-'0') * scale
		scale /= 10
	}
	if q > 1000 {
		return 0
	}
	return q
}

// lowerIs reports whether s is t, a lower-case ASCII string, but for the
// case of ASCII letters. Media types are ASCII tokens: unlike
// strings.EqualFold, it does not take "ſ" (U+017F) for "s".
func lowerIs(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != t[i] {
			return false
		}
	}
	return true
}
