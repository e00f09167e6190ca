package node

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/trace"
	"sync"
	"time"
)

// slowTracer keeps the last seconds of the Go execution trace in memory
// (runtime/trace's flight recorder) and writes them to a file when a
// transfer POST takes longer than threshold: what every goroutine, system
// call and GC phase did around a latency spike, for `go tool trace`
// (`-pprof=sched`, `-pprof=syscall`). It is how session 5 found a 103 ms
// write(2) of the WAL behind a 5K/s run's tail (docs/benchmark-notes.md).
type slowTracer struct {
	fr        *trace.FlightRecorder
	threshold time.Duration
	dir       string
	log       *slog.Logger

	mu      sync.Mutex // held while a trace is written; others skip
	last    time.Time  // when the last trace was written
	written int
}

// Bounds on what the tracer writes: at most one trace a minute, at most
// slowTracesMax in all (a process that is always slow needs a profile, not
// a disk full of traces), each the last slowTraceAge or slowTraceBytes.
const (
	slowTraceEvery = time.Minute
	slowTracesMax  = 20
	slowTraceAge   = 5 * time.Second
	slowTraceBytes = 64 << 20
)

// startSlowTracer starts the flight recorder. Only one may run in a
// process; a second fails.
func startSlowTracer(threshold time.Duration, dir string, log *slog.Logger) (*slowTracer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create the slow-request trace dir: %w", err)
	}
	fr := trace.NewFlightRecorder(trace.FlightRecorderConfig{MinAge: slowTraceAge, MaxBytes: slowTraceBytes})
	if err := fr.Start(); err != nil {
		return nil, fmt.Errorf("cannot start the flight recorder: %w", err)
	}
	return &slowTracer{fr: fr, threshold: threshold, dir: dir, log: log}, nil
}

// observe is given each transfer POST's handling time. A slow one makes it
// write the recorder's window in the background, within the bounds above.
func (t *slowTracer) observe(d time.Duration) {
	if d < t.threshold || !t.mu.TryLock() {
		return
	}
	now := time.Now()
	if t.written >= slowTracesMax || (!t.last.IsZero() && now.Sub(t.last) < slowTraceEvery) {
		t.mu.Unlock()
		return
	}
	t.last = now
	t.written++
	go func() {
		defer t.mu.Unlock()
		path := filepath.Join(t.dir, fmt.Sprintf("slow-%s-%dms.trace", now.UTC().Format("20060102T150405.000Z"), d.Milliseconds()))
		if err := t.write(path); err != nil {
			t.log.Warn("cannot write slow-request trace", "path", path, "err", err)
			return
		}
		t.log.Warn("slow request: execution trace written", "path", path, "latency_ms", d.Milliseconds(),
			"traces_left", slowTracesMax-t.written)
	}()
}

func (t *slowTracer) write(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := t.fr.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// stop stops the recorder, after a trace being written.
func (t *slowTracer) stop() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fr.Stop()
	return nil
}
