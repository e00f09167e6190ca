package deploy

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrProcessExited is returned by Process.Stop when the tool had already
// exited on its own (a bad configuration, a port taken) before it was asked
// to stop; its output says why.
var ErrProcessExited = errors.New("process exited before it was stopped")

// processOutputMax bounds the output a Process keeps (its tail).
const processOutputMax = 256 << 10

// Process is an operators' tool (haproxy, prometheus) a system test runs in
// the background on loopback. Its combined output is kept, bounded to the
// last 256 KiB, for the test's failure message.
type Process struct {
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{} // closed when the process has exited
	err  error         // Wait's answer, valid after done

	stopOnce sync.Once
	stopErr  error
}

// StartProcess starts tool with args.
func StartProcess(tool string, args ...string) (*Process, error) {
	p := &Process{cmd: exec.Command(tool, args...), out: &tailBuffer{max: processOutputMax}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	// A child the tool leaves behind must not hold Wait on the output pipe.
	p.cmd.WaitDelay = time.Second
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s: %w", tool, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Output returns the tail of what the process wrote.
func (p *Process) Output() string { return p.out.String() }

// Stop asks the process to end (SIGTERM), waits up to grace, then kills
// it and waits up to one more second. It returns nil when the process
// stopped when asked, ErrProcessExited when it had ended before, and an
// error when it did not end within grace (it was killed) or at all.
// Later calls return the first call's answer.
func (p *Process) Stop(grace time.Duration) error {
	p.stopOnce.Do(func() { p.stopErr = p.stop(grace) })
	return p.stopErr
}

func (p *Process) stop(grace time.Duration) error {
	if p.Exited() {
		return fmt.Errorf("%w: %v", ErrProcessExited, p.err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
		return fmt.Errorf("cannot stop %s within %v: killed", p.cmd.Path, grace)
	case <-time.After(time.Second):
		return fmt.Errorf("cannot stop %s: still running 1 s after SIGKILL", p.cmd.Path)
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// HAProxyServerStates reads HAProxy's stats page as CSV (statsURL is the
// stats uri, e.g. "http://127.0.0.1:18404/stats") and returns each server's
// status ("UP", "DOWN", "MAINT", "no check", transitional "UP 1/2", …)
// keyed "backend/server". The call is bounded by 5 s and by ctx.
func HAProxyServerStates(ctx context.Context, client *http.Client, statsURL string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, statsURL+";csv", nil)
	if err != nil {
		return nil, fmt.Errorf("cannot ask HAProxy for its stats: %w", err)
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot ask HAProxy for its stats: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, answerBytesMax))
	if err != nil {
		return nil, fmt.Errorf("cannot read HAProxy's stats: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("cannot read HAProxy's stats: HTTP %d", resp.StatusCode)
	}
	return ParseHAProxyStats(body)
}

// ParseHAProxyStats parses HAProxy's stats CSV ("# pxname,svname,…,status,…")
// into server statuses keyed "backend/server"; the FRONTEND and BACKEND
// summary rows are left out.
func ParseHAProxyStats(data []byte) (map[string]string, error) {
	data = bytes.TrimPrefix(bytes.TrimSpace(data), []byte("# "))
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("cannot parse HAProxy's stats CSV: %w", err)
	}
	if len(rows) == 0 {
		return nil, errors.New("cannot parse HAProxy's stats CSV: empty")
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	px, okPx := col["pxname"]
	sv, okSv := col["svname"]
	st, okSt := col["status"]
	if !okPx || !okSv || !okSt {
		return nil, fmt.Errorf("cannot parse HAProxy's stats CSV: header %q lacks pxname, svname or status", strings.Join(rows[0], ","))
	}
	states := map[string]string{}
	for _, row := range rows[1:] {
		if len(row) <= max(px, sv, st) || row[sv] == "FRONTEND" || row[sv] == "BACKEND" {
			continue
		}
		states[row[px]+"/"+row[sv]] = row[st]
	}
	return states, nil
}
