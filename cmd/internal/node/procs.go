package node

import (
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync/atomic"

	"github.com/exchange/internal-transfer/config"
)

// procsPerCPUEmbedded is the automatic GOMAXPROCS per CPU when an embedded
// backend writes to local disk.
//
// Pebble's WAL fsyncs (about 200–300 µs here) and table writes are blocking
// system calls, and a goroutine in one keeps its P until the runtime's
// monitor takes it back, which can be milliseconds when the monitor has
// backed off. With one P per CPU, two fsyncs in flight (then the ledger's and
// the store's; they now share one WAL, cmd/internal/node/backends.go)
// left no P for the HTTP handlers and actors: at 4K transfers/s on 2 CPUs,
// p99 was 149 ms with GOMAXPROCS=2, 38 ms with 4 and 29 ms with 8, and the
// most the service sustained rose from about 5.9K/s to 8.8K/s with 8
// (bench/bench.sh; docs/benchmark-notes.md). The OS still runs only as many
// threads at once as there are CPUs; the extra Ps only keep runnable
// goroutines from waiting behind a blocked one.
const procsPerCPUEmbedded = 4

// schedulerProcs sets GOMAXPROCS from cfg (server.gomaxprocs, or automatic)
// unless the GOMAXPROCS environment variable already chose it.
func schedulerProcs(cfg *config.Config, log *slog.Logger) {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	n := cfg.Server.GoMaxProcs
	if n == 0 && (cfg.Backends.Ledger == "embedded" || cfg.Backends.Store == "embedded") {
		n = procsPerCPUEmbedded * runtime.NumCPU()
	}
	if n > 0 && n != runtime.GOMAXPROCS(0) {
		runtime.GOMAXPROCS(n)
		log.Info("scheduler", "gomaxprocs", n, "cpus", runtime.NumCPU())
	}
}

// collectorSettings applies server.gc_percent and server.memory_limit_mb,
// each unless its environment variable (GOGC, GOMEMLIMIT) already chose it
// or it is 0, and server.gc_start_heap_mb with gc_percent (see
// startHeapGoal).
func collectorSettings(cfg *config.Config, log *slog.Logger) {
	gen := collectorGen.Add(1) // ends an earlier call's startHeapGoal
	gcPercent := "GOGC or 100"
	var start int64
	if p := cfg.Server.GCPercent; p > 0 && os.Getenv("GOGC") == "" {
		gcPercent = strconv.Itoa(p)
		start = int64(cfg.Server.GCStartHeapMB) << 20
		if start > 0 {
			startHeapGoal(gen, p, start)
		} else {
			debug.SetGCPercent(p)
		}
	}
	if mb := cfg.Server.MemoryLimitMB; mb > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(mb) << 20)
	}
	log.Info("collector", "gc_percent", gcPercent, "memory_limit_bytes", debug.SetMemoryLimit(-1), // -1 only reads it
		"start_heap_goal_bytes", start)
}

// heapMinimum is the Go collector's heap goal at GOGC=100 before it has
// measured a live heap (runtime's defaultHeapMinimum): 4 MiB, scaled by
// GOGC/100.
const heapMinimum = 4 << 20

// startHeapGoal keeps the collector's heap goal at start bytes or more:
// now and after every cycle (a cleanup on an object nothing references runs
// then), it sets the larger of percent and the percentage that puts the
// goal at start for the live heap the cycle measured.
//
// A fresh process has a small live heap, so with percent alone its first
// cycles come seconds into the load, while user actors and caches still
// fill the heap, and stall requests then (docs/benchmark-notes.md, session 14).
// Unlike a memory limit, a percentage leaves the collector's pacer its
// usual room, so the cycle does not start late and lean on mark assists.
func startHeapGoal(gen uint64, percent int, start int64) {
	if collectorGen.Load() != gen {
		return // collectorSettings ran again since
	}
	debug.SetGCPercent(startPercent(percent, start, liveHeap()))
	runtime.AddCleanup(new([64]byte), func(struct{}) { startHeapGoal(gen, percent, start) }, struct{}{})
}

// collectorGen counts collectorSettings calls.
var collectorGen atomic.Uint64

// startPercent is the percentage whose heap goal is start for a live heap
// of live bytes (0 before any cycle), or percent if that is higher.
func startPercent(percent int, start, live int64) int {
	var p int64
	if live <= 0 {
		p = start * 100 / heapMinimum
	} else {
		p = start*100/live - 100
	}
	return int(max(min(p, math.MaxInt32), int64(percent)))
}

// liveHeap is the live heap the last cycle marked, 0 before any.
func liveHeap() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}
