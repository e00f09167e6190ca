package ingress

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// DrainListener wraps a listener and remembers the connections it accepted
// that have not sent a byte yet.
//
// fasthttp's graceful shutdown closes a keep-alive connection as soon as it
// is idle between requests, but a connection that never sent a request
// counts as idle only five seconds after it was accepted (net/http's rule).
// HTTP clients open such connections all the time: Go's transport dials one
// per waiting request and keeps the spare ones. Left alone they hold every
// shutdown for those five seconds, longer than a short grace period.
// Shutdown closes them instead: no request was read from them, so nothing
// was applied, and a client that was just about to send learns so from the
// closed connection and retries elsewhere (with its idempotency key).
type DrainListener struct {
	net.Listener

	mu     sync.Mutex
	unused map[*drainConn]struct{}
	closed bool
}

// NewDrainListener wraps ln.
func NewDrainListener(ln net.Listener) *DrainListener {
	return &DrainListener{Listener: ln, unused: make(map[*drainConn]struct{})}
}

// Accept accepts a connection and remembers it until it sends its first
// byte or closes.
func (l *DrainListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	dc := &drainConn{Conn: c, l: l}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		c.Close()
		return nil, net.ErrClosed
	}
	l.unused[dc] = struct{}{}
	l.mu.Unlock()
	return dc, nil
}

// CloseUnused stops accepting (it closes the listener) and closes every
// accepted connection that has not sent a byte. It returns how many it
// closed. A connection whose first bytes arrive at the same moment is
// either left alone, its request served, or closed with those bytes
// dropped: never both.
func (l *DrainListener) CloseUnused() int {
	l.mu.Lock()
	l.closed = true
	conns := make([]*drainConn, 0, len(l.unused))
	for c := range l.unused {
		if c.state.CompareAndSwap(connUnused, connClaimed) {
			conns = append(conns, c)
		}
	}
	clear(l.unused)
	l.mu.Unlock()
	// A Serve that has not reached Accept yet would otherwise block there
	// until the next client; fasthttp closes only the listeners it serves.
	_ = l.Listener.Close()
	for _, c := range conns {
		c.Conn.Close()
	}
	return len(conns)
}

func (l *DrainListener) forget(c *drainConn) {
	l.mu.Lock()
	delete(l.unused, c)
	l.mu.Unlock()
}

// States of a drainConn: the first byte read and CloseUnused race for an
// unused connection, and the first compare-and-swap wins.
const (
	connUnused  int32 = iota // accepted, no byte read yet
	connUsed                 // a byte was read, or the server closed it
	connClaimed              // CloseUnused closed it before its first byte
)

type drainConn struct {
	net.Conn
	l     *DrainListener
	state atomic.Int32
}

func (c *drainConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.state.Load() != connUsed {
		if !c.state.CompareAndSwap(connUnused, connUsed) {
			// CloseUnused closed the connection as these bytes came in;
			// they must not become a request that runs and cannot answer.
			return 0, net.ErrClosed
		}
		c.l.forget(c)
	}
	return n, err
}

func (c *drainConn) Close() error {
	if c.state.CompareAndSwap(connUnused, connUsed) {
		c.l.forget(c)
	}
	return c.Conn.Close()
}

// drainTick is how often ShutdownServer closes connections that were
// accepted but never used while it waits for in-flight requests.
const drainTick = 20 * time.Millisecond

// ShutdownServer stops srv gracefully: it stops accepting on ln, lets
// in-flight requests finish and closes idle connections (fasthttp's
// ShutdownWithContext), and closes the connections ln accepted that never
// sent a request. It returns when every connection is closed, or ctx's
// error when it ends first.
func ShutdownServer(ctx context.Context, srv *fasthttp.Server, ln *DrainListener) error {
	done := make(chan error, 1)
	go func() { done <- srv.ShutdownWithContext(ctx) }()
	tick := time.NewTicker(drainTick)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			ln.CloseUnused()
			return err
		case <-tick.C:
			ln.CloseUnused()
		}
	}
}
