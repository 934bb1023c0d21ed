package e2e_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// halfClosed sends one HTTP/1.1 request, shuts down its side of the
// connection at once (shutdown(SHUT_WR): the server's read sees EOF and the
// request's context is cancelled while it is being decided), then reads the
// answer, and returns its status.
func halfClosed(addr string) (int, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: e2e\r\n\r\n"); err != nil {
		return 0, err
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// HTTP/2 frames, written by hand (RFC 9113): the client below needs
// nothing but to open streams and reset them.
const (
	frameHeaders  = 0x1
	frameRST      = 0x3
	frameSettings = 0x4
	flagEndStream = 0x1
	flagAck       = 0x1
	flagEndHdrs   = 0x4
	errCancel     = 0x8
)

func appendFrame(b []byte, typ, flags byte, stream uint32, payload []byte) []byte {
	n := len(payload)
	b = append(b, byte(n>>16), byte(n>>8), byte(n), typ, flags)
	b = binary.BigEndian.AppendUint32(b, stream&0x7fffffff)
	return append(b, payload...)
}

// getHeaders is the HPACK block of "GET / HTTP/2" to authority e2e: the
// static table's :method GET (2), :scheme http (6), :path / (4), and
// :authority (1) as a literal without indexing.
var getHeaders = []byte{0x82, 0x86, 0x84, 0x01, 3, 'e', '2', 'e'}

// resetStreams opens n streams on one h2c connection (prior knowledge),
// each a GET reset (RST_STREAM, CANCEL) in the same write as its HEADERS:
// the server starts each request and sees it cancelled while it is being
// decided. Once every frame is written it calls settled, which returns when
// the server has dealt with them, and closes the connection.
func resetStreams(addr string, n int, settled func()) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	var mu sync.Mutex // writes: ours and the reader's SETTINGS acks
	write := func(b []byte) error {
		mu.Lock()
		defer mu.Unlock()
		_, err := c.Write(b)
		return err
	}
	// Read and drop the server's frames, acknowledging its SETTINGS, until
	// the connection closes.
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := bufio.NewReader(c)
		var h [9]byte
		for {
			if _, err := io.ReadFull(r, h[:]); err != nil {
				return
			}
			n := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
			if _, err := r.Discard(n); err != nil {
				return
			}
			if h[3] == frameSettings && h[4]&flagAck == 0 {
				if write(appendFrame(nil, frameSettings, flagAck, 0, nil)) != nil {
					return
				}
			}
		}
	}()
	b := append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), appendFrame(nil, frameSettings, 0, 0, nil)...)
	if err := write(b); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		id := uint32(2*i + 1)
		b := appendFrame(nil, frameHeaders, flagEndStream|flagEndHdrs, id, getHeaders)
		b = appendFrame(b, frameRST, 0, id, binary.BigEndian.AppendUint32(nil, errCancel))
		if err := write(b); err != nil {
			return fmt.Errorf("stream %d: %w", id, err)
		}
	}
	settled()
	return nil
}
