package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"text/template"
	"time"
)

// balancer is the load balancer in front of the instances.
type balancer struct {
	kind string // "nginx" or "go"
	what string // what it is, for the user
	addr string
	stop func()
}

// startBalancer starts the balancer that cfg.lb asks for: nginx when "auto"
// finds it on PATH or "nginx" demands it, else the one in this program.
func startBalancer(ctx context.Context, lb, dir string, targets []string) (*balancer, error) {
	switch lb {
	case "go":
		return goBalancer(ctx, targets)
	case "nginx", "auto":
		bin, err := exec.LookPath("nginx")
		if err == nil {
			return nginxBalancer(ctx, bin, dir, targets)
		}
		if lb == "nginx" {
			return nil, errors.New("-lb nginx: nginx not found on PATH (Debian/Ubuntu: apt-get install nginx-light)")
		}
		b, err := goBalancer(ctx, targets)
		if b != nil {
			b.what += "; nginx is not on PATH"
		}
		return b, err
	}
	return nil, fmt.Errorf("-lb %q: want auto, nginx or go", lb)
}

// goBalancer is a round-robin reverse proxy in this process. Like the nginx
// one it never retries a request on another instance: a retry would be
// counted twice.
func goBalancer(ctx context.Context, targets []string) (*balancer, error) {
	urls := make([]*url.URL, len(targets))
	for i, t := range targets {
		urls[i] = &url.URL{Scheme: "http", Host: t}
	}
	var next atomic.Uint64
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(urls[(next.Add(1)-1)%uint64(len(urls))])
			pr.SetXForwarded()
		},
		// The default keeps 2 idle connections per instance; ab -c 100
		// would open and close one per request.
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			http.Error(w, "bad gateway", http.StatusBadGateway)
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	b := &balancer{
		kind: "go", addr: ln.Addr().String(),
		what: "net/http/httputil.ReverseProxy in this process, round robin",
		stop: func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
			proxy.Transport.(*http.Transport).CloseIdleConnections()
		},
	}
	if err := poll(ctx, 10*time.Second, nil, func() error { return probe(b.addr) }); err != nil {
		b.stop()
		return nil, fmt.Errorf("go balancer: %w", err)
	}
	return b, nil
}

// nginxConf is the whole nginx configuration: one worker, every file it
// writes inside the demo's directory, round robin (nginx's default) over
// the instances.
var nginxConf = template.Must(template.New("nginx.conf").Parse(`# written by examples/cluster; removed when it exits
daemon off;
worker_processes 1;
error_log {{.Dir}}/error.log warn;
pid {{.Dir}}/nginx.pid;

events {
    worker_connections 1024;
}

http {
    access_log off;
    client_body_temp_path {{.Dir}}/client_body;
    proxy_temp_path {{.Dir}}/proxy;
    fastcgi_temp_path {{.Dir}}/fastcgi;
    uwsgi_temp_path {{.Dir}}/uwsgi;
    scgi_temp_path {{.Dir}}/scgi;

    upstream tollgate {
{{- range .Targets}}
        server {{.}};
{{- end}}
        keepalive 64;
    }

    server {
        listen {{.Listen}};
        location / {
            proxy_pass http://tollgate;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            # Never try a request again on the other instance: it may have
            # been counted already, and would be counted twice.
            proxy_next_upstream off;
        }
    }
}
`))

// nginxBalancer writes nginx.conf under dir and runs nginx in the
// foreground. A port found free may be taken before nginx binds it: then it
// tries another.
func nginxBalancer(ctx context.Context, bin, dir string, targets []string) (*balancer, error) {
	ndir := filepath.Join(dir, "nginx")
	if err := os.MkdirAll(ndir, 0o755); err != nil {
		return nil, err
	}
	conf := filepath.Join(ndir, "nginx.conf")
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		ports, err := freePorts(1)
		if err != nil {
			return nil, err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
		var sb strings.Builder
		if err := nginxConf.Execute(&sb, struct {
			Dir, Listen string
			Targets     []string
		}{ndir, addr, targets}); err != nil {
			return nil, err
		}
		if err := os.WriteFile(conf, []byte(sb.String()), 0o644); err != nil {
			return nil, err
		}
		// SIGTERM, not SIGKILL: nginx's master stops its worker on SIGTERM,
		// while a killed master would leave the worker running.
		p, err := startProc(ctx, "nginx", syscall.SIGTERM, bin, "-c", conf, "-p", ndir+string(filepath.Separator))
		if err != nil {
			return nil, err
		}
		err = poll(ctx, 10*time.Second, p.done, func() error { return probe(addr) })
		if err == nil {
			return &balancer{kind: "nginx", addr: addr, stop: p.stop,
				what: bin + ", round robin, config " + conf}, nil
		}
		p.stop()
		log, _ := os.ReadFile(filepath.Join(ndir, "error.log"))
		last = fmt.Errorf("nginx on %s: %w\n%s%s", addr, err, p.out, log)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

// probe asks the balancer for /hello without an X-Client header: the
// instance answers (400, or 503 before its first mode) without counting
// anything, and its X-Instance header shows the balancer reached it.
func probe(addr string) error {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + addr + "/hello")
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c.CloseIdleConnections()
	if resp.Header.Get("X-Instance") == "" {
		return fmt.Errorf("answer %s without X-Instance: not through the balancer", resp.Status)
	}
	return nil
}
