package node

import (
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"

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
// (bench/bench.sh; docs/benchmarks.md). The OS still runs only as many
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
// or it is 0.
func collectorSettings(cfg *config.Config, log *slog.Logger) {
	gcPercent := "GOGC or 100"
	if p := cfg.Server.GCPercent; p > 0 && os.Getenv("GOGC") == "" {
		debug.SetGCPercent(p)
		gcPercent = strconv.Itoa(p)
	}
	if mb := cfg.Server.MemoryLimitMB; mb > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(mb) << 20)
	}
	log.Info("collector", "gc_percent", gcPercent, "memory_limit_bytes", debug.SetMemoryLimit(-1)) // -1 only reads it
}
