package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/exchange/internal-transfer/bench/load"
)

const (
	readyTimeout   = 60 * time.Second
	settleTimeout  = 180 * time.Second
	stopTimeout    = 60 * time.Second
	verifyTimeout  = 10 * time.Minute
	loadgenDrain   = 180 * time.Second
	rssSampleEvery = 250 * time.Millisecond
)

// options of one driver run.
type options struct {
	mode, binDir, config, workDir, md, label string
	users, concurrency, inflight, cycles     int
	rate                                     float64
	duration, killMin, killMax, profile      time.Duration
	verifyOut                                io.Writer // itctl verify's output (default stdout)
}

// summary is what a driver run reports.
type summary struct {
	Mode   string `json:"mode"`
	Cycles int    `json:"cycles"`
	// CleanStops of the cycles stopped the service with SIGTERM.
	CleanStops int          `json:"clean_stops"`
	Restarts   []float64    `json:"restart_seconds"` // SIGKILL → ready again
	MaxRSSMB   float64      `json:"max_rss_mb"`
	Load       *load.Result `json:"load"`
	Verify     string       `json:"verify"` // itctl verify's summary line
	VerifyOK   bool         `json:"verify_ok"`
	// VerifyViolations is verify's violations_total (verify.json).
	VerifyViolations int     `json:"verify_violations"`
	Requests         int     `json:"requests"`
	SettleS          float64 `json:"settle_seconds"` // load end → no request open
	CPU              cpuUse  `json:"cpu"`            // bench and overload: while the generator ran`
	WAL              walUse  `json:"wal"`            // likewise: the embedded database's WAL fsyncs
	WorkDir          string  `json:"work_dir"`
	LoadgenFail      string  `json:"loadgen_failure,omitempty"`
	CheckFail        string  `json:"check_failure,omitempty"` // the run did not show what its mode is for
}

func (s *summary) line() string {
	acc, unknown, viol := int64(0), int64(0), int64(0)
	if s.Load != nil {
		acc, unknown, viol = s.Load.Counts["accepted"], s.Load.UnknownOutcomes, s.Load.Violations
	}
	wal := ""
	if s.WAL.FsyncsPerS > 0 {
		wal = fmt.Sprintf(" wal: %.0f fsyncs/s of %.3f ms mean, %.2f per accepted transfer, %.0f write stalls (%.0f ms);",
			s.WAL.FsyncsPerS, s.WAL.MeanMS, s.WAL.PerAccepted, s.WAL.Stalls, s.WAL.StallMS)
	}
	return fmt.Sprintf("chaos: mode=%s cycles=%d (%d clean stops) requests=%d accepted=%d unknown=%d generator_violations=%d max_rss=%.0fMB cpu: service %.2f cores (%.0f µs per HTTP attempt), loadgen %.2f cores, whole box %.2f cores busy;%s verify_ok=%t | %s",
		s.Mode, s.Cycles, s.CleanStops, s.Requests, acc, unknown, viol, s.MaxRSSMB, s.CPU.ServiceCores, s.CPU.ServiceUSPer, s.CPU.LoadgenCores, s.CPU.BoxBusyCores, wal, s.VerifyOK, s.Verify)
}

// checkFreshWork refuses a work dir that already holds a data dir: the
// service would start on an earlier run's ledger and store, and the check of
// every user's exact balance against this run's expectations would report
// the earlier run's money as violations.
func checkFreshWork(dir string) error {
	data := filepath.Join(dir, "data")
	if _, err := os.Stat(data); err == nil {
		return fmt.Errorf("work dir %s already holds %s from an earlier run; remove it or choose another WORK", dir, data)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot check work dir %s: %w", dir, err)
	}
	return nil
}

// run is one driver run: start, load (and kills), settle, stop, verify.
func run(o options) (*summary, error) {
	if o.workDir == "" {
		dir, err := os.MkdirTemp("", "itbench-")
		if err != nil {
			return nil, err
		}
		o.workDir = dir
	}
	if err := os.MkdirAll(o.workDir, 0o755); err != nil {
		return nil, err
	}
	if err := checkFreshWork(o.workDir); err != nil {
		return nil, err
	}
	p, err := freePorts()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(o.workDir, "service.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	env := p.env(filepath.Join(o.workDir, "data"))
	svc := &service{bin: filepath.Join(o.binDir, "gateway_service"), config: o.config, env: env, log: logf, ports: p}
	sum := &summary{Mode: o.mode, WorkDir: o.workDir}
	if err := svc.start(); err != nil {
		return sum, err
	}
	defer svc.stop(syscall.SIGKILL, stopTimeout) // on every early return
	if err := svc.waitReady(readyTimeout); err != nil {
		return sum, err
	}
	var rssMu sync.Mutex
	var maxKB int64
	rctx, stopRSS := context.WithCancel(context.Background())
	go svc.sampleRSS(rctx, rssSampleEvery, &maxKB, &rssMu)
	loadErr := runLoad(o, svc, env, sum)
	stopRSS()
	rssMu.Lock()
	sum.MaxRSSMB = float64(maxKB) / 1024
	rssMu.Unlock()
	if loadErr != nil {
		return sum, loadErr
	}
	settleStart := time.Now()
	if err := svc.waitSettled(context.Background(), settleTimeout); err != nil {
		return sum, err
	}
	sum.SettleS = time.Since(settleStart).Seconds()
	if err := svc.stop(syscall.SIGTERM, stopTimeout); err != nil {
		return sum, err
	}
	if err := runVerify(o, env, sum); err != nil {
		return sum, err
	}
	if sum.LoadgenFail != "" {
		return sum, errors.New("loadgen: " + sum.LoadgenFail)
	}
	if err := checkExact(filepath.Join(o.workDir, "verify.json")); err != nil {
		sum.CheckFail = err.Error()
		return sum, err
	}
	if o.mode == "overload" {
		if err := checkOverloaded(sum.Load); err != nil {
			sum.CheckFail = err.Error()
			return sum, err
		}
	}
	return sum, nil
}

// inexactShareMax is the most of a run's users whose balances verify may
// skip: each had a transfer whose outcome the generator never learned, so
// only the invariants that need no expectations cover its money.
const inexactShareMax = 0.01

// checkExact refuses a run whose verify report (verify.json) skipped the
// exact balances of more than inexactShareMax of its users (at least one
// is allowed): such a run passes while proving little about their money.
func checkExact(reportPath string) error {
	raw, err := os.ReadFile(reportPath)
	if err != nil {
		return fmt.Errorf("cannot read the verify report: %w", err)
	}
	var rep struct {
		Users        int `json:"users"`
		InexactUsers int `json:"inexact_users"`
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		return fmt.Errorf("cannot read the verify report %s: %w", reportPath, err)
	}
	if allowed := max(1, int(float64(rep.Users)*inexactShareMax)); rep.InexactUsers > allowed {
		return fmt.Errorf("%d of %d users' balances could not be checked exactly (transfers whose outcome the generator never learned); at most %d may be",
			rep.InexactUsers, rep.Users, allowed)
	}
	return nil
}

// checkOverloaded refuses an overload run in which the service refused
// nothing: its offered rate was within capacity, so the run showed nothing
// of how the service sheds the excess.
func checkOverloaded(r *load.Result) error {
	if r == nil {
		return errors.New("overload run has no load result")
	}
	if r.Counts["attempt_http_503"]+r.Counts["attempt_http_429"] == 0 {
		return fmt.Errorf("overload run at %.0f/s offered got no 503 or 429 answer: the rate is within the service's capacity; offer more (RATE)", r.TargetRate)
	}
	return nil
}

// runLoad runs bin/loadgen, and in chaos mode kills and restarts the
// service while it runs.
func runLoad(o options, svc *service, env []string, sum *summary) error {
	out := filepath.Join(o.workDir, "result.json")
	args := []string{"-config", o.config, "-users", strconv.Itoa(o.users), "-rate", fmt.Sprint(o.rate),
		"-concurrency", strconv.Itoa(o.concurrency), "-inflight", strconv.Itoa(o.inflight),
		"-expect", filepath.Join(o.workDir, "expect.json"), "-out", out, "-drain", loadgenDrain.String(), "-q"}
	if o.profile > 0 && o.mode != "chaos" {
		args = append(args, "-cpuprofile", filepath.Join(o.workDir, "loadgen.pprof"))
	}
	if o.mode == "chaos" {
		args = append(args, "-duration", "0")
	} else {
		args = append(args, "-duration", o.duration.String())
	}
	cmd := exec.Command(filepath.Join(o.binDir, "loadgen"), args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	lg, err := os.Create(filepath.Join(o.workDir, "loadgen.log"))
	if err != nil {
		return err
	}
	defer lg.Close()
	cmd.Stdout, cmd.Stderr = lg, io.MultiWriter(lg, &stderr)
	start, walStart := markCPU(svc.pid(), float64(time.Now().UnixNano())/1e9), markWAL(svc)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot start loadgen: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if o.profile > 0 && o.mode != "chaos" {
		go profile(o, svc)
	}
	if o.mode == "chaos" {
		if err := killCycles(o, svc, sum, done); err != nil {
			_ = cmd.Process.Kill()
			return err
		}
		_ = cmd.Process.Signal(syscall.SIGINT)
	}
	var waitErr error
	select {
	case waitErr = <-done:
	case <-time.After(o.duration + loadgenDrain + 5*time.Minute):
		_ = cmd.Process.Kill()
		return errors.New("loadgen did not finish in time; killed")
	}
	end, walEnd := markCPU(svc.pid(), float64(time.Now().UnixNano())/1e9), markWAL(svc)
	raw, err := os.ReadFile(out)
	if err != nil {
		return fmt.Errorf("loadgen wrote no result (%v): %s", waitErr, lastLines(stderr.String(), 20))
	}
	sum.Load = &load.Result{}
	if err := json.Unmarshal(raw, sum.Load); err != nil {
		return fmt.Errorf("cannot read loadgen's result: %w", err)
	}
	sum.Requests = sum.Load.ExpectedRequests
	if wall := end.wall - start.wall; o.mode != "chaos" && wall > 0 {
		sum.CPU = cpuUse{ServiceCores: (end.service - start.service) / wall, BoxBusyCores: (end.busy - start.busy) / wall}
		if st := cmd.ProcessState; st != nil {
			sum.CPU.LoadgenCores = (st.UserTime() + st.SystemTime()).Seconds() / wall
		}
		if n := sum.Load.Counts["attempts"]; n > 0 {
			sum.CPU.ServiceUSPer = (end.service - start.service) * 1e6 / float64(n)
		}
		sum.WAL = walStart.use(walEnd, wall, sum.Load.Counts["accepted"])
	}
	if waitErr != nil {
		sum.LoadgenFail = lastLines(stderr.String(), 5)
	}
	return nil
}

// cleanStopEvery makes every so many restart cycles a clean stop (SIGTERM)
// instead of a SIGKILL: a clean stop saves the backends' filter snapshots
// and the restart reads them back (a SIGKILL leaves none), so the
// retries and replays that follow exercise a restored filter.
const cleanStopEvery = 4

// killCycles stops the service at random moments and restarts it on the
// same data dir, o.cycles times, with load running throughout: with
// SIGKILL, but one cycle in cleanStopEvery with SIGTERM.
func killCycles(o options, svc *service, sum *summary, loadgen <-chan error) error {
	time.Sleep(o.killMin) // let the generator fund its users and start
	for i := 0; i < o.cycles; i++ {
		gap := o.killMin + time.Duration(rand.Int64N(int64(o.killMax-o.killMin)+1))
		select {
		case err := <-loadgen:
			return fmt.Errorf("loadgen ended during cycle %d: %v", i+1, err)
		case <-time.After(gap):
		}
		killed := time.Now()
		sig := syscall.SIGKILL
		if i%cleanStopEvery == 1 { // the 2nd, 6th, 10th…: a short run has one too
			sig = syscall.SIGTERM
			sum.CleanStops++
		}
		if err := svc.stop(sig, stopTimeout); err != nil {
			return err
		}
		if err := svc.start(); err != nil {
			return err
		}
		if err := svc.waitReady(readyTimeout); err != nil {
			return fmt.Errorf("restart %d: %w", i+1, err)
		}
		sum.Cycles++
		sum.Restarts = append(sum.Restarts, time.Since(killed).Seconds())
	}
	time.Sleep(o.killMax) // load on the last incarnation too
	return nil
}

// runVerify runs `itctl verify` on the stopped service's data.
func runVerify(o options, env []string, sum *summary) error {
	ctx, cancel := context.WithTimeout(context.Background(), verifyTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(o.binDir, "itctl"), "verify", "--config", o.config,
		"--users-file", filepath.Join(o.workDir, "expect.json"), "--json", filepath.Join(o.workDir, "verify.json"))
	cmd.Env = append(os.Environ(), env...)
	var out strings.Builder
	w := o.verifyOut
	if w == nil {
		w = os.Stdout
	}
	cmd.Stdout, cmd.Stderr = io.MultiWriter(&out, w), io.MultiWriter(&out, w)
	err := cmd.Run()
	sum.Verify = lastLines(out.String(), 1)
	sum.VerifyOK = err == nil
	if raw, rerr := os.ReadFile(filepath.Join(o.workDir, "verify.json")); rerr == nil {
		var rep struct {
			Violations int `json:"violations_total"`
		}
		if json.Unmarshal(raw, &rep) == nil {
			sum.VerifyViolations = rep.Violations
		}
	}
	if err != nil {
		return fmt.Errorf("itctl verify: %v", err)
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// profileWarmup is how long after the generator starts the profile begins
// (funding and connection set-up excluded).
var profileWarmup = 15 * time.Second // a var: tests shorten it

// profile takes a CPU profile of the service for o.profile from its own
// profiler (/debug/pprof/profile on the metrics port; monitoring.pprof_enabled,
// on in config/dev.yaml) — Go's profiles carry their function names, so the
// stripped release build reads as well as any — and writes cpu.pprof and
// profile.txt (`go tool pprof -top`: the hottest functions by their own
// time, then the cumulative share of the service's parts) to the work dir.
func profile(o options, svc *service) {
	time.Sleep(profileWarmup)
	data := filepath.Join(o.workDir, "cpu.pprof")
	url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", svc.ports.metrics, int(o.profile.Seconds()))
	client := &http.Client{Timeout: o.profile + 30*time.Second}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintf(os.Stderr, "chaos: profile: %v\n", err)
		return
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		fmt.Fprintf(os.Stderr, "chaos: profile: HTTP %d, %v (is monitoring.pprof_enabled on?)\n", resp.StatusCode, err)
		return
	}
	if err := os.WriteFile(data, raw, 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "chaos: profile: %v\n", err)
		return
	}
	var text strings.Builder
	for _, view := range []struct{ title, flag string }{
		{"functions by their own CPU time (go tool pprof -top, top 30)", ""},
		{"the service's parts by cumulative CPU time (go tool pprof -top -cum, selected frames)", "-cum"},
	} {
		args := []string{"tool", "pprof", "-top", "-nodecount=2000"}
		if view.flag != "" {
			args = append(args, view.flag)
		}
		out, err := exec.Command("go", append(args, data)...).Output()
		if err != nil {
			fmt.Fprintf(os.Stderr, "chaos: go tool pprof: %v\n", err)
			return
		}
		fmt.Fprintf(&text, "%s\n", view.title)
		n, rows := 0, false
		for _, line := range strings.Split(string(out), "\n") {
			switch {
			case strings.Contains(line, "flat%"):
				rows = true
				text.WriteString(line + "\n")
			case strings.HasPrefix(line, "Duration:"):
				text.WriteString(line + "\n")
			case rows && n < 30 && (view.flag == "" || ownFrame(line)):
				text.WriteString(line + "\n")
				n++
			}
		}
	}
	_ = os.WriteFile(filepath.Join(o.workDir, "profile.txt"), []byte(text.String()), 0o644)
}

// ownFrame keeps, in the cumulative view, the service's own functions and
// the entry points of what it runs on (Pebble's WAL, flushes and
// compactions, fasthttp, the Kafka client and broker, fsync, GC); the
// generic runtime and actor frames all read ~100 % and say nothing.
func ownFrame(line string) bool {
	for _, k := range []string{"internal-transfer/", "LogWriter).flushLoop", "(*DB).flush1", "(*DB).compact1",
		"(*memTable).apply", "fasthttp.(*Server).serveConn", "kfake.(*Cluster).run", "kgo.(*Client).produce",
		"unix.Fdatasync", "runtime.gcBgMarkWorker", "runtime.mallocgc", "runtime.findRunnable"} {
		if strings.Contains(line, k) {
			return true
		}
	}
	return false
}
