package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/module"
)

// moduleProxy is the one GOPROXY the outside module sees, on loopback. It
// serves our modules from the release's file proxy and nothing else for
// them: a module or version of ours that the release lacks is an error, so
// it cannot come from another source. Third-party modules come from the
// local module cache when it holds the file, else from the upstream proxy
// (the first proxy of the go command's own GOPROXY), so the check needs the
// network only for third-party files this machine has never downloaded.
type moduleProxy struct {
	ours     string // the release's file proxy
	cache    string // GOMODCACHE/cache/download
	upstream string // "" when GOPROXY names no proxy
	client   *http.Client
}

// startProxy serves p on a loopback port and returns its URL and a stop.
func startProxy(ours string) (string, func(), error) {
	cache, err := goEnv("GOMODCACHE")
	if err != nil {
		return "", nil, err
	}
	goproxy, err := goEnv("GOPROXY")
	if err != nil {
		return "", nil, err
	}
	p := &moduleProxy{ours: ours, cache: filepath.Join(cache, "cache", "download"), client: &http.Client{Timeout: time.Minute}}
	for _, entry := range strings.FieldsFunc(goproxy, func(r rune) bool { return r == ',' || r == '|' }) {
		if strings.HasPrefix(entry, "https://") || strings.HasPrefix(entry, "http://") {
			p.upstream = strings.TrimSuffix(entry, "/")
			break
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

func (p *moduleProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rel := strings.TrimPrefix(r.URL.Path, "/")
	escaped, _, ok := strings.Cut(rel, "/@")
	if !ok || strings.Contains(rel, "..") {
		http.Error(w, "not a module proxy request", http.StatusNotFound)
		return
	}
	path, err := module.UnescapePath(escaped)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	if path == ourPrefix || strings.HasPrefix(path, ourPrefix+"/") {
		// Ours: the release, or an error; never another source.
		if !serveFile(w, filepath.Join(p.ours, filepath.FromSlash(rel))) {
			http.Error(w, fmt.Sprintf("release-check: %s is not in the release", rel), http.StatusGone)
		}
		return
	}
	if strings.Contains(rel, "/@v/") && !strings.HasSuffix(rel, "/@v/list") && serveFile(w, filepath.Join(p.cache, filepath.FromSlash(rel))) {
		return
	}
	if p.upstream == "" {
		http.Error(w, "release-check: not in the module cache, and GOPROXY names no proxy to ask", http.StatusNotFound)
		return
	}
	resp, err := p.client.Get(p.upstream + "/" + rel)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// serveFile writes the file at name and reports whether there was one.
func serveFile(w http.ResponseWriter, name string) bool {
	f, err := os.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.IsDir() {
		return false
	}
	_, err = io.Copy(w, f)
	return err == nil || !errors.Is(err, os.ErrNotExist)
}
