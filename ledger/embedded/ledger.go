// Package embedded is the in-process ledger engine: TigerBeetle 0.16's rules
// for create_accounts and create_transfers (results, order of checks, linked
// chains, two-phase transfers with expiry, balancing and closing transfers,
// id_already_failed) kept durably on a Pebble store.
//
// One applier goroutine owns all writes. Callers enqueue whole batches on a
// bounded queue; the applier takes every batch waiting (group commit), applies
// them in order against an in-memory overlay and stages the group as one
// Pebble batch. A committer goroutine syncs it once, publishes the new state
// and answers the callers, while the applier already executes the next group
// on top of it (two groups at most: one executing, one syncing). A crash
// therefore loses only unacknowledged groups, never part of one. Accounts
// live in memory (they are few); transfers live in Pebble, found by point
// reads with bloom filters and Pebble's block cache. A fixed-size in-memory
// filter of every stored transfer id (idFilter) lets create_transfers skip
// the Pebble lookup for ids that are certainly new, which almost all are.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"log"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/exchange/internal-transfer/ledger"
)

// Defaults for Options.
const (
	DefaultCacheBytes = 256 << 20 // Pebble reserves memtables out of it: keep it well above MemTableBytes
	// DefaultMemTableBytes is small on purpose: a memtable that fits in the
	// CPU cache halves the skiplist insert cost of every committed group,
	// and the extra flushes run on Pebble's background goroutines.
	DefaultMemTableBytes  = 16 << 20
	DefaultQueueBatchMax  = 256
	DefaultGroupEventsMax = 4 * ledger.BatchEventsMax
	// DefaultTransferFilterBytes sizes the transfer id filter: about 1.3%
	// false positives at 50 million stored transfers (see idFilter).
	DefaultTransferFilterBytes = 64 << 20
	// DefaultRecentPendingMax covers seconds of holds at the service's
	// rates, where a hold is settled within milliseconds; about 200 bytes each.
	DefaultRecentPendingMax = 1 << 16
)

// L0 shape; see pebbleOptions. 12 → 24 took BenchmarkServiceShape from
// 17.6–19.8 to 16.5 µs of CPU per transfer (300000x, 2 runs each).
const (
	l0CompactionFiles = 24
	l0StopWritesFiles = 96
)

// Options configure Open. Only Dir is required.
type Options struct {
	// Dir is the Pebble directory; it is created if missing.
	Dir string
	// Clock returns the cluster time in nanoseconds since the Unix epoch;
	// nil means the wall clock. Timestamps stay strictly increasing even if
	// it goes back.
	Clock func() uint64
	// CacheBytes is Pebble's block cache size (DefaultCacheBytes if zero).
	CacheBytes int64
	// MemTableBytes is Pebble's memtable size (DefaultMemTableBytes if zero).
	MemTableBytes uint64
	// QueueBatchMax bounds the batches waiting for the applier
	// (DefaultQueueBatchMax if zero); callers beyond it wait, bounded by their ctx.
	QueueBatchMax int
	// GroupEventsMax bounds the events applied in one synced group
	// (DefaultGroupEventsMax if zero; never below ledger.BatchEventsMax).
	GroupEventsMax int
	// TransferFilterBytes is the memory of the in-memory filter of stored
	// transfer ids that lets the applier skip the Pebble lookup of ids that
	// are certainly new (DefaultTransferFilterBytes if zero; rounded down to
	// a power of two). It is fixed for the life of the Ledger and, since ids
	// spread over all of it, soon fully resident; Open reads every stored
	// id once to fill it.
	TransferFilterBytes int64
	// RecentPendingMax is how many of the last committed pending transfers
	// the applier keeps in memory for the posts and voids that follow them
	// (DefaultRecentPendingMax if zero; negative: none).
	RecentPendingMax int

	// DB, when set, is an open Pebble database the ledger shares with other
	// users (the embedded store): Dir, CacheBytes and MemTableBytes are then
	// ignored, and Close leaves DB open for its owner to close after every
	// user. The ledger's keys start with upper-case ASCII letters, so it
	// shares a database with any user of other prefixes. Sharing one
	// database shares one WAL: concurrent commits of both users wait for
	// the same fsync instead of two fsync streams taking turns at the disk.
	DB *pebble.DB

	// FS is the file system Pebble uses; nil: the OS's. The node wraps it
	// to time WAL fsyncs (store/embedded.WALSyncFS); package tests pass an
	// in-memory one. Ignored with DB, but for FilterSnapshot.
	FS vfs.FS

	// FilterSnapshot is the file (on FS) Close saves the transfer-id
	// filter to and the next Open reads it back from, instead of reading
	// every stored id (see ledger/embedded/filtersnap; after a crash Open
	// reads them all, as it must). Default: Dir + ".idfilter" with Dir,
	// none with DB.
	FilterSnapshot string
}

// Ledger is the embedded engine. It implements ledger.Ledger and is safe for
// concurrent use.
type Ledger struct {
	db    *pebble.DB
	cache interface{ Unref() }
	clock func() uint64
	opts  Options

	idsFromSnapshot bool // Open read l.ids from Options.FilterSnapshot

	queue   chan *request
	closing chan struct{}
	stopped chan struct{}
	closed  atomic.Bool
	once    sync.Once

	// broken is set when a Pebble commit failed; the state on disk is then
	// unknown to this process and every later call fails.
	broken atomic.Pointer[error]

	readMu sync.RWMutex // held by readers of Pebble; Close takes it to close Pebble
	// publishedTS is the last cluster timestamp of the newest group synced
	// and published. Pebble makes a batch readable before its fsync has
	// returned, so the query paths that read transfers from Pebble ignore
	// anything newer: nobody may learn of a transfer that is not durable, or
	// before the accounts it changed show it.
	publishedTS atomic.Uint64
	mu          sync.RWMutex // guards map insertions/deletions and committed account values
	accounts    map[ledger.Uint128]*accountState

	// Applier-only state.
	lastTimestamp uint64
	groupsWritten uint64    // groups committed with writes, ever (the meta value's second half)
	ids           *idFilter // every transfer id prefetched so far, and false positives
	recent        recentPending
	nextExpiry    uint64 // earliest expires_at that may be due; 0 = none
	gen           uint64
	groups        [2]group // executing and syncing, alternately
	g             *group   // the group being executed
	inflight      *group   // the group being synced, if any

	commits       chan *group   // applier → committer, at most one in flight
	committed     chan struct{} // committer → applier: the in-flight group is answered
	committerDone chan struct{}
}

var _ ledger.Ledger = (*Ledger)(nil)

// Open opens (or creates) the ledger in opts.Dir and recovers its state.
func Open(opts Options) (*Ledger, error) {
	if opts.Dir == "" && opts.DB == nil {
		return nil, errors.New("cannot open embedded ledger: Options.Dir is empty")
	}
	opts.setDefaults()
	var cache interface{ Unref() } = noCache{}
	db := opts.DB
	if db == nil {
		c := pebble.NewCache(opts.CacheBytes)
		var err error
		if db, err = pebble.Open(opts.Dir, opts.pebbleOptions(c)); err != nil {
			c.Unref()
			return nil, fmt.Errorf("cannot open pebble in %s: %w", opts.Dir, err)
		}
		cache = c
	}
	l := &Ledger{
		db:       db,
		cache:    cache,
		clock:    opts.Clock,
		opts:     opts,
		queue:    make(chan *request, opts.QueueBatchMax),
		closing:  make(chan struct{}),
		stopped:  make(chan struct{}),
		accounts: make(map[ledger.Uint128]*accountState),
		recent:   newRecentPending(max(opts.RecentPendingMax, 0)),
	}
	if err := l.recover(); err != nil {
		if opts.DB == nil {
			_ = db.Close()
		}
		cache.Unref()
		if l.ids != nil {
			l.ids.release()
		}
		return nil, err
	}
	l.publishedTS.Store(l.lastTimestamp) // everything on disk is durable
	for i := range l.groups {
		l.groups[i].init()
		l.groups[i].batch = db.NewBatch(pebble.WithMaxRetainedSizeBytes(256 << 20))
	}
	l.commits = make(chan *group, 1)
	l.committed = make(chan struct{}, 1)
	l.committerDone = make(chan struct{})
	go l.committer()
	go l.run()
	return l, nil
}

// setDefaults fills the zero fields of o with the defaults.
func (o *Options) setDefaults() {
	if o.Clock == nil {
		o.Clock = func() uint64 { return uint64(time.Now().UnixNano()) }
	}
	if o.CacheBytes <= 0 {
		o.CacheBytes = DefaultCacheBytes
	}
	if o.MemTableBytes == 0 {
		o.MemTableBytes = DefaultMemTableBytes
	}
	if o.QueueBatchMax <= 0 {
		o.QueueBatchMax = DefaultQueueBatchMax
	}
	if o.GroupEventsMax <= 0 {
		o.GroupEventsMax = DefaultGroupEventsMax
	}
	o.GroupEventsMax = max(o.GroupEventsMax, ledger.BatchEventsMax)
	if o.RecentPendingMax == 0 {
		o.RecentPendingMax = DefaultRecentPendingMax
	}
	if o.TransferFilterBytes <= 0 {
		o.TransferFilterBytes = DefaultTransferFilterBytes
	}
	if o.FilterSnapshot == "" && o.DB == nil {
		o.FilterSnapshot = filepath.Clean(o.Dir) + ".idfilter"
	}
	if o.FS == nil {
		o.FS = vfs.Default
	}
}

// pebbleOptions returns the Pebble options for o.
func (o *Options) pebbleOptions(cache *pebble.Cache) *pebble.Options {
	popts := &pebble.Options{
		Cache:        cache,
		MemTableSize: o.MemTableBytes,
		// Let L0 collect two dozen flushes before compacting: transfer ids are
		// random, so every L0→Lbase compaction rewrites all of Lbase, and
		// fewer, larger compactions cost less CPU. The deeper L0 costs
		// reads little: the id filter spares create_transfers most of
		// them and point reads use per-table bloom filters.
		L0CompactionThreshold: l0CompactionFiles,
		L0StopWritesThreshold: l0StopWritesFiles,
		Logger:                quietLogger{},
	}
	if o.FS != nil {
		popts.FS = o.FS
	}
	for i := range popts.Levels {
		popts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	return popts
}

// noCache stands for the block cache of a shared database, which its owner
// holds.
type noCache struct{}

func (noCache) Unref() {}

// Close stops the applier once the group it is applying is durable and
// answered; batches still queued are answered ledger.ErrClosed, none of them
// applied (drainClosed). Then it closes Pebble (unless it is a shared
// Options.DB). Calls after Close return ledger.ErrClosed.
func (l *Ledger) Close() error {
	var err error
	l.once.Do(func() {
		l.closed.Store(true)
		close(l.closing)
		<-l.stopped
		l.readMu.Lock()
		defer l.readMu.Unlock()
		for i := range l.groups {
			_ = l.groups[i].batch.Close()
		}
		l.saveIDFilter()      // nothing writes transfers any more
		if l.opts.DB == nil { // a shared database is its owner's to close
			err = l.db.Close()
		}
		l.cache.Unref()
		l.ids.release() // the applier, its only user, has stopped
	})
	return err
}

// CreateAccounts applies accounts as one atomic batch and returns the results
// of the events that did not succeed.
func (l *Ledger) CreateAccounts(ctx context.Context, accounts []ledger.Account) ([]ledger.AccountEventResult, error) {
	if len(accounts) > ledger.BatchEventsMax {
		return nil, ledger.ErrBatchTooLarge
	}
	r := getRequest()
	r.accounts = append(r.accounts[:0], accounts...)
	if err := l.submit(ctx, r); err != nil {
		return nil, err
	}
	var out []ledger.AccountEventResult
	if len(r.accountResults) > 0 {
		out = append([]ledger.AccountEventResult(nil), r.accountResults...)
	}
	putRequest(r)
	return out, nil
}

// CreateTransfers applies transfers as one atomic batch and returns the
// results of the events that did not succeed.
func (l *Ledger) CreateTransfers(ctx context.Context, transfers []ledger.Transfer) ([]ledger.TransferEventResult, error) {
	if len(transfers) > ledger.BatchEventsMax {
		return nil, ledger.ErrBatchTooLarge
	}
	r := getRequest()
	r.isTransfers = true
	r.transfers = append(r.transfers[:0], transfers...)
	if err := l.submit(ctx, r); err != nil {
		return nil, err
	}
	var out []ledger.TransferEventResult
	if len(r.transferResults) > 0 {
		out = append([]ledger.TransferEventResult(nil), r.transferResults...)
	}
	putRequest(r)
	return out, nil
}

// submit enqueues r and waits for the applier's answer. Before r is queued
// nothing can have been applied, so ctx expiry is a plain error; after, the
// outcome is unknown. The applier owns r from the moment it is queued: a
// caller that gives up leaves it to the garbage collector.
func (l *Ledger) submit(ctx context.Context, r *request) error {
	if err := l.usable(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cannot queue ledger batch: %w", err)
	}
	select {
	case l.queue <- r:
	case <-l.closing:
		return ledger.ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("cannot queue ledger batch: %w", ctx.Err())
	}
	select {
	case <-r.done:
		return r.err
	case <-l.stopped:
		// The applier is gone: r was either answered before it stopped or
		// never taken, and then nothing of it was applied.
		select {
		case <-r.done:
			return r.err
		default:
			return ledger.ErrClosed
		}
	case <-ctx.Done():
		return ledger.ErrOutcomeUnknown
	}
}

func (l *Ledger) usable() error {
	if l.closed.Load() {
		return ledger.ErrClosed
	}
	if p := l.broken.Load(); p != nil {
		return *p
	}
	return nil
}

// quietLogger drops Pebble's informational logs, logs its errors and keeps
// its fatal errors fatal (Pebble's default logger exits the process).
type quietLogger struct{}

func (quietLogger) Infof(string, ...interface{}) {}
func (quietLogger) Errorf(format string, args ...interface{}) {
	log.Printf("embedded ledger: pebble: "+format, args...)
}
func (quietLogger) Fatalf(format string, args ...interface{}) {
	panic(fmt.Sprintf("embedded ledger: pebble fatal: "+format, args...))
}
