package opspage

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// ServeHTTP serves the page: GET (and HEAD) shows it, as JSON when the
// query says format=json or the request accepts application/json and not
// text/html, else as HTML; POST makes a change (see the package doc).
// Mount it where you like: it reads no path, and its forms post to the URL
// it was served from.
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	// No script runs on the page, whatever a key holds: it has none.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s := p.view(r)
		if wantsJSON(r) {
			writeJSON(w, http.StatusOK, s)
			return
		}
		switch r.URL.Query().Get("done") {
		case "reset":
			s.Done = "The client's quota was reset."
		case "release":
			s.Done = "The client was let out of the penalty box."
		}
		p.writeHTML(w, http.StatusOK, s)
	case http.MethodPost:
		p.act(w, r)
	default:
		h.Set("Allow", "GET, HEAD, POST")
		http.Error(w, "Method not allowed.", http.StatusMethodNotAllowed)
	}
}

// wantsJSON reports whether r asks for JSON: format=json in its query (or
// its form), or an Accept header naming application/json and not
// text/html.
func wantsJSON(r *http.Request) bool {
	if f := r.URL.Query().Get("format"); f != "" {
		return f == "json"
	}
	if r.PostForm != nil && r.PostForm.Get("format") != "" {
		return r.PostForm.Get("format") == "json"
	}
	jsonOK, html := false, false
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || params["q"] == "0" {
			continue
		}
		switch mt {
		case "application/json":
			jsonOK = true
		case "text/html":
			html = true
		}
	}
	return jsonOK && !html
}

// answer replies to a change: for a tool, JSON with the outcome; for a
// browser, the page again (303, so a reload does not post twice), or a
// short page saying what went wrong.
func (p *Page) answer(w http.ResponseWriter, r *http.Request, err error, action string) {
	var he *httpError
	if err != nil && !errors.As(err, &he) {
		he = &httpError{http.StatusInternalServerError, "The change failed."}
	}
	if wantsJSON(r) {
		if he != nil {
			writeJSON(w, he.status, map[string]string{"error": he.msg})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"done": action})
		return
	}
	if he != nil {
		p.writeError(w, he.status, he.msg)
		return
	}
	// A relative reference: the page is wherever it is mounted.
	w.Header().Set("Location", "?done="+action)
	w.WriteHeader(http.StatusSeeOther)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // escapes <, > and & too
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(w, "opspage: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
