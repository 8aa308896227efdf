package web_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/web"
)

// countingListener counts the connections open on the server side.
type countingListener struct {
	net.Listener
	open, peak atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	n := l.open.Add(1)
	for p := l.peak.Load(); n > p && !l.peak.CompareAndSwap(p, n); p = l.peak.Load() {
	}
	return &countedConn{Conn: c, l: l}, nil
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

// runServer runs a server on a loopback listener until the test ends and
// returns its address.
func runServer(t *testing.T, ln net.Listener, tweak func(*web.Options)) string {
	t.Helper()
	s, _ := newRealServer(t, bridge.Options{}, func(o *web.Options) {
		o.Listener = ln
		if tweak != nil {
			tweak(o)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return ln.Addr().String()
}

func listen(t *testing.T) *countingListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return &countingListener{Listener: ln}
}

// slowPost sends a webhook's headers and then a byte every 100 ms, until the
// server closes the connection or 30 s pass. It returns how long it was held.
func slowPost(addr string, stop <-chan struct{}) time.Duration {
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0
	}
	defer c.Close()
	if _, err := fmt.Fprintf(c, "POST /webhook/nuki HTTP/1.1\r\nHost: nuki-invites.example.org\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"); err != nil {
		return time.Since(start)
	}
	closed := make(chan struct{})
	go func() { // a close or an answer from the server ends the wait
		_, _ = c.Read(make([]byte, 1))
		close(closed)
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for time.Since(start) < 30*time.Second {
		select {
		case <-closed:
			return time.Since(start)
		case <-stop:
			return time.Since(start)
		case <-tick.C:
		}
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := c.Write([]byte(" ")); err != nil {
			return time.Since(start)
		}
	}
	return time.Since(start)
}

// A flood of clients that send their bodies slowly holds neither the
// server's connections nor /healthz and the page: the server serves at most
// MaxConns at once, closing those that have waited longest, and ends each
// body that takes longer than BodyTimeout.
func TestSlowClientsCannotHoldTheServer(t *testing.T) {
	if testing.Short() {
		t.Skip("opens hundreds of connections")
	}
	const maxConns, flood = 64, 300
	ln := listen(t)
	addr := runServer(t, ln, func(o *web.Options) {
		o.MaxConns = maxConns
		o.BodyTimeout = 2 * time.Second
		o.Extra = map[string]http.Handler{"POST /webhook/nuki": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.Copy(io.Discard, r.Body); err == nil {
				w.WriteHeader(http.StatusNoContent)
			}
		})}
	})

	stop := make(chan struct{})
	defer close(stop)
	held := make(chan time.Duration, flood)
	for range flood {
		go func() { held <- slowPost(addr, stop) }()
	}
	time.Sleep(500 * time.Millisecond) // the flood is in

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 5 {
		for _, path := range []string{"/healthz", "/"} {
			start := time.Now()
			res, err := client.Get("http://" + addr + path)
			if err != nil {
				t.Fatalf("GET %s during the flood (try %d): %v", path, i, err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Errorf("GET %s during the flood: %d", path, res.StatusCode)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("GET %s during the flood took %v", path, d)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}

	var longest time.Duration
	for range flood {
		longest = max(longest, <-held)
	}
	if longest > 20*time.Second {
		t.Errorf("a slow client was held %v; BodyTimeout is 2s", longest)
	}
	if peak := ln.peak.Load(); peak > maxConns+1 {
		t.Errorf("%d connections were open at once; MaxConns is %d", peak, maxConns)
	}
}

// When every connection is busy being answered (event streams here), a new
// one is refused at once instead of waiting; it is served again once one
// ends.
func TestConnectionsOverTheCapAreRefusedWhenAllAreBusy(t *testing.T) {
	ln := listen(t)
	addr := runServer(t, ln, func(o *web.Options) { o.MaxConns = 2; o.AllowedHosts = nil })
	var cancels []context.CancelFunc
	for range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		cancels = append(cancels, cancel)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/api/v1/events", nil)
		res, err := (&http.Transport{}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if _, err := res.Body.Read(make([]byte, 1)); err != nil { // the stream is being answered
			t.Fatal(err)
		}
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	if res, err := client.Get("http://" + addr + "/healthz"); err == nil {
		res.Body.Close()
		t.Fatalf("a third connection was served (%d) with two busy and MaxConns 2", res.StatusCode)
	} else if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the third connection waited instead of being refused: %v", err)
	}
	cancels[0]()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := client.Get("http://" + addr + "/healthz")
		if err == nil {
			res.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection after a stream ended: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The body deadline ends with the body: a handler that works on after
// reading it keeps its context, and so does an event stream.
func TestBodyDeadlineEndsWithTheBody(t *testing.T) {
	ln := listen(t)
	const bodyTimeout = 200 * time.Millisecond
	addr := runServer(t, ln, func(o *web.Options) {
		o.BodyTimeout = bodyTimeout
		o.Heartbeat = 50 * time.Millisecond
		o.Extra = map[string]http.Handler{"POST /work": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			select {
			case <-time.After(4 * bodyTimeout):
				w.WriteHeader(http.StatusNoContent)
			case <-r.Context().Done():
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		})}
	})
	client := &http.Client{Timeout: 10 * time.Second}
	res, err := client.Post("http://"+addr+"/work", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Errorf("a handler working past the body deadline: %d", res.StatusCode)
	}
	res, err = client.Post("http://"+addr+"/work", "application/json", io.NopCloser(&slowReader{}))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode == http.StatusNoContent {
		t.Error("a body sent over 1 s was read with a 200 ms deadline")
	}

	req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/events", nil)
	res, err = (&http.Client{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	start := time.Now()
	for time.Since(start) < 4*bodyTimeout {
		if _, err := res.Body.Read(make([]byte, 64)); err != nil {
			t.Fatalf("the event stream ended after %v: %v", time.Since(start), err)
		}
	}
}

// slowReader yields a byte every 100 ms, ten in all.
type slowReader struct{ n int }

func (r *slowReader) Read(p []byte) (int, error) {
	if r.n == 10 {
		return 0, io.EOF
	}
	time.Sleep(100 * time.Millisecond)
	r.n++
	p[0] = ' '
	return 1, nil
}
