package ingress

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp/fasthttputil"
)

// lockedBuffer is a log sink the server's goroutines share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A request fasthttp cannot parse is logged (at debug) without quoting it:
// its bearer token never reaches the log.
func TestUnparsableRequestDoesNotLogItsToken(t *testing.T) {
	var logs lockedBuffer
	opts := Options{
		Catalog: testCatalog(t), MinAmount: 100, MaxAmount: 1_000_000, MaxRequestsPerMinute: 100,
		JWTSecret: testSecret, AdminToken: testAdminToken, Version: "1.2.3",
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	srv, err := New(opts, &fakeService{}, &fakeAdmin{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln := fasthttputil.NewInmemoryListener()
	done := make(chan error, 1)
	go func() { done <- srv.ServeUser(ln) }()
	conn, err := ln.Dial()
	if err != nil {
		t.Fatal(err)
	}
	const secret = "SECRET-TOKEN-abc"
	if _, err := conn.Write([]byte("GET /api/v1/user/balances HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + secret + "\r\nBad Header Line\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	_ = resp.Body.Close()
	_ = conn.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil && !errors.Is(err, ErrShutdown) {
		t.Fatal(err)
	}
	got := logs.String()
	if !strings.Contains(got, "fasthttp") {
		t.Fatalf("the parse error was not logged at all; the test proves nothing. Log:\n%s", got)
	}
	if strings.Contains(got, secret) {
		t.Fatalf("the bearer token reached the log:\n%s", got)
	}
}
