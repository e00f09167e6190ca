package stream

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"
)

// TestEmbeddedBrokerRefusesHTTP: an HTTP request to the embedded broker's
// port is a Kafka request of 1.1 GiB by its first 4 bytes; the broker must
// close the connection without allocating it, count it, and keep serving
// Kafka clients.
func TestEmbeddedBrokerRefusesHTTP(t *testing.T) {
	b := startBroker(t, t.TempDir(), "127.0.0.1:0", 1)
	defer b.Close()
	refusedBefore := refusedConns.Get()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	conn, err := net.Dial("tcp", b.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /metrics HTTP/1.1\r\nHost: broker\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := conn.Read(make([]byte, 64)); err == nil || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		t.Fatalf("connection still open after an HTTP request (read %d bytes, err %v)", n, err)
	}

	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Fatalf("the broker allocated %d MiB for an HTTP request", grew>>20)
	}
	if got := refusedConns.Get() - refusedBefore; got != 1 {
		t.Fatalf("refused connections counted %d, want 1", got)
	}

	p := newTestProducer(t, b.Addrs(), embeddedTopic, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Publish(ctx, sampleRequest()); err != nil {
		t.Fatalf("Publish after the refused connection: %v", err)
	}
	_ = p.Close(ctx)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestFrameLimitConnFollowsFrames reads valid requests split at every byte,
// then an oversized size split over two reads: the valid bytes pass
// untouched, and the oversized size's last byte is never handed on.
func TestFrameLimitConnFollowsFrames(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	l := &frameLimitListener{max: 16}
	c := &frameLimitConn{Conn: server, l: l}

	var stream []byte
	for _, body := range []string{"hello", "", "sixteen bytes!!!"} {
		stream = binary.BigEndian.AppendUint32(stream, uint32(len(body)))
		stream = append(stream, body...)
	}
	oversized := binary.BigEndian.AppendUint32(nil, 17)

	go func() {
		for _, b := range stream { // one byte per write: frames split everywhere
			if _, err := client.Write([]byte{b}); err != nil {
				return
			}
		}
		_, _ = client.Write(oversized[:3])
		_, _ = client.Write(oversized[3:])
	}()

	got := make([]byte, 0, len(stream)+3)
	buf := make([]byte, 2)
	var readErr error
	for readErr == nil {
		var n int
		n, readErr = c.Read(buf)
		got = append(got, buf[:n]...)
	}
	want := append(append([]byte{}, stream...), oversized[:3]...)
	if string(got) != string(want) {
		t.Fatalf("passed on %q, want %q", got, want)
	}
	if readErr == io.EOF {
		t.Fatal("the oversized request ended as EOF, want the limit's error")
	}
}
