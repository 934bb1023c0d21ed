package adaptertest

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
)

// The cases of a cost known after the response (httplimit.WithCostAfter)
// join the table here.
func init() {
	cases = append(cases,
		tcase{"a cost the handler reports is settled after the response", costReported, needsNothing},
		tcase{"the body's size is the cost, and the policy says content-bytes", costBodyBytes, needsNothing},
		tcase{"a negative or absurd reported cost leaves the response intact", costBadReports, needsNothing},
		tcase{"server-sent events stream through a cost-after limit, each flushed", costEventStream, needsNothing},
		tcase{"a websocket upgrade goes through a cost-after limit", costWebsocket, needsNothing},
		tcase{"a request whose client goes away mid-body is still settled", costClientGone, needsNothing},
		tcase{"a store that cannot settle is refused at construction", costNoSettle, needsNothing},
	)
}

// costEnv is a server whose handler does what a request's X-Mode says
// (see serveCost), and a channel of the limiter's settlements.
type costEnv struct {
	*env
	settled chan core.Event
	sent    chan struct{} // the handler sent the first part of its body
	ack     chan struct{} // the test read it: the handler goes on
}

// costLimiter is a limiter named "cost" in e's store whose settlements
// the returned channel receives.
func (e *env) costLimiter(l core.Limit, settled chan core.Event) *core.Limiter {
	return e.limiter(l, core.WithName("cost"), core.WithHook(func(_ context.Context, ev core.Event) {
		if ev.Settled {
			settled <- ev
		}
	}))
}

// serveCost starts the adapter's router with l and opts in front of a
// handler that, by the request's X-Mode:
//   - "report" reports the cost in X-Cost and writes "ran";
//   - "bytes" writes X-Size bytes;
//   - "sse" streams two server-sent events, flushing the first and waiting
//     for the test to read it before the second;
//   - "ws" upgrades to a websocket, sends one text frame and reports 3;
//   - "gone" writes and flushes a part, waits for its client to go away,
//     then reports 7.
func (h *harness) serveCost(e *env, l *core.Limiter, settled chan core.Event, opts ...httplimit.Option) *costEnv {
	e.t.Helper()
	ce := &costEnv{env: e, settled: settled, sent: make(chan struct{}, 4), ack: make(chan struct{}, 4)}
	ep := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.ran.Add(1)
		rc := http.NewResponseController(w)
		switch r.Header.Get("X-Mode") {
		case "report":
			n, _ := strconv.ParseInt(r.Header.Get("X-Cost"), 10, 64)
			if !httplimit.ReportCost(r.Context(), n) {
				http.Error(w, "ReportCost found no cost-after limit", 500)
				return
			}
			_, _ = io.WriteString(w, "ran")
		case "bytes":
			n, _ := strconv.Atoi(r.Header.Get("X-Size"))
			_, _ = io.WriteString(w, strings.Repeat("x", n))
		case "sse":
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: one\n\n")
			if err := rc.Flush(); err != nil {
				http.Error(w, "flush: "+err.Error(), 500)
				return
			}
			ce.sent <- struct{}{}
			select {
			case <-ce.ack:
			case <-r.Context().Done():
				return
			}
			_, _ = io.WriteString(w, "data: two\n\n")
		case "ws":
			upgrade(w, r, rc)
		case "gone":
			_, _ = io.WriteString(w, "part\n")
			_ = rc.Flush()
			ce.sent <- struct{}{}
			<-r.Context().Done()
			httplimit.ReportCost(r.Context(), 7)
		}
	})
	router, err := h.a.Router(ep, l, opts...)
	if err != nil {
		e.t.Fatalf("%s: Router: %v", h.a.Name, err)
	}
	e.srv = httptest.NewUnstartedServer(router)
	e.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	e.srv.Start()
	e.t.Cleanup(e.srv.Close)
	return ce
}

// upgrade answers a websocket handshake (RFC 6455) on the hijacked
// connection, sends the text frame "hi", and reports a cost of 3.
func upgrade(w http.ResponseWriter, r *http.Request, rc *http.ResponseController) {
	key := r.Header.Get("Sec-WebSocket-Key")
	conn, rw, err := rc.Hijack()
	if err != nil {
		http.Error(w, "hijack: "+err.Error(), 500)
		return
	}
	defer conn.Close()
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n")
	_, _ = rw.Write([]byte{0x81, 2, 'h', 'i'}) // FIN, text; unmasked from a server
	_ = rw.Flush()
	httplimit.ReportCost(r.Context(), 3)
	// Wait for the client's close (or its going away), as a websocket
	// handler serves until then.
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _ = rw.ReadByte()
}

// do sends a /hello request with header and returns its status, body and
// fields, reading the whole body (a stream or not).
func (ce *costEnv) do(header ...string) response {
	ce.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ce.srv.URL+"/hello", nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := ce.srv.Client().Do(req)
	if err != nil {
		ce.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		ce.t.Fatal(err)
	}
	out := response{status: res.StatusCode, body: string(body), fields: map[string]string{}}
	for _, k := range owned {
		out.fields[k] = res.Header.Get(k)
	}
	return out
}

// settlement waits for the limiter's next settlement.
func (ce *costEnv) settlement() core.Event {
	ce.t.Helper()
	select {
	case ev := <-ce.settled:
		return ev
	case <-time.After(10 * time.Second):
		ce.t.Fatal("no settlement within 10s")
		return core.Event{}
	}
}

func costReported(t *testing.T, h *harness) {
	e := h.env(t)
	settled := make(chan core.Event, 16)
	ce := h.serveCost(e, e.costLimiter(core.PerMinute(10), settled), settled, httplimit.WithCostAfter(httplimit.CostReported))
	// Reserved at 1 (the fields say so), then settled at 6.
	if r := ce.do("X-Mode", "report", "X-Cost", "6"); r.status != 200 || r.body != "ran" || r.fields["X-Ratelimit-Remaining"] != "9" {
		t.Fatalf("first: %d %q, remaining %q; want 200, ran, 9 after the reservation", r.status, r.body, r.fields["X-Ratelimit-Remaining"])
	}
	if ev := ce.settlement(); ev.Cost != 5 || ev.Err != nil || ev.Decision.Remaining != 4 {
		t.Fatalf("settlement %+v, want 5 more charged, 4 left", ev)
	}
	// 4 left: admitted, then settled at 8, which leaves the key in debt.
	if r := ce.do("X-Mode", "report", "X-Cost", "8"); r.status != 200 || r.fields["X-Ratelimit-Remaining"] != "3" {
		t.Fatalf("second: %d, remaining %q; want 200, 3", r.status, r.fields["X-Ratelimit-Remaining"])
	}
	if ev := ce.settlement(); ev.Cost != 7 || ev.Decision.Allowed {
		t.Fatalf("settlement %+v, want 7 more charged, the key denied (in debt)", ev)
	}
	if r := ce.do("X-Mode", "report", "X-Cost", "1"); r.status != 429 || r.fields["Retry-After"] == "" {
		t.Fatalf("in debt: %d, Retry-After %q; want 429 with a wait", r.status, r.fields["Retry-After"])
	}
	if n := e.ran.Load(); n != 2 {
		t.Errorf("the handler ran %d times, want 2", n)
	}
}

func costBodyBytes(t *testing.T, h *harness) {
	e := h.env(t)
	settled := make(chan core.Event, 16)
	ce := h.serveCost(e, e.costLimiter(core.PerMinute(1000), settled), settled, httplimit.WithCostAfter(httplimit.CostBodyBytes))
	r := ce.do("X-Mode", "bytes", "X-Size", "300")
	if r.status != 200 || len(r.body) != 300 {
		t.Fatalf("%d with %d bytes, want 200 with 300", r.status, len(r.body))
	}
	if p := r.fields["Ratelimit-Policy"]; p != `"cost";q=1000;w=60;qu="content-bytes"` {
		t.Errorf("RateLimit-Policy %q, want the content-bytes unit", p)
	}
	if ev := ce.settlement(); ev.Cost != 299 || ev.Decision.Remaining != 700 {
		t.Fatalf("settlement %+v, want 299 more charged (300 bytes, 1 reserved), 700 left", ev)
	}
	// An empty body gives the reservation back.
	ce.do("X-Mode", "bytes", "X-Size", "0")
	if ev := ce.settlement(); ev.Cost != -1 || ev.Decision.Remaining != 700 {
		t.Fatalf("settlement %+v, want the reservation of 1 given back, 700 left", ev)
	}
}

func costBadReports(t *testing.T, h *harness) {
	e := h.env(t)
	settled := make(chan core.Event, 16)
	ce := h.serveCost(e, e.costLimiter(core.PerMinute(10), settled), settled, httplimit.WithCostAfter(httplimit.CostReported))
	// A negative cost: the response as the handler wrote it, the
	// reservation standing, the error seen by the hook.
	if r := ce.do("X-Mode", "report", "X-Cost", "-5"); r.status != 200 || r.body != "ran" {
		t.Fatalf("negative report: %d %q, want the handler's 200 ran", r.status, r.body)
	}
	if ev := ce.settlement(); !errors.Is(ev.Err, core.ErrInvalidCost) || ev.Cost != 0 {
		t.Fatalf("settlement %+v, want ErrInvalidCost and nothing charged", ev)
	}
	if r := ce.do("X-Mode", "report", "X-Cost", "1"); r.fields["X-Ratelimit-Remaining"] != "8" {
		t.Fatalf("remaining %q, want 8: the first reservation stood", r.fields["X-Ratelimit-Remaining"])
	}
	ce.settlement()
	// A cost far over the burst: charged as the burst, the response intact.
	if r := ce.do("X-Mode", "report", "X-Cost", "1000000000"); r.status != 200 || r.body != "ran" {
		t.Fatalf("absurd report: %d %q, want the handler's 200 ran", r.status, r.body)
	}
	if ev := ce.settlement(); !errors.Is(ev.Err, core.ErrInvalidCost) || ev.Cost != 9 {
		t.Fatalf("settlement %+v, want ErrInvalidCost and the burst charged (9 past the reservation)", ev)
	}
}

func costEventStream(t *testing.T, h *harness) {
	e := h.env(t)
	settled := make(chan core.Event, 16)
	ce := h.serveCost(e, e.costLimiter(core.PerMinute(1000), settled), settled, httplimit.WithCostAfter(httplimit.CostBodyBytes))
	req, _ := http.NewRequest(http.MethodGet, ce.srv.URL+"/hello", nil)
	req.Header.Set("X-Mode", "sse")
	res, err := ce.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); res.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("%d %q, want 200 and an event stream", res.StatusCode, ct)
	}
	br := bufio.NewReader(res.Body)
	// The first event arrives while the handler still runs: it was flushed.
	line, err := br.ReadString('\n')
	if err != nil || line != "data: one\n" {
		t.Fatalf("first event %q, %v", line, err)
	}
	select {
	case <-ce.sent:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler never sent its first event")
	}
	ce.ack <- struct{}{}
	rest, _ := io.ReadAll(br)
	if string(rest) != "\ndata: two\n\n" {
		t.Fatalf("the rest of the stream %q", rest)
	}
	if ev := ce.settlement(); ev.Cost != 22-1 {
		t.Fatalf("settlement %+v, want the stream's 22 bytes, 1 reserved", ev)
	}
}

func costWebsocket(t *testing.T, h *harness) {
	e := h.env(t)
	settled := make(chan core.Event, 16)
	ce := h.serveCost(e, e.costLimiter(core.PerMinute(100), settled), settled, httplimit.WithCostAfter(httplimit.CostBodyBytes))
	conn, err := net.Dial("tcp", ce.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	key := base64.StdEncoding.EncodeToString([]byte("tollgate-adapter!"))
	_, _ = io.WriteString(conn, "GET /hello HTTP/1.1\r\nHost: test\r\nX-Mode: ws\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "+key+"\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if res.StatusCode != 101 || res.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Fatalf("handshake: %d, accept %q", res.StatusCode, res.Header.Get("Sec-WebSocket-Accept"))
	}
	frame := make([]byte, 4)
	if _, err := io.ReadFull(br, frame); err != nil || string(frame[2:]) != "hi" || frame[0] != 0x81 {
		t.Fatalf("frame % x, %v; want a text frame hi", frame, err)
	}
	conn.Close() // the handler returns, and settles
	if ev := ce.settlement(); ev.Cost != 2 {
		t.Fatalf("settlement %+v, want the reported 3 (2 past the reservation): bytes on a hijacked connection are the handler's to report", ev)
	}
}

func costClientGone(t *testing.T, h *harness) {
	e := h.env(t)
	settled := make(chan core.Event, 16)
	ce := h.serveCost(e, e.costLimiter(core.PerMinute(100), settled), settled, httplimit.WithCostAfter(httplimit.CostReported))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ce.srv.URL+"/hello", nil)
	req.Header.Set("X-Mode", "gone")
	res, err := ce.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(res.Body).ReadString('\n'); err != nil || line != "part\n" {
		t.Fatalf("first part %q, %v", line, err)
	}
	select {
	case <-ce.sent:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler never sent its first part")
	}
	cancel() // the client goes away mid-body
	res.Body.Close()
	ev := ce.settlement()
	if ev.Cost != 6 || ev.Err != nil || ev.Decision.Remaining != 93 {
		t.Fatalf("settlement %+v, want 6 charged past the reservation (7 reported), 93 left, although the client left", ev)
	}
}

// noSettle is a store that hides its Settle method.
type noSettle struct{ core.Store }

func costNoSettle(t *testing.T, h *harness) {
	e := h.env(t)
	l, err := core.NewLimiter(noSettle{e.store}, core.PerMinute(10), core.WithName("plain"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.a.Router(e.endpoint(), l, httplimit.WithCostAfter(httplimit.CostBodyBytes))
	if !errors.Is(err, core.ErrNoSettle) || !strings.Contains(err.Error(), `"plain"`) {
		t.Fatalf("Router over a store that cannot settle: %v, want ErrNoSettle naming the limit", err)
	}
}
