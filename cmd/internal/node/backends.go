// Package node assembles one service process from the configuration: it
// opens the ledger, the store and the stream the config names — embedded or
// production — builds the actors, and starts and stops the listeners, so
// every binary picks its parts the same way, by config alone.
package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/cockroachdb/pebble/v2"
	"github.com/exchange/internal-transfer/actors/stream"
	"github.com/exchange/internal-transfer/config"
	"github.com/exchange/internal-transfer/ledger"
	ledgerembedded "github.com/exchange/internal-transfer/ledger/embedded"
	"github.com/exchange/internal-transfer/ledger/tigerbeetle"
	"github.com/exchange/internal-transfer/schema"
	"github.com/exchange/internal-transfer/store"
	storeembedded "github.com/exchange/internal-transfer/store/embedded"
	"github.com/exchange/internal-transfer/store/scylla"
)

// Logger returns the JSON logger at the configured level.
func Logger(cfg *config.Config, service string) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(cfg.Server.LogLevel)))
	h := slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level})
	return slog.New(h).With("service", service, "node", cfg.Server.NodeID, "version", config.Version)
}

// InProcess reports whether the ledger or the store lives inside this
// process; settlement must then run in the same process as the gateway.
func InProcess(cfg *config.Config) bool {
	return cfg.Backends.Ledger == "embedded" || cfg.Backends.Store == "embedded"
}

// openLedger opens the configured ledger; an embedded one in shared when
// it is not nil.
func openLedger(cfg *config.Config, shared *pebble.DB) (ledger.Ledger, error) {
	switch cfg.Backends.Ledger {
	case "embedded":
		l, err := ledgerembedded.Open(ledgerembedded.Options{
			Dir: filepath.Join(cfg.Server.DataDir, ledgerDir), DB: shared,
			FS:             storeembedded.WALSyncFS(nil, observeWALSync), // its own database's WAL, when not shared
			FilterSnapshot: filterSnapshot(cfg, shared, ".ledger-idfilter"),
		})
		if err != nil {
			return nil, fmt.Errorf("cannot open embedded ledger: %w", err)
		}
		return l, nil
	case "tigerbeetle":
		l, err := tigerbeetle.New(tigerbeetle.Options{
			ClusterID:   ledger.U128(cfg.TigerBeetle.ClusterID),
			Addresses:   cfg.TigerBeetle.Addresses,
			Concurrency: cfg.TigerBeetle.Concurrency,
			Timeout:     config.Duration(cfg.TigerBeetle.TimeoutMS),
		})
		if err != nil {
			return nil, fmt.Errorf("cannot connect to TigerBeetle: %w", err)
		}
		return l, nil
	}
	panic("BUG: config validation let backends.ledger " + cfg.Backends.Ledger + " through")
}

// filterSnapshot is where an embedded backend in the shared database keeps
// its filter's snapshot between a clean stop and the next start (beside
// the database, named for the backend); "" with its own database, where
// it keeps one beside that (the backends' defaults).
func filterSnapshot(cfg *config.Config, shared *pebble.DB, suffix string) string {
	if shared == nil {
		return ""
	}
	return filepath.Join(cfg.Server.DataDir, sharedDir+suffix)
}

// ScyllaOptions is the ScyllaDB store's options from cfg's database section.
func ScyllaOptions(cfg *config.Config) scylla.Options {
	d := cfg.Database
	return scylla.Options{
		Hosts: d.ContactPoints, Keyspace: d.Keyspace, Consistency: d.Consistency, LocalDC: d.LocalDC,
		Username: d.Username, Password: d.Password, TLS: d.TLS, TLSCAFile: d.TLSCAFile, TLSServerName: d.TLSServerName,
		IdempotencyTTL: time.Duration(d.IdempotencyTTLHours) * time.Hour,
		Timeout:        config.Duration(d.TimeoutMS),
	}
}

// openStore opens the configured store; an embedded one in shared when it
// is not nil.
func openStore(ctx context.Context, cfg *config.Config, shared *pebble.DB) (store.Store, error) {
	ttl := time.Duration(cfg.Database.IdempotencyTTLHours) * time.Hour
	switch cfg.Backends.Store {
	case "embedded":
		s, err := storeembedded.Open(storeembedded.Options{
			Dir: filepath.Join(cfg.Server.DataDir, storeDir), IdempotencyTTL: ttl, DB: shared,
			WALSyncObserver: observeWALSync, // its own database's WAL, when not shared
			// In the ledger's database its writes are made durable by the
			// ledger's fsyncs that follow them (Backends.StoreSync).
			DeferSync:      shared != nil,
			FilterSnapshot: filterSnapshot(cfg, shared, ".store-seenfilter"),
		})
		if err != nil {
			return nil, fmt.Errorf("cannot open embedded store: %w", err)
		}
		return s, nil
	case "scylla":
		s, err := scylla.Open(ctx, ScyllaOptions(cfg))
		if errors.Is(err, schema.ErrLiveMismatch) {
			return nil, fmt.Errorf("cannot use ScyllaDB: %w", err)
		}
		if err != nil {
			return nil, fmt.Errorf("cannot connect to ScyllaDB: %w", err)
		}
		return s, nil
	}
	panic("BUG: config validation let backends.store " + cfg.Backends.Store + " through")
}

// Backends is the ledger and the store of a process, and the Pebble
// database they share when both are embedded.
type Backends struct {
	Ledger ledger.Ledger
	Store  store.Store
	// StoreSync makes the store's writes so far durable when the store
	// defers its fsyncs to the ledger's (both embedded, one database: see
	// store/embedded Options.DeferSync); nil otherwise. It is the user
	// actors' transfers.Options.Sync.
	StoreSync func(context.Context) error
	shared    *pebble.DB // nil: each opened its own, or neither is embedded
}

// Data directory layouts of the embedded backends under server.data_dir.
const (
	// sharedDir holds one Pebble database for the embedded ledger and the
	// embedded store (disjoint key prefixes). One database has one WAL, so
	// the two commit streams of every transfer share fsyncs: on this
	// project's 2-core test machine two WALs fsyncing side by side took
	// turns at the disk and each fsync waited for the other's.
	sharedDir = "embedded"
	// ledgerDir and storeDir are the separate databases of data written
	// before the shared layout, and of a process where only one backend is
	// embedded.
	ledgerDir = "ledger"
	storeDir  = "store"
)

// OpenBackends opens the configured ledger and store. When both are
// embedded they share one Pebble database in <data_dir>/embedded, unless
// the data dir holds separate ledger and store databases from before that
// layout, which are then opened as they are. Close closes them all.
func OpenBackends(ctx context.Context, cfg *config.Config) (*Backends, error) {
	b := &Backends{}
	var err error
	if cfg.Backends.Ledger == "embedded" && cfg.Backends.Store == "embedded" {
		if b.shared, err = openShared(cfg); err != nil {
			return nil, err
		}
	}
	if b.Ledger, err = openLedger(cfg, b.shared); err != nil {
		_ = b.Close()
		return nil, err
	}
	if b.Store, err = openStore(ctx, cfg, b.shared); err != nil {
		_ = b.Close()
		return nil, err
	}
	if b.shared != nil {
		b.StoreSync = b.Store.(*storeembedded.Store).Sync
	}
	return b, nil
}

// openShared opens the database the embedded ledger and store share, or
// returns nil when the data dir holds them apart (an earlier layout).
func openShared(cfg *config.Config) (*pebble.DB, error) {
	dir := cfg.Server.DataDir
	shared, err := exists(filepath.Join(dir, sharedDir))
	if err != nil {
		return nil, err
	}
	apart := false
	for _, d := range []string{ledgerDir, storeDir} {
		ok, err := exists(filepath.Join(dir, d))
		if err != nil {
			return nil, err
		}
		apart = apart || ok
	}
	switch {
	case shared && apart:
		return nil, fmt.Errorf("cannot open the embedded backends: %s holds both a shared database (%s) and separate ones (%s, %s); move the unused one away",
			dir, sharedDir, ledgerDir, storeDir)
	case apart:
		return nil, nil
	}
	sopts := storeembedded.Options{WALSyncObserver: observeWALSync}
	cache := pebble.NewCache(storeembedded.CacheBytes(sopts) + ledgerembedded.DefaultCacheBytes)
	defer cache.Unref() // the database holds its own reference
	po := storeembedded.PebbleOptions(sopts, cache)
	po.EventListener = backgroundListener()
	db, err := pebble.Open(filepath.Join(dir, sharedDir), po)
	if err != nil {
		return nil, fmt.Errorf("cannot open the embedded backends' database in %s: %w", filepath.Join(dir, sharedDir), err)
	}
	return db, nil
}

// walFsyncMS is the duration of each fsync of an embedded database's WAL
// (the shared one, or the ledger's and the store's own): every acknowledged
// transfer waits for one (in the shared database only its hold's; see
// Backends.StoreSync), so their rate and latency bound what the node
// sustains.
var walFsyncMS = metrics.GetOrCreatePrometheusHistogramExt("internal_transfer_embedded_wal_fsync_ms",
	[]float64{0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 25, 50, 100, 250, 1000})

func observeWALSync(d time.Duration) { walFsyncMS.Update(float64(d) / float64(time.Millisecond)) }

// writeStallMS is the duration of each write stall of the shared embedded
// database: Pebble took no write until a flush or compaction caught up, so
// every transfer step waited.
var writeStallMS = metrics.GetOrCreatePrometheusHistogramExt("internal_transfer_embedded_write_stall_ms",
	[]float64{1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000})

// backgroundNice is the CPU priority of the shared database's compactions,
// as RocksDB lowers its compaction threads'. On 2 cores they competed with
// the requests: in 2.5K/s runs the L0 compaction (about 4 s, every 33 s)
// lined up with seconds of slow answers (docs/benchmark-notes.md, session 13).
// At 10 a contended thread gets about a tenth of a core's time against a
// request thread; with the CPU idle it runs at full speed.
const backgroundNice = 10

// flushNice is the CPU priority of the shared database's flushes: lowered
// less than compactions, because a flush that falls behind stalls every
// write once the memtables are full. At 10 that happened under overload
// (8K/s offered: 3 stalls, 834 ms); at 5 it did not (two runs). In 2.5K/s
// runs against compactions alone lowered, p99 20.6–22.3 against 34.2–48.2
// ms (three alternated pairs; docs/benchmark-notes.md, session 13).
const flushNice = 5

// backgroundListener records each write stall's duration in writeStallMS,
// and runs every flush at flushNice and every compaction at backgroundNice.
func backgroundListener() *pebble.EventListener {
	var began atomic.Int64 // UnixNano of the stall in progress; 0: none
	var (
		mu       sync.Mutex
		restores = map[int]func(){} // by job id
	)
	lower := func(job, nice int) {
		r := lowerThreadPriority(nice)
		mu.Lock()
		restores[job] = r
		mu.Unlock()
	}
	restore := func(job int) {
		mu.Lock()
		r := restores[job]
		delete(restores, job)
		mu.Unlock()
		if r != nil {
			r()
		}
	}
	return &pebble.EventListener{
		WriteStallBegin: func(pebble.WriteStallBeginInfo) { began.Store(time.Now().UnixNano()) },
		WriteStallEnd: func() {
			if t := began.Swap(0); t != 0 {
				writeStallMS.Update(float64(time.Now().UnixNano()-t) / float64(time.Millisecond))
			}
		},
		// A flush and a compaction each run Begin, their work and End on
		// a goroutine of their own (pebble's flush1 and compact1). A late
		// compaction only lets L0 grow toward L0StopWritesThreshold, far
		// away; a late flush stalls writes, hence its milder priority.
		FlushBegin:      func(i pebble.FlushInfo) { lower(i.JobID, flushNice) },
		FlushEnd:        func(i pebble.FlushInfo) { restore(i.JobID) },
		CompactionBegin: func(i pebble.CompactionInfo) { lower(i.JobID, backgroundNice) },
		CompactionEnd:   func(i pebble.CompactionInfo) { restore(i.JobID) },
	}
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("cannot open the embedded backends: %w", err)
}

// Close closes the store, the ledger and then their shared database.
// filterSources says where each embedded backend's id filter came from at
// Open: "snapshot" (a clean stop saved it) or "scan" (every stored id was
// read: after a crash, a first start, or with few ids).
func (b *Backends) filterSources() string {
	source := func(fromSnapshot bool) string {
		if fromSnapshot {
			return "snapshot"
		}
		return "scan"
	}
	var parts []string
	if l, ok := b.Ledger.(*ledgerembedded.Ledger); ok {
		parts = append(parts, "ledger "+source(l.FilterFromSnapshot()))
	}
	if s, ok := b.Store.(*storeembedded.Store); ok {
		parts = append(parts, "store "+source(s.FilterFromSnapshot()))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func (b *Backends) Close() error {
	var errs []error
	if b.Store != nil {
		errs = append(errs, b.Store.Close())
	}
	if b.Ledger != nil {
		errs = append(errs, b.Ledger.Close())
	}
	if b.shared != nil {
		if err := b.shared.Close(); err != nil {
			errs = append(errs, fmt.Errorf("cannot close the embedded backends' database: %w", err))
		}
	}
	b.Store, b.Ledger, b.shared, b.StoreSync = nil, nil, nil, nil
	return errors.Join(errs...)
}

// Stream is the confirmation stream's brokers, and the embedded broker when
// this process runs one.
type Stream struct {
	Brokers []string
	broker  *stream.Broker
}

// Close stops the embedded broker, if any.
func (s *Stream) Close() {
	if s.broker != nil {
		s.broker.Close()
	}
}

// OpenStream starts the embedded broker, or names the configured brokers.
func OpenStream(cfg *config.Config, log *slog.Logger) (*Stream, error) {
	if cfg.Backends.Stream == "kafka" {
		return &Stream{Brokers: cfg.Kafka.Brokers}, nil
	}
	b, err := stream.StartEmbedded(stream.EmbeddedOptions{
		DataDir:    filepath.Join(cfg.Server.DataDir, "kafka"),
		ListenAddr: cfg.Kafka.EmbeddedListen,
		Topic:      cfg.Kafka.Topic,
		Partitions: int32(cfg.Kafka.Partitions),
		Logger:     log,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot start embedded Kafka broker: %w", err)
	}
	return &Stream{Brokers: b.Addrs(), broker: b}, nil
}
