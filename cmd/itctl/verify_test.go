package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exchange/internal-transfer/bench/verify"
	"github.com/exchange/internal-transfer/config"
)

// A server.data_dir that does not exist is refused, and not created with
// empty databases that would then verify as nothing.
func TestVerifyRefusesAMissingDataDir(t *testing.T) {
	cfg := config.Defaults()
	if cfg.Backends.Ledger != "embedded" || cfg.Backends.Store != "embedded" {
		t.Fatalf("defaults use backends %q and %q; the test wants the embedded ones", cfg.Backends.Ledger, cfg.Backends.Store)
	}
	cfg.Server.DataDir = filepath.Join(t.TempDir(), "missing")
	_, err := runVerify(cfg, verify.Options{Users: []uint64{1}})
	if err == nil || !strings.Contains(err.Error(), "server.data_dir") {
		t.Fatalf("verify of a missing data dir: %v; want an error naming server.data_dir", err)
	}
	if _, err := os.Stat(cfg.Server.DataDir); !os.IsNotExist(err) {
		t.Fatalf("the missing data dir exists after verify (%v)", err)
	}
}
