package node

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSlowTracerWritesOneTraceOfASlowRequest: a request under the threshold
// writes nothing; a slow one writes the flight recorder's window, a Go
// execution trace; another slow one within the minute writes nothing more.
func TestSlowTracerWritesOneTraceOfASlowRequest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "traces")
	tr, err := startSlowTracer(50*time.Millisecond, dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.stop()
	traces := func() []string {
		t.Helper()
		m, err := filepath.Glob(filepath.Join(dir, "slow-*.trace"))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	tr.observe(10 * time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	if got := traces(); len(got) != 0 {
		t.Fatalf("a request under the threshold wrote %v", got)
	}
	tr.observe(120 * time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for len(traces()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	tr.mu.Lock() // the write has finished
	tr.mu.Unlock()
	got := traces()
	if len(got) != 1 {
		t.Fatalf("a slow request wrote %d traces, want 1", len(got))
	}
	raw, err := os.ReadFile(got[0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw, []byte("go 1.")) || len(raw) < 1024 {
		t.Fatalf("%s is not a Go execution trace (%d bytes, starts %q)", got[0], len(raw), raw[:min(len(raw), 16)])
	}
	tr.observe(500 * time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	tr.mu.Lock()
	tr.mu.Unlock()
	if got := traces(); len(got) != 1 {
		t.Fatalf("a second slow request within the minute wrote more: %v", got)
	}
}
