package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestChaosKeepsInvariants builds the service, the generator and itctl,
// runs load against the service while SIGKILLing and restarting it three
// times, lets it settle, and requires `itctl verify` to find every
// invariant intact: exact balances for every user, every answered request
// final with the status its answer implied, money summing to zero.
// BENCH_BIN_DIR names a directory of prebuilt binaries to use instead.
func TestChaosKeepsInvariants(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries and runs the service for about a minute; skipped with -short")
	}
	bin := os.Getenv("BENCH_BIN_DIR") // prebuilt gateway_service, itctl and loadgen
	if bin == "" {
		bin = t.TempDir()
		build := exec.Command("go", "build", "-o", bin+"/", "../../cmd/gateway_service", "../../cmd/itctl", "../loadgen")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	work := t.TempDir()
	start := time.Now()
	sum, err := run(options{mode: "chaos", binDir: bin, config: filepath.Join("..", "..", "config", "dev.yaml"),
		workDir: work, users: 300, rate: 300, concurrency: 16, inflight: 256, cycles: 3,
		killMin: 1 * time.Second, killMax: 3 * time.Second, verifyOut: io.Discard})
	if err != nil {
		if sum != nil {
			t.Logf("%s", sum.line())
		}
		t.Fatalf("chaos run (data and logs in %s): %v", work, err)
	}
	t.Logf("%s (%.0f s)", sum.line(), time.Since(start).Seconds())
	switch {
	case sum.Cycles != 3:
		t.Fatalf("ran %d kill cycles, want 3", sum.Cycles)
	case !sum.VerifyOK:
		t.Fatalf("verify failed: %s", sum.Verify)
	case sum.Load.Violations != 0 || sum.Load.UnknownOutcomes != 0:
		t.Fatalf("generator saw %d violations, %d unknown outcomes", sum.Load.Violations, sum.Load.UnknownOutcomes)
	case sum.Load.Counts["accepted"] == 0 || sum.Requests == 0:
		t.Fatalf("no transfer was accepted: %v", sum.Load.Counts)
	}
}

func TestMedianPicksTheMiddleRun(t *testing.T) {
	dir := t.TempDir()
	var runs []*summary
	for _, rate := range []float64{300, 100, 200} {
		s := &summary{Mode: "bench", VerifyOK: true}
		s.Load = loadResult(rate)
		runs = append(runs, s)
	}
	paths := writeRuns(t, dir, runs)
	line, err := median(paths)
	if err != nil {
		t.Fatal(err)
	}
	if want := "median of 3 runs: accepted/s 200,"; line[:len(want)] != want {
		t.Fatalf("median line %q, want prefix %q", line, want)
	}
	if strings.Contains(line, "WAL") {
		t.Fatalf("median line %q names WAL fsyncs the runs did not measure", line)
	}
	// With WAL readings, each figure is the median of its own, over the
	// runs that have readings (two here have none).
	runs = runs[:0]
	for _, fsyncs := range []float64{3000, 0, 1000, 0, 2000} {
		s := &summary{Mode: "bench", VerifyOK: true}
		if fsyncs > 0 {
			s.WAL = walUse{FsyncsPerS: fsyncs, MeanMS: fsyncs / 10000, PerAccepted: fsyncs / 4000, Stalls: fsyncs / 1000}
		}
		s.Load = loadResult(100)
		runs = append(runs, s)
	}
	paths = writeRuns(t, dir, runs)
	if line, err = median(paths); err != nil {
		t.Fatal(err)
	}
	if want := ", WAL 2000 fsyncs/s of 0.200 ms mean (0.50 per accepted transfer), 2 write stalls"; !strings.HasSuffix(line, want) {
		t.Fatalf("median line %q, want suffix %q", line, want)
	}
	if _, err := median(nil); err == nil {
		t.Fatal("median of no runs accepted")
	}
}

// TestRunRefusesUsedWorkDir: a work dir holding an earlier run's data would
// start the service on that run's money, so run must refuse it before
// starting anything, and accept a fresh one.
func TestRunRefusesUsedWorkDir(t *testing.T) {
	work := t.TempDir()
	if err := checkFreshWork(work); err != nil {
		t.Fatalf("fresh work dir refused: %v", err)
	}
	if err := os.Mkdir(filepath.Join(work, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := run(options{mode: "bench", binDir: t.TempDir(), workDir: work})
	if err == nil || !strings.Contains(err.Error(), "earlier run") {
		t.Fatalf("run on a used work dir: err = %v, want a refusal naming the earlier run", err)
	}
	if _, statErr := os.Stat(filepath.Join(work, "service.log")); statErr == nil {
		t.Fatalf("run started the service before refusing the work dir")
	}
}

// TestWALUse: fsyncs per second, their mean and their count per accepted
// transfer come from the differences of the two /metrics readings; a
// service without an embedded WAL (no readings) reports nothing.
func TestWALUse(t *testing.T) {
	got := walMark{count: 100, sumMS: 20, stalls: 1, stallMS: 30}.use(walMark{count: 1100, sumMS: 270, stalls: 3, stallMS: 100}, 2, 4000)
	if want := (walUse{FsyncsPerS: 500, MeanMS: 0.25, PerAccepted: 0.25, Stalls: 2, StallMS: 70}); got != want {
		t.Errorf("use = %+v, want %+v", got, want)
	}
	if got := (walMark{}).use(walMark{}, 2, 4000); got != (walUse{}) {
		t.Errorf("use without readings = %+v, want zero", got)
	}
}

// TestCheckOverloaded: an overload run must have made the service refuse
// some of its offered load, or it showed nothing of how the excess is shed.
func TestCheckOverloaded(t *testing.T) {
	r := loadResult(3000)
	if err := checkOverloaded(r); err == nil {
		t.Error("an overload run without a 503 or 429 passed")
	}
	for _, code := range []string{"attempt_http_503", "attempt_http_429"} {
		r := loadResult(3000)
		r.Counts[code] = 1
		if err := checkOverloaded(r); err != nil {
			t.Errorf("with %s: %v", code, err)
		}
	}
	if err := checkOverloaded(nil); err == nil {
		t.Error("an overload run without a result passed")
	}
}
