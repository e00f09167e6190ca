package node

import (
	"io"
	"log/slog"
	"runtime"
	"testing"

	"github.com/exchange/internal-transfer/config"
)

// schedulerProcs gives embedded backends 4 Ps per CPU, takes an explicit
// server.gomaxprocs as it is, leaves production backends at Go's default,
// and never overrides a GOMAXPROCS environment variable.
func TestSchedulerProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cpus := runtime.NumCPU()
	cases := []struct {
		name          string
		env           string
		ledger, store string
		procs, want   int
	}{
		{"embedded, automatic", "", "embedded", "scylla", 0, procsPerCPUEmbedded * cpus},
		{"explicit", "", "embedded", "embedded", 3, 3},
		{"production backends", "", "tigerbeetle", "scylla", 0, cpus + 1}, // untouched: stays at the sentinel
		{"environment wins", "5", "embedded", "embedded", 3, cpus + 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("GOMAXPROCS", c.env)
			runtime.GOMAXPROCS(cpus + 1) // a sentinel no rule produces
			var cfg config.Config
			cfg.Backends.Ledger, cfg.Backends.Store = c.ledger, c.store
			cfg.Server.GoMaxProcs = c.procs
			schedulerProcs(&cfg, log)
			if got := runtime.GOMAXPROCS(0); got != c.want {
				t.Fatalf("GOMAXPROCS = %d, want %d", got, c.want)
			}
		})
	}
}
