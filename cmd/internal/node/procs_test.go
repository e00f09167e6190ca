package node

import (
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

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

// With server.gc_start_heap_mb the collector's heap goal stays at the start
// heap while the live heap is small, before and after a cycle; without it,
// or with GOGC set, gc_percent and GOGC rule as before.
func TestStartHeapGoal(t *testing.T) {
	gcBefore := debug.SetGCPercent(100)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	defer func() {
		// A later collectorSettings call ends the goal's re-arming.
		t.Setenv("GOGC", "")
		collectorSettings(&config.Config{}, log)
		debug.SetGCPercent(gcBefore)
	}()
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "1GiB") // left alone: the limit is not what sets the goal
	const start = 1024 << 20       // far above the live heap times nine: the goal is the start heap's doing
	var cfg config.Config
	cfg.Server.GCPercent, cfg.Server.GCStartHeapMB = 800, start>>20
	near := func(what string) {
		t.Helper()
		var goal int64
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
			if goal = readInt(t, "/gc/heap/goal:bytes"); goal > start*9/10 && goal < start*11/10 {
				return
			}
		}
		t.Fatalf("%s: heap goal %d MiB, want about %d MiB (live heap %d MiB, GC percent %d, settings call %d)",
			what, goal>>20, start>>20, liveHeap()>>20, readInt(t, "/gc/gogc:percent"), collectorGen.Load())
	}
	collectorSettings(&cfg, log)
	near("at once")
	runtime.GC()
	near("after a cycle")

	cfg.Server.GCStartHeapMB = 0
	collectorSettings(&cfg, log)
	if p := readInt(t, "/gc/gogc:percent"); p != 800 {
		t.Fatalf("without a start heap: GC percent %d, want 800", p)
	}
	t.Setenv("GOGC", "200")
	debug.SetGCPercent(123)
	cfg.Server.GCStartHeapMB = start >> 20
	collectorSettings(&cfg, log)
	if p := readInt(t, "/gc/gogc:percent"); p != 123 {
		t.Fatalf("with GOGC set: GC percent %d, want it left at 123", p)
	}
}

// startPercent puts the goal at the start heap for a small live heap, or
// before any cycle (the runtime's 4 MiB minimum, scaled), and leaves the
// configured percentage once the live heap is large enough.
func TestStartPercent(t *testing.T) {
	const mb = 1 << 20
	cases := []struct {
		live int64
		want int
	}{
		{0, 768 * 100 / 4},          // before any cycle: 4 MiB × p/100 = 768 MiB
		{32 * mb, 768/32*100 - 100}, // 32 MiB × (1 + p/100) = 768 MiB
		{96 * mb, 800},              // 96 MiB × 9 = 864 MiB: over the start heap already
	}
	for _, c := range cases {
		if got := startPercent(800, 768*mb, c.live); got != c.want {
			t.Errorf("live heap %d MiB: %d %%, want %d", c.live/mb, got, c.want)
		}
	}
}

func readInt(t *testing.T, name string) int64 {
	t.Helper()
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		t.Fatalf("metric %s: kind %v", name, s[0].Value.Kind())
	}
	return int64(s[0].Value.Uint64())
}
