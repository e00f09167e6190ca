package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ports are the service's listeners, chosen free once and kept across
// restarts (the data dir and the ports are what make it "the same" service).
type ports struct{ api, admin, metrics, kafka int }

// freePorts asks the kernel for four free loopback ports.
func freePorts() (ports, error) {
	var p [4]int
	for i := range p {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return ports{}, fmt.Errorf("cannot find a free port: %w", err)
		}
		p[i] = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	return ports{api: p[0], admin: p[1], metrics: p[2], kafka: p[3]}, nil
}

// env is the IT_* environment that points config/dev.yaml at dataDir and
// the ports, with the per-user rate limit out of the way of the load.
func (p ports) env(dataDir string) []string {
	return []string{
		"IT_SERVER_DATA_DIR=" + dataDir,
		"IT_MONITORING_HEALTH_CHECK_PORT=" + strconv.Itoa(p.api),
		"IT_SERVER_ADMIN_PORT=" + strconv.Itoa(p.admin),
		"IT_MONITORING_PROMETHEUS_PORT=" + strconv.Itoa(p.metrics),
		"IT_KAFKA_EMBEDDED_LISTEN=127.0.0.1:" + strconv.Itoa(p.kafka),
		"IT_RATE_LIMITING_MAX_REQUESTS_PER_MINUTE=1000000000",
		"IT_SERVER_LOG_LEVEL=warn",
		"IT_SETTLEMENT_SCANNER_INTERVAL_MS=1000",
	}
}

// service is the gateway_service child process.
type service struct {
	bin, config string
	env         []string
	log         *os.File
	ports       ports

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	starts int
}

// start launches the service; it does not wait for readiness.
func (s *service) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := exec.Command(s.bin, "-config", s.config)
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	s.starts++
	return nil
}

// pid is the running child's pid, 0 when none.
func (s *service) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	select {
	case <-s.exited:
		return 0
	default:
		return s.cmd.Process.Pid
	}
}

// waitReady polls /ready until it answers 200, the child exits or timeout.
func (s *service) waitReady(timeout time.Duration) error {
	url := "http://127.0.0.1:" + strconv.Itoa(s.ports.api) + "/ready"
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return errors.New("the service exited before it was ready (see its log)")
		default:
		}
		if resp, err := hc.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("the service was not ready within %s", timeout)
}

// signal sends sig and waits for the child to exit (SIGKILL after timeout).
func (s *service) stop(sig syscall.Signal, timeout time.Duration) error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
		return nil
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("the service did not exit within %s of %s; killed", timeout, sig)
	}
}

// metric reads one unlabelled value from /metrics.
func (s *service) metric(name string) (float64, error) {
	hc := &http.Client{Timeout: 2 * time.Second}
	resp, err := hc.Get("http://127.0.0.1:" + strconv.Itoa(s.ports.metrics) + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("metric %s not found", name)
}

// waitSettled waits until the scanner has run since the last start and
// counts no request in requesting or pending.
func (s *service) waitSettled(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		runs, err1 := s.metric("internal_transfer_scanner_runs_total")
		open, err2 := s.metric("internal_transfer_pending_count")
		if err1 == nil && err2 == nil && runs >= 2 && open == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("requests still open after %s (pending_count %v, scanner runs %v)", timeout, open, runs)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// rssKB reads VmRSS of pid from /proc, 0 when unknown.
func rssKB(pid int) int64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(raw, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(v)), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

// sampleRSS records the service's largest RSS until ctx ends.
func (s *service) sampleRSS(ctx context.Context, every time.Duration, maxKB *int64, mu *sync.Mutex) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if kb := rssKB(s.pid()); kb > 0 {
				mu.Lock()
				*maxKB = max(*maxKB, kb)
				mu.Unlock()
			}
		}
	}
}
