package settlement

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	ledgerembedded "github.com/exchange/internal-transfer/ledger/embedded"
	storeembedded "github.com/exchange/internal-transfer/store/embedded"
)

// TestIdleScannerExportsNoGauges runs in a process of its own (the metrics
// registry is per process): a scanner that never ran, as a gateway keeps
// for stuck reports, exports no pending or stuck count; one pass does.
func TestIdleScannerExportsNoGauges(t *testing.T) {
	if os.Getenv("IT_GAUGES_HELPER") != "" {
		idleScannerHelper(t, os.Getenv("IT_GAUGES_HELPER") == "run")
		return
	}
	for _, mode := range []string{"idle", "run"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestIdleScannerExportsNoGauges$", "-test.count=1")
		cmd.Env = append(os.Environ(), "IT_GAUGES_HELPER="+mode, "IT_GAUGES_DIR="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s helper: %v\n%s", mode, err, out)
		}
		exported := bytes.Contains(out, []byte(metricPending)) && bytes.Contains(out, []byte(metricStuck))
		if mode == "idle" && bytes.Contains(out, []byte(metricPending)) {
			t.Fatalf("an idle scanner exports %s:\n%s", metricPending, out)
		}
		if mode == "run" && !exported {
			t.Fatalf("a scanner that ran exports no %s and %s:\n%s", metricPending, metricStuck, out)
		}
	}
}

func idleScannerHelper(t *testing.T, run bool) {
	dir := os.Getenv("IT_GAUGES_DIR")
	l, err := ledgerembedded.Open(ledgerembedded.Options{Dir: filepath.Join(dir, "ledger")})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	st, err := storeembedded.Open(storeembedded.Options{Dir: filepath.Join(dir, "store")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sc := NewScanner(NewSettler(SettlerOptions{Ledger: l, Store: st, Catalog: testCatalog(t), Logger: testLogger()}), st, ScannerOptions{})
	if _, err := sc.StuckReport(context.Background()); err != nil {
		t.Fatal(err)
	}
	if run {
		if _, err := sc.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	metrics.WritePrometheus(os.Stdout, false)
}
