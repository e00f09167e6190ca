package main

import (
	"fmt"
	"os"
	"path/filepath"
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
