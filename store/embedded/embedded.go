// Package embedded is the store of the one-process deployment: every
// transfer request, its history and open-request indexes and the users'
// idempotency keys, durable on disk in Pebble.
//
// Each write is one Pebble batch, acknowledged only once a WAL fsync that
// began after its commit has returned, so an acknowledged Create or Advance
// survives a crash and an interrupted one leaves nothing behind: the
// request and its index entries commit together. (With Options.DeferSync,
// in a database shared with the embedded ledger, Create and Advance leave
// their fsync to the ledger's and to Sync; see there.) Many callers
// writing at once share one fsync. In a process with no more Ps than CPUs
// (Go's default) each commits without a sync and waits for the next round
// of the store's group syncer (groupSync), which yields once before each
// fsync so that the writers the last one woke can join it. With spare Ps
// (the node runs 4 per CPU, cmd/internal/node/procs.go) each commits with
// pebble.Sync, and Pebble's commit pipeline groups them; useGroupSync
// gives the measurements behind that choice. (Pebble can also space fsyncs
// by a minimum interval, Options.WALSyncIntervalMin; off by default, see
// there.)
//
// That bounds what a fixed number of writers sustains: every write waits
// for at least one whole fsync. BenchmarkTransfer's 64 writers (at -cpu 2,
// so through the group syncer) measured 36 writes per fsync and 123–183K
// writes/s, median 161K, varying with the machine; an fsync takes about 100 µs on this disk alone
// and 120–145 µs under that load, partly because flushes and compactions
// write to the same disk (tombstone-density compactions are off for that
// reason, see PebbleOptions). Committing with pebble.Sync at -cpu 2 made
// 19–20 writes per fsync: see groupSync.
//
// A request's read-modify-write runs under a striped lock keyed by its id,
// and a Create with an idempotency key also holds the stripe of (user, key), so
// two Creates with one key cannot both create and two Advances cannot lose
// an update.
//
// Reads are cheap where they run often: Create skips its reads of a new
// request id and idempotency key, which would find nothing, through a
// fixed-size filter of every stored one (seenFilter); Advance finds a
// recently created request in a bounded in-memory cache; a history page is
// one index scan and a point read of each request it names (the entries are
// empty, so a request becoming final rewrites only its own record and its
// open-index entry); CountOpen keeps
// in-memory counters and scans only the stuck part of the open index.
//
// Expired idempotency keys count as absent at once, are overwritten by the
// next Create that uses them, and are deleted by a background sweep that
// walks them oldest first, a bounded number per tick.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/exchange/internal-transfer/store"
)

// Options configure Open; zero fields take the defaults below.
type Options struct {
	// Dir is the Pebble data directory; required. It is created if absent.
	Dir string
	// IdempotencyTTL is how long an idempotency key stays live (config
	// idempotency_ttl); default 24 h.
	IdempotencyTTL time.Duration
	// Now is the clock for UpdatedAt, default CreatedAt and key expiry;
	// default time.Now. Tests set it.
	Now func() time.Time
	// SweepInterval is the period of the expired-key sweep; default 1 min.
	SweepInterval time.Duration
	// SweepKeysMax bounds the keys one sweep tick deletes; default 10 000.
	SweepKeysMax int
	// HistoryScanRowsMax bounds the history entries one History call reads
	// when its status filter passes over most of them (each one a request
	// read): the page then ends early, with a cursor, as on ScyllaDB;
	// default 10 000.
	HistoryScanRowsMax int
	// CacheSizeBytes is Pebble's block cache for table blocks; default
	// 64 MiB. The cache Open makes is larger by the memtables' reservation.
	CacheSizeBytes int64
	// MemTableSizeBytes is Pebble's memtable size; default 16 MiB. A small
	// skiplist stays in the CPU cache: its inserts were the largest cost of a
	// write with 64 MiB.
	MemTableSizeBytes uint64
	// FilterBytes is the memory of the filter of stored request ids and
	// idempotency keys that lets Create skip its reads of new ones (see
	// seenFilter); default 64 MiB, at least 32 KiB, allocated at Open (on
	// Linux outside the Go heap, on huge pages) and freed at Close.
	// Negative: no filter.
	FilterBytes int64
	// WALSyncIntervalMin, when positive, is the least time between two WAL
	// fsyncs: a commit arriving sooner waits for the next fsync, so more
	// commits share one. Every commit is still acknowledged only after its
	// fsync. Zero or negative (the default): no wait, the next fsync starts
	// as soon as the last returns.
	//
	// The wait is a Go timer, and a Go timer shorter than a millisecond
	// fires only after about 1.1 ms when every goroutine of the process is
	// parked (measured here: time.Sleep and time.AfterFunc of 50, 100 and
	// 500 µs all took 1.09–1.14 ms on an idle runtime) — which is the state
	// of a service whose requests are all waiting for that fsync. With 100 µs
	// (the earlier default) the store benchmark (64 writers, BenchmarkTransfer)
	// was slower in each of six alternating pairs, by 3–17 %; the service at
	// 1K/s offered had a p50 of 3.1–3.5 ms against 2.1–2.2 ms without; at
	// 5K/s, five alternating pairs gave a median p99 of 166 ms against 134 ms
	// without, within this machine's noise. The interval saved at most a few
	// per cent of CPU per request.
	WALSyncIntervalMin time.Duration

	// WALSyncObserver, when set, is called with the duration of every
	// fsync of the WAL, from Pebble's WAL goroutine (keep it cheap). Every
	// acknowledged write waits for one, so their rate and latency bound the
	// store's durable throughput (the node exports them as
	// internal_transfer_embedded_wal_fsync_ms). Like WALSyncIntervalMin, it
	// is the owner's business when DB is set.
	WALSyncObserver func(time.Duration)

	// DB, when set, is an open Pebble database the store shares with other
	// users (the embedded ledger): Dir, CacheSizeBytes, MemTableSizeBytes,
	// WALSyncIntervalMin and WALSyncObserver are then the owner's business, and Close leaves DB
	// open for its owner to close after every user. The store's keys start
	// with lower-case ASCII letters, so it shares a database with any user
	// of other prefixes. One database has one WAL: the store's and the
	// ledger's concurrent commits then wait for the same fsync instead of
	// two fsync streams taking turns at the disk.
	DB *pebble.DB

	// DeferSync, which needs DB, makes Create and Advance commit without
	// waiting for their fsync; Sync makes them durable. It is for a store
	// sharing its database, and so its one WAL, with the embedded ledger
	// (the node sets it then, with transfers.Options.Sync):
	//   - Advance records what the ledger decided (the hold, post or void
	//     the caller made it after), and the ledger answers only after its
	//     own fsync. An Advance lost in a crash leaves the request in its
	//     earlier status, and the user actor's restart or the scanner
	//     re-submits the same ledger event and records the same outcome.
	//   - Create's record precedes, in the WAL, the hold the caller places
	//     next; the ledger's fsync of that hold makes it durable too (Pebble
	//     syncs its WAL in order, and syncs a WAL it rotates away from). A
	//     caller that answers without a new ledger write after Create (a
	//     refusal, a replay, an error) calls Sync first.
	//   - A read sees commits no fsync covers yet; a caller that shows one
	//     (a GET) calls Sync first, which costs nothing when no Create or
	//     Advance was committed since the last one began.
	// Every other write still waits for its fsync.
	DeferSync bool

	// FilterSnapshot is the file Close saves the seen filter to and the
	// next Open reads it back from, instead of reading every stored id and
	// key (see ledger/embedded/filtersnap; after a crash Open reads them
	// all, as it must). Default: Dir + ".seenfilter" with Dir, none with DB.
	FilterSnapshot string

	fs vfs.FS // nil: the OS file system; tests wrap it
	// groupSync chooses how durable writes wait (tests set it): 0 picks
	// by spare Ps (see useGroupSync), groupSyncOn and groupSyncOff force.
	groupSync int
}

// Defaults of Options.
const (
	DefaultIdempotencyTTL     = 24 * time.Hour
	DefaultSweepInterval      = time.Minute
	DefaultSweepKeysMax       = 10_000
	DefaultHistoryScanRowsMax = 10_000
	DefaultCacheSizeBytes     = 64 << 20
	DefaultMemTableSizeBytes  = 16 << 20
	DefaultFilterBytes        = 64 << 20
)

// memTablesMax is how many memtables (one mutable, the rest flushing) may
// queue before Pebble stalls writes.
const memTablesMax = 4

// lockStripes is the number of striped locks serialising per-request and
// per-idempotency-key read-modify-writes; a power of two.
const lockStripes = 1024

// Store is the Pebble-backed store.Store. It is safe for concurrent use.
type Store struct {
	db   *pebble.DB
	opts Options

	// life is held shared by every operation and exclusively by Close, so
	// Close waits for operations in flight and later ones see ErrClosed.
	life   sync.RWMutex
	closed bool

	stripes [lockStripes]paddedMutex
	counts  openCounters
	cache   openCache
	filter  *seenFilter // nil: disabled

	filterFromSnapshot bool       // Open read filter from Options.FilterSnapshot
	keySeed            uint64     // hashes idempotency keys (keyStripe)
	group              *groupSync // nil: commits wait for their own sync, or defer it

	// With DeferSync: Create and Advance commits begun and finished, and
	// how many had finished when the fsync of the last successful Sync
	// began (it covers them all). Sync skips its fsync when that is every
	// commit begun: nothing written since is waiting for one.
	deferBegun, deferDone, deferSynced atomic.Uint64 // from 1, 1, 0: see Open

	sweepStop chan struct{}
	sweepDone chan struct{}

	claimMu sync.Mutex // orders ClaimNode's read and write
}

// paddedMutex keeps neighbouring stripes off one cache line.
type paddedMutex struct {
	sync.Mutex
	_ [56]byte
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the store in opts.Dir, rebuilds the open
// counters from the open index, loads the seen filter and starts the idempotency-key sweep.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" && opts.DB == nil {
		return nil, fmt.Errorf("cannot open embedded store: empty Dir: %w", store.ErrInvalid)
	}
	if opts.DeferSync && opts.DB == nil {
		return nil, fmt.Errorf("cannot open embedded store: DeferSync needs a database shared with the embedded ledger (DB): %w", store.ErrInvalid)
	}
	opts = withDefaults(opts)
	db := opts.DB
	if db == nil {
		cache := pebble.NewCache(CacheBytes(opts))
		var err error
		db, err = pebble.Open(opts.Dir, PebbleOptions(opts, cache))
		cache.Unref() // the DB holds its own reference
		if err != nil {
			return nil, fmt.Errorf("cannot open embedded store in %s: %w", opts.Dir, err)
		}
	}
	s := &Store{db: db, opts: opts, sweepStop: make(chan struct{}), sweepDone: make(chan struct{})}
	// What Open found may include a WAL tail that a killed process wrote
	// and no fsync covered (the OS kept it): the first Sync covers it.
	s.deferBegun.Store(1)
	s.deferDone.Store(1)
	s.cache.max = openCacheMax
	fail := func(err error) (*Store, error) {
		s.filter.release()
		if opts.DB == nil {
			_ = db.Close()
		}
		return nil, err
	}
	if err := s.rebuildCounts(); err != nil {
		return fail(err)
	}
	if err := dropClaims(db); err != nil {
		return fail(fmt.Errorf("cannot open embedded store in %s: %w", opts.Dir, err))
	}
	var err error
	if s.keySeed, err = keySeed(db); err != nil {
		return fail(fmt.Errorf("cannot open embedded store in %s: %w", opts.Dir, err))
	}
	if err := s.loadFilter(); err != nil {
		return fail(fmt.Errorf("cannot open embedded store in %s: %w", opts.Dir, err))
	}
	if useGroupSync(opts) {
		s.group = newGroupSync(db)
	}
	go s.sweepLoop()
	return s, nil
}

// CacheBytes is the size of the block cache Open makes for opts (with
// defaults applied): Pebble charges its memtables to the block cache, and
// without room for them on top the cache is reserved away and caches
// nothing.
func CacheBytes(opts Options) int64 {
	opts = withDefaults(opts)
	return opts.CacheSizeBytes + memTablesMax*int64(opts.MemTableSizeBytes)
}

// PebbleOptions returns the Pebble options Open uses for its own database
// (opts with defaults applied) with the given block cache: a database
// shared with the store (Options.DB) should be opened with them.
func PebbleOptions(opts Options, cache *pebble.Cache) *pebble.Options {
	opts = withDefaults(opts)
	po := &pebble.Options{
		Cache:                       cache,
		MemTableSize:                opts.MemTableSizeBytes,
		MemTableStopWritesThreshold: memTablesMax,
		// Let L0 collect two dozen flushes before compacting into Lbase.
		// History and idempotency keys start with a user id, so every flush
		// overlaps all of Lbase and each L0→Lbase compaction rewrites it:
		// fewer, larger compactions cost less CPU (BenchmarkTransfer, 3M
		// writes: 4 → 24 took CPU per write from 11.8 to 8.5–9.0 µs and
		// throughput from 117–119K to 138K writes/s).
		// Point reads skip most L0 tables by their bloom filters, and a
		// history page stayed at 0.35 ms with 1M requests.
		L0CompactionThreshold: 24,
		L0StopWritesThreshold: 96,
		FormatMajorVersion:    pebble.FormatNewest,
		Logger:                quietLogger{},
		FS:                    opts.fs,
	}
	if opts.WALSyncObserver != nil {
		po.FS = WALSyncFS(po.FS, opts.WALSyncObserver)
	}
	if d := opts.WALSyncIntervalMin; d > 0 {
		po.WALMinSyncInterval = func() time.Duration { return d }
	}
	// Bloom filters (inherited by every level) let the point reads that miss
	// (a new request id, a new idempotency key) skip most tables.
	po.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	// No tombstone-density compactions. Every finished request deletes its
	// open-index entry, so each flush writes a table dense with tombstones,
	// and Pebble (by default) compacted each such table alone into Lbase,
	// rewriting the part of Lbase it overlaps, one flush at a time; the
	// L0CompactionThreshold above exists to avoid exactly that. Without
	// them, the tombstones wait in L0 for the next L0→Lbase compaction.
	// BenchmarkTransfer (1000000x, eight alternating pairs in separate
	// processes): 137–169K writes/s, median 153.5K, against 121–159K,
	// median 138.7K; faster in six pairs. The scans that walk those
	// tombstones were no slower within this machine's noise
	// (BenchmarkOpenScanAfterChurn, 300K finished transfers: CountOpen
	// 1.1–1.3 ms, a scanner page 4.1–6.3 ms, with and without).
	po.Experimental.TombstoneDenseCompactionThreshold = -1
	return po
}

func withDefaults(o Options) Options {
	if o.IdempotencyTTL <= 0 {
		o.IdempotencyTTL = DefaultIdempotencyTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = DefaultSweepInterval
	}
	if o.SweepKeysMax <= 0 {
		o.SweepKeysMax = DefaultSweepKeysMax
	}
	if o.HistoryScanRowsMax <= 0 {
		o.HistoryScanRowsMax = DefaultHistoryScanRowsMax
	}
	if o.CacheSizeBytes <= 0 {
		o.CacheSizeBytes = DefaultCacheSizeBytes
	}
	if o.FilterBytes == 0 {
		o.FilterBytes = DefaultFilterBytes
	}
	if o.MemTableSizeBytes == 0 {
		o.MemTableSizeBytes = DefaultMemTableSizeBytes
	}
	if o.FilterSnapshot == "" && o.DB == nil {
		o.FilterSnapshot = filepath.Clean(o.Dir) + ".seenfilter"
	}
	return o
}

// Close stops the sweep, waits for operations in flight and closes Pebble.
// Later calls return ErrClosed.
func (s *Store) Close() error {
	s.life.Lock()
	if s.closed {
		s.life.Unlock()
		return store.ErrClosed
	}
	s.closed = true
	s.life.Unlock()
	close(s.sweepStop)
	<-s.sweepDone
	if s.group != nil {
		s.group.stop() // after the rounds of the writes just finished
	}
	s.saveFilter()     // nothing writes ids or keys any more
	s.filter.release() // no operation is in flight, none can start
	if s.opts.DB != nil {
		return nil // a shared database is its owner's to close
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("cannot close embedded store: %w", err)
	}
	return nil
}

// Sync makes every write committed before it durable (one WAL fsync). It
// is what a caller of a DeferSync store runs before an answer that no
// synced ledger write has made durable, and before one that shows what
// the store holds (a read may see a commit not yet durable). In a store
// that defers its fsyncs (DeferSync), with no Create or Advance committed
// since the last Sync's fsync began, it returns at once: nothing waits.
// It returns at ctx's deadline even while the fsync still runs: the
// caller then knows nothing, and the writes may yet be durable.
func (s *Store) Sync(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cannot sync store: %w", err)
	}
	if err := s.enter(); err != nil {
		return err
	}
	if s.opts.DeferSync && s.deferSynced.Load() >= s.deferBegun.Load() {
		s.life.RUnlock()
		return nil
	}
	if ctx.Done() == nil { // cannot end: wait here
		defer s.life.RUnlock()
		return syncErr(s.logSync())
	}
	// The fsync cannot be cancelled, so it runs on its own and the caller
	// stops waiting at its deadline (a disk that stalls for hundreds of
	// milliseconds must not hold an answer past it). Close waits for it.
	done := make(chan error, 1)
	go func() {
		defer s.life.RUnlock()
		done <- s.logSync()
	}()
	select {
	case err := <-done:
		return syncErr(err)
	case <-ctx.Done():
		return fmt.Errorf("cannot sync store: %w", ctx.Err())
	}
}

// logSync fsyncs the WAL and then counts every deferred commit finished
// before the fsync began as durable.
func (s *Store) logSync() error {
	done := s.deferDone.Load()
	if err := s.db.LogData(nil, pebble.Sync); err != nil {
		return err
	}
	for {
		synced := s.deferSynced.Load()
		if done <= synced || s.deferSynced.CompareAndSwap(synced, done) {
			return nil
		}
	}
}

// commit commits b, a Create's or an Advance's batch (see commitOpts).
// With DeferSync it counts the commit begun before and finished after, so
// a Sync can tell whether a commit a reader may have seen is durable yet:
// one is durable once a Sync's fsync began after it finished, and a reader
// sees it only after it is counted begun (see Sync).
func (s *Store) commit(b *pebble.Batch) error {
	if !s.opts.DeferSync {
		return b.Commit(s.commitOpts())
	}
	s.deferBegun.Add(1)
	// Counted finished even when it failed: what a failed commit left is
	// unknown, and a later fsync covers it as well as any.
	defer s.deferDone.Add(1)
	return b.Commit(pebble.NoSync)
}

func syncErr(err error) error {
	if err != nil {
		return fmt.Errorf("cannot sync store: %w", err)
	}
	return nil
}

// Values of Options.groupSync.
const (
	groupSyncOn  = 1
	groupSyncOff = -1
)

// useGroupSync reports whether a store opened with opts makes its writes
// durable through the group syncer, or commits them with pebble.Sync. The
// group syncer is for a process with no more Ps than CPUs (Go's default):
// there the goroutine in an fsync holds one of few Ps, and the syncer's
// yield is what lets the woken writers into the next fsync. With spare Ps
// they run at once anyway, and the syncer's two extra goroutine hand-offs
// per fsync cost more than the yield gains: BenchmarkTransfer at -cpu 8
// (the node's setting on 2 CPUs, cmd/internal/node/procs.go) gave 145.8K
// and 142.2K writes/s with the syncer against 165.6K and 157.6K with
// pebble.Sync, while at -cpu 2 the syncer gave 161.7K and 147.5K against
// 135.2K and 132.6K (runs alternated).
func useGroupSync(opts Options) bool {
	switch {
	case opts.DeferSync || opts.groupSync == groupSyncOff:
		return false
	case opts.groupSync == groupSyncOn:
		return true
	}
	return runtime.GOMAXPROCS(0) <= runtime.NumCPU()
}

// commitOpts is how Create and Advance commit: with pebble.Sync unless
// they wait for the group syncer (durable) or defer their sync.
func (s *Store) commitOpts() *pebble.WriteOptions {
	if s.group == nil && !s.opts.DeferSync {
		return pebble.Sync
	}
	return pebble.NoSync
}

// durable waits, when the store has a group syncer, until what the caller
// committed (with pebble.NoSync) is durable: a round of the syncer.
// Otherwise the commit itself waited (pebble.Sync), or Options.DeferSync
// leaves the sync to others. Create and Advance count a committed write
// in the counters and the cache before this wait, as it is visible to
// reads from then on; an error here leaves its durability unknown, as a
// crash before the fsync would.
func (s *Store) durable() error {
	if s.group == nil {
		return nil
	}
	return s.group.wait()
}

// enter admits an operation unless the store is closed; the caller must call
// s.life.RUnlock when done.
func (s *Store) enter() error {
	s.life.RLock()
	if s.closed {
		s.life.RUnlock()
		return store.ErrClosed
	}
	return nil
}

// lockIDs locks the stripes of the given hashes in ascending order (each
// once), so callers holding several never deadlock; it returns the unlock.
func (s *Store) lockHashes(hashes ...uint64) func() {
	idx := make([]int, 0, len(hashes))
	for _, h := range hashes {
		i := int(h & (lockStripes - 1))
		pos := 0
		for pos < len(idx) && idx[pos] < i {
			pos++
		}
		if pos < len(idx) && idx[pos] == i {
			continue
		}
		idx = append(idx, 0)
		copy(idx[pos+1:], idx[pos:])
		idx[pos] = i
	}
	for _, i := range idx {
		s.stripes[i].Lock()
	}
	return func() {
		for j := len(idx) - 1; j >= 0; j-- {
			s.stripes[idx[j]].Unlock()
		}
	}
}

// heldStripes is one or two stripes locked by lockPair.
type heldStripes struct {
	s      *Store
	lo, hi int // hi == lo when one stripe is held
}

// lockPair locks the stripes of hashes h1 and h2 (once when they share
// one) in ascending order, like lockHashes, without allocating: Create and
// Advance take it on every call.
func (s *Store) lockPair(h1, h2 uint64) heldStripes {
	lo, hi := int(h1&(lockStripes-1)), int(h2&(lockStripes-1))
	if hi < lo {
		lo, hi = hi, lo
	}
	s.stripes[lo].Lock()
	if hi != lo {
		s.stripes[hi].Lock()
	}
	return heldStripes{s: s, lo: lo, hi: hi}
}

// unlock releases the stripes lockPair locked.
func (h heldStripes) unlock() {
	if h.hi != h.lo {
		h.s.stripes[h.hi].Unlock()
	}
	h.s.stripes[h.lo].Unlock()
}

// get reads key from r into a fresh slice; found is false when absent.
func get(r pebble.Reader, key []byte) (value []byte, found bool, err error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	value = append([]byte(nil), v...)
	if err := closer.Close(); err != nil {
		return nil, false, err
	}
	return value, true, nil
}

// quietLogger drops Pebble's informational messages and keeps its errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...interface{}) {}
func (quietLogger) Errorf(format string, args ...interface{}) {
	pebble.DefaultLogger.Errorf(format, args...)
}
func (quietLogger) Fatalf(format string, args ...interface{}) {
	pebble.DefaultLogger.Fatalf(format, args...)
}
