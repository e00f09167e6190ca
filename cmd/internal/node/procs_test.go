package node

import (
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
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

// collectorSettings applies server.gc_percent and server.memory_limit_mb,
// leaves Go's settings for 0, and never overrides GOGC or GOMEMLIMIT.
func TestCollectorSettings(t *testing.T) {
	gcBefore, limitBefore := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	defer func() { debug.SetGCPercent(gcBefore); debug.SetMemoryLimit(limitBefore) }()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	const sentinelGC, sentinelLimit = 123, int64(3 << 30) // values no rule produces
	cases := []struct {
		name             string
		gogc, gomemlimit string
		percent, limitMB int
		wantGC           int
		wantLimit        int64
	}{
		{"configured", "", "", 800, 4096, 800, 4096 << 20},
		{"zero leaves Go's", "", "", 0, 0, sentinelGC, sentinelLimit},
		{"environment wins", "200", "1GiB", 800, 4096, sentinelGC, sentinelLimit},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("GOGC", c.gogc)
			t.Setenv("GOMEMLIMIT", c.gomemlimit)
			debug.SetGCPercent(sentinelGC)
			debug.SetMemoryLimit(sentinelLimit)
			var cfg config.Config
			cfg.Server.GCPercent, cfg.Server.MemoryLimitMB = c.percent, c.limitMB
			collectorSettings(&cfg, log)
			gc := debug.SetGCPercent(sentinelGC)
			if limit := debug.SetMemoryLimit(-1); gc != c.wantGC || limit != c.wantLimit {
				t.Fatalf("GC percent %d, memory limit %d; want %d and %d", gc, limit, c.wantGC, c.wantLimit)
			}
		})
	}
}
