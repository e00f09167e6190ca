package ingress

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// A connection that never sent a request must not hold a shutdown: fasthttp
// alone treats it as idle only five seconds after it was accepted.
func TestShutdownClosesUnusedConnections(t *testing.T) {
	h := newHarness(t, nil)
	srv, err := New(h.srv.opts, h.svc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.ServeUser(ln) }()

	unused, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer unused.Close()
	used, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer used.Close()
	if _, err := io.WriteString(used, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(used), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("health over a kept-alive connection: %v %v", resp, err)
	}
	resp.Body.Close()

	// Make sure the server accepted the unused connection before shutting down.
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a connection that never sent a request: %v", err)
	}
	unused.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := unused.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("the unused connection is still open after Shutdown: read %d, %v", n, err)
	}
	if err := <-served; err != nil {
		t.Fatalf("ServeUser: %v", err)
	}
}

func TestDrainListenerClosesOnlyUnusedConnections(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := NewDrainListener(tcp)
	defer ln.Close()
	dial := func() (client, server net.Conn) {
		t.Helper()
		c, err := net.Dial("tcp", tcp.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(); s.Close() })
		return c, s
	}
	usedClient, usedServer := dial()
	unusedClient, _ := dial()
	closedClient, closedServer := dial()
	closedServer.Close()
	closedClient.Close()

	if _, err := usedClient.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(usedServer, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if n := ln.CloseUnused(); n != 1 {
		t.Fatalf("CloseUnused closed %d connections, want 1 (the one that sent nothing)", n)
	}
	unusedClient.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := unusedClient.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("the unused connection is still open: %v", err)
	}
	// The used connection still works both ways.
	if _, err := usedServer.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	usedClient.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := io.ReadFull(usedClient, make([]byte, 1)); err != nil {
		t.Fatalf("the used connection was closed: %v", err)
	}
	// CloseUnused closed the listener: Accept fails at once rather than
	// waiting for a client, and new clients are refused.
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	select {
	case err := <-accepted:
		if err == nil {
			t.Fatal("Accept after CloseUnused returned a connection")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Accept after CloseUnused is still waiting for a client")
	}
	if c, err := net.Dial("tcp", tcp.Addr().String()); err == nil {
		c.Close()
		t.Fatal("a client could connect after CloseUnused")
	}
}

// TestDrainListenerFirstBytesRaceCloseUnused: when CloseUnused closes a
// connection while its first bytes are being read, those bytes must not
// reach the server, or it would run a request it can no longer answer.
func TestDrainListenerFirstBytesRaceCloseUnused(t *testing.T) {
	conn := &racingConn{}
	ln := NewDrainListener(&oneConnListener{conn: conn})
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	var closed int
	conn.beforeReturn = func() { closed = ln.CloseUnused() } // lands between the read and its bookkeeping
	n, err := c.Read(make([]byte, 16))
	if closed != 1 || !conn.closed {
		t.Fatalf("CloseUnused closed %d connections (racing one closed: %v), want the racing one", closed, conn.closed)
	}
	if n != 0 || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read of a connection CloseUnused closed = %d bytes, %v; want 0 and net.ErrClosed", n, err)
	}
}

// oneConnListener accepts conn once, then reports itself closed.
type oneConnListener struct {
	conn     net.Conn
	accepted bool
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if l.accepted {
		return nil, net.ErrClosed
	}
	l.accepted = true
	return l.conn, nil
}
func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return &net.TCPAddr{} }

// racingConn reads one byte of a request, calling beforeReturn after the
// byte arrived and before Read returns.
type racingConn struct {
	net.Conn
	beforeReturn func()
	closed       bool
}

func (c *racingConn) Read(p []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	p[0] = 'P'
	c.beforeReturn()
	return 1, nil
}

func (c *racingConn) Close() error { c.closed = true; return nil }

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// Shutdown drains every listener at once: one held by a request still
// arriving must not keep another accepting meanwhile (the admin listener
// would take deposits while the user API drains).
func TestShutdownDrainsListenersTogether(t *testing.T) {
	h := newHarness(t, nil)
	srv, err := New(h.srv.opts, h.svc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	listen := func() *acceptLog {
		inner, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln := &acceptLog{Listener: inner, remotes: map[string]bool{}}
		go func() { _ = srv.ServeUser(ln) }()
		deadline := time.Now().Add(5 * time.Second)
		for { // registered with srv once it answers
			resp, err := http.Get("http://" + ln.Addr().String() + "/health")
			if err == nil {
				resp.Body.Close()
				return ln
			}
			if time.Now().After(deadline) {
				t.Fatalf("listener %s never answered: %v", ln.Addr(), err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	held, other := listen(), listen() // held registers first
	conn, err := net.Dial("tcp", held.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /health HTTP/1.1\r\nHost: x\r\n"); err != nil { // headers not finished
		t.Fatal(err)
	}
	waitUsed(t, srv, held, conn.LocalAddr().String()) // accepted and reading
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	for {
		c, err := net.DialTimeout("tcp", other.Addr().String(), 100*time.Millisecond)
		if err != nil {
			break // the other listener is closed while the held one drains
		}
		c.Close()
		select {
		case err := <-done:
			t.Fatalf("Shutdown returned (%v) before the other listener stopped accepting", err)
		default:
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) while a request was still arriving on the held listener", err)
	default:
	}
	conn.Close()
	<-done
}

// waitUsed waits until srv's listener ln has read from the connection of
// client address addr (its drain listener no longer counts it unused).
func waitUsed(t *testing.T, srv *Server, ln *acceptLog, addr string) {
	t.Helper()
	var dl *DrainListener
	srv.mu.Lock()
	for _, s := range srv.servers {
		if s.ln.Addr().String() == ln.Addr().String() {
			dl = s.ln
		}
	}
	srv.mu.Unlock()
	if dl == nil {
		t.Fatalf("no drain listener on %s", ln.Addr())
	}
	// Read from, and no longer unused: the drain listener marks a
	// connection used just after its first read returns bytes.
	unused := func() bool {
		dl.mu.Lock()
		defer dl.mu.Unlock()
		for c := range dl.unused {
			if c.RemoteAddr().String() == addr {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if ln.readFrom(addr) && !unused() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not read from %s within 10 s", addr)
		}
	}
}

// acceptLog is a listener that remembers the client addresses of the
// connections it accepted that the server has read from.
type acceptLog struct {
	net.Listener
	mu      sync.Mutex
	remotes map[string]bool
}

func (l *acceptLog) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &readLog{Conn: c, l: l}, nil
}

// readFrom reports whether the server read from the client at addr.
func (l *acceptLog) readFrom(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.remotes[addr]
}

type readLog struct {
	net.Conn
	l *acceptLog
}

func (c *readLog) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.l.mu.Lock()
		c.l.remotes[c.RemoteAddr().String()] = true
		c.l.mu.Unlock()
	}
	return n, err
}
