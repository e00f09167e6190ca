package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exchange/internal-transfer/bench/load"
)

func loadResult(acceptedPerS float64) *load.Result {
	return &load.Result{AcceptedPerS: acceptedPerS, Counts: map[string]int64{"accepted": 1}}
}

// A run whose verify skipped the exact balances of many users (unknown
// outcomes) fails; a few are allowed.
func TestCheckExact(t *testing.T) {
	dir := t.TempDir()
	write := func(users, inexact int) string {
		p := filepath.Join(dir, "verify.json")
		if err := os.WriteFile(p, []byte(fmt.Sprintf(`{"users":%d,"inexact_users":%d}`, users, inexact)), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		users, inexact int
		ok             bool
	}{{2000, 0, true}, {2000, 20, true}, {2000, 21, false}, {10, 1, true}, {10, 2, false}} {
		if err := checkExact(write(c.users, c.inexact)); (err == nil) != c.ok {
			t.Errorf("%d of %d inexact: %v, want ok %v", c.inexact, c.users, err, c.ok)
		}
	}
	if err := checkExact(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("a missing report passed")
	}
}

// A failed run stays out of the medians, and the line says so; no passing
// run at all is an error.
func TestMedianLeavesFailedRunsOut(t *testing.T) {
	dir := t.TempDir()
	var runs []*summary
	for _, c := range []struct {
		rate float64
		ok   bool
	}{{100, true}, {5000, false}, {6000, false}, {200, true}, {300, true}} {
		s := &summary{Mode: "bench", VerifyOK: c.ok}
		s.Load = loadResult(c.rate)
		runs = append(runs, s)
	}
	paths := writeRuns(t, dir, runs)
	line, err := median(paths)
	if err != nil {
		t.Fatal(err)
	}
	if want := "median of 3 passed runs (2 failed, left out): accepted/s 200,"; !strings.HasPrefix(line, want) {
		t.Fatalf("median line %q, want prefix %q", line, want)
	}
	if _, err := median(paths[1:3]); err == nil {
		t.Fatal("a median of failed runs alone was taken")
	}
	// A run that left no summary (it failed before writing one) counts
	// as failed.
	line, err = median(append(paths, filepath.Join(dir, "missing.json")))
	if want := "median of 3 passed runs (3 failed, left out)"; err != nil || !strings.HasPrefix(line, want) {
		t.Fatalf("median with a missing summary: %q, %v; want prefix %q", line, err, want)
	}
}

// The verdict cell gives the violations verify found in the data, and the
// generator's apart.
func TestVerdictGivesVerifysViolations(t *testing.T) {
	s := &summary{Mode: "chaos", VerifyOK: false, VerifyViolations: 5, Requests: 100, Load: loadResult(100)}
	if got, want := verdict(s), "FAILED (100 requests, 5 violations)"; got != want {
		t.Errorf("verdict %q, want %q", got, want)
	}
	s = &summary{Mode: "bench", VerifyOK: true, Requests: 100, Load: loadResult(100)}
	s.Load.Violations = 2
	if got, want := verdict(s), "FAILED (100 requests, 0 violations, 2 seen by the generator)"; got != want {
		t.Errorf("verdict %q, want %q", got, want)
	}
}

// The driver's table row has a cell for every column of its header.
func TestRowMatchesItsHeader(t *testing.T) {
	header := strings.Split(strings.Split(tableHeader, "\n")[0], "|")
	for _, s := range []*summary{
		{Mode: "bench", VerifyOK: true, Requests: 1, Load: loadResult(100)},
		{Mode: "chaos", Cycles: 3},
	} {
		row := strings.Split(strings.TrimSuffix(s.row("x"), "\n"), "|")
		if len(row) != len(header) {
			t.Errorf("%s row has %d cells, header %d:\n%s%s", s.Mode, len(row), len(header), tableHeader, s.row("x"))
		}
	}
}

// writeRuns writes each run's summary into a new folder in dir and returns
// the paths.
func writeRuns(t *testing.T, dir string, runs []*summary) []string {
	t.Helper()
	sub, err := os.MkdirTemp(dir, "runs-")
	if err != nil {
		t.Fatal(err)
	}
	paths := make([]string, len(runs))
	for i, s := range runs {
		paths[i] = filepath.Join(sub, fmt.Sprintf("%d.json", i))
		if err := s.writeJSON(paths[i]); err != nil {
			t.Fatal(err)
		}
	}
	return paths
}
