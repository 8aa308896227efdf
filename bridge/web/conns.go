package web

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// connLimiter is a net.Listener that keeps at most max connections open. A
// connection counts as waiting while the server waits for its request's
// headers or body, or for its next request; one that sends slowly or not
// at all is therefore evicted first. At the cap a new connection closes the
// one that has waited longest; when none waits (all are being answered,
// event streams included), the new connection is closed at once.
type connLimiter struct {
	net.Listener
	max int
	log *slog.Logger

	mu       sync.Mutex
	conns    map[*limitedConn]struct{}
	lastWarn time.Time
}

// limitedConn is a connection handed out by connLimiter.
type limitedConn struct {
	net.Conn
	l *connLimiter

	// Guarded by l.mu.
	waiting bool
	since   time.Time // when the current wait began
}

func newConnLimiter(ln net.Listener, max int, log *slog.Logger) *connLimiter {
	return &connLimiter{Listener: ln, max: max, log: log, conns: make(map[*limitedConn]struct{}, max)}
}

// Accept returns the next connection, making room for it as described on
// connLimiter.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		now := time.Now()
		lc := &limitedConn{Conn: c, l: l, waiting: true, since: now}
		l.mu.Lock()
		var evict *limitedConn
		full := len(l.conns) >= l.max
		if full {
			for cand := range l.conns {
				if cand.waiting && (evict == nil || cand.since.Before(evict.since)) {
					evict = cand
				}
			}
		}
		warn := full && now.Sub(l.lastWarn) >= time.Minute
		if warn {
			l.lastWarn = now
		}
		if full && evict == nil {
			l.mu.Unlock()
			if warn {
				l.log.Warn("connection limit reached; refusing new connections while all are busy", "max", l.max)
			}
			c.Close()
			continue
		}
		if evict != nil {
			delete(l.conns, evict)
		}
		l.conns[lc] = struct{}{}
		l.mu.Unlock()
		if evict != nil {
			if warn {
				l.log.Warn("connection limit reached; closing the connections that wait longest for a request", "max", l.max)
			}
			evict.Conn.Close()
		}
		return lc, nil
	}
}

// track is the http.Server's ConnState hook.
func (l *connLimiter) track(c net.Conn, st http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	switch st {
	case http.StateNew, http.StateIdle:
		lc.wait(true)
	case http.StateActive:
		lc.wait(false)
	case http.StateClosed, http.StateHijacked:
		l.mu.Lock()
		delete(l.conns, lc)
		l.mu.Unlock()
	}
}

// wait marks the connection as waiting for the client, or not. It does
// nothing on a nil connection (a handler served without Run).
func (c *limitedConn) wait(waiting bool) {
	if c == nil {
		return
	}
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	if waiting && !c.waiting {
		c.since = time.Now()
	}
	c.waiting = waiting
}

type connKey struct{}

// withConn is the http.Server's ConnContext hook: it lets bodyDeadline find
// the request's connection.
func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// bodyDeadline bounds the reading of every request body by BodyTimeout,
// and marks the connection as waiting meanwhile. Once the body is read the
// deadline is lifted, so a handler that works longer keeps its context. A
// server-wide ReadTimeout would instead end the event streams.
func (s *Server) bodyDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(s.opts.BodyTimeout)); err != nil {
			next.ServeHTTP(w, r)
			return
		}
		lc, _ := r.Context().Value(connKey{}).(*limitedConn)
		lc.wait(true)
		r.Body = &deadlineBody{ReadCloser: r.Body, read: func() {
			_ = rc.SetReadDeadline(time.Time{})
			lc.wait(false)
		}}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody calls read once the body has been read to its end. After
// another error the deadline stays, so the connection cannot hang later.
type deadlineBody struct {
	io.ReadCloser
	read func()
	once sync.Once
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		b.once.Do(b.read)
	}
	return n, err
}
