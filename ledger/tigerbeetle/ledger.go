package tigerbeetle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	tb "github.com/tigerbeetle/tigerbeetle-go"
	"github.com/tigerbeetle/tigerbeetle-go/pkg/types"

	"github.com/exchange/internal-transfer/ledger"
)

// Limits and defaults of Options.
const (
	// DefaultConcurrency is the number of requests in flight when
	// Options.Concurrency is 0 (the deployment guide's tigerbeetle.concurrency).
	DefaultConcurrency = 32
	// ConcurrencyMax bounds Options.Concurrency: every slot may pin a batch of
	// up to 1 MiB in memory while the cluster does not answer.
	ConcurrencyMax = 1024
	// DefaultTimeout is the deadline of a call whose ctx has none, and of
	// resolving the addresses in New, when Options.Timeout is 0.
	DefaultTimeout = 5 * time.Second
	// replaceIntervalMin spaces out client replacements after evictions, so
	// that processes fighting over the cluster's client sessions do not
	// evict each other in a tight loop.
	replaceIntervalMin = 1 * time.Second
	// resolveTimeoutMax bounds the name lookups of a replacement, which
	// runs on a caller's path.
	resolveTimeoutMax = 2 * time.Second
)

// Options configures New.
type Options struct {
	// ClusterID is the cluster's id (TigerBeetle's u128 cluster id; the
	// deployment guide's cluster_id: 1001 is ledger.U128(1001)).
	ClusterID ledger.Uint128
	// Addresses are the replicas, in replica order, as "host:port", "ip:port",
	// "ip" or "port". Host names are resolved to one IP each by New, because
	// the TigerBeetle client accepts IP addresses only.
	Addresses []string
	// Concurrency is how many requests may be in flight at once, answered or
	// not (0 means DefaultConcurrency; at most ConcurrencyMax).
	Concurrency int
	// Timeout is the deadline of a call whose ctx has none (0 means
	// DefaultTimeout).
	Timeout time.Duration
}

// dialFunc creates a TigerBeetle client; tb.NewClient outside tests.
type dialFunc func(clusterID types.Uint128, addresses []string) (tb.Client, error)

// session is one client instance; it is replaced when the cluster evicts it.
type session struct {
	client tb.Client
	once   sync.Once
	// evicted is set by any call that completes with the client evicted
	// (or closed, when the Ledger is not): the next call replaces the
	// session before it submits (see call).
	evicted atomic.Bool
}

func (s *session) close() { s.once.Do(s.client.Close) }

// Ledger is ledger.Ledger on a TigerBeetle cluster. It is safe for concurrent
// use; requests of the same operation submitted together are batched into one
// message by the client.
//
// Create calls do not copy their batch: the client reads it in place until
// the request is encoded into a message. A call that returns
// ledger.ErrOutcomeUnknown may still be queued in the client and read its
// batch later, so the caller must leave that memory unchanged until it has
// retried the batch successfully (which it must do anyway) or closed the
// Ledger.
type Ledger struct {
	clusterID types.Uint128
	hosts     []string // as configured (Options.Addresses)
	addresses []string // resolved, as given to the client (under mu after New)
	timeout   time.Duration
	dial      dialFunc

	slots     chan struct{} // one token per request in flight
	abandoned atomic.Int64  // calls whose caller gave up before the answer

	mu           sync.Mutex // serialises replace and Close
	session      atomic.Pointer[session]
	replacedAt   time.Time
	replacing    bool // a replace is resolving and dialling, outside mu
	replacements atomic.Uint64
	closed       atomic.Bool
	closeOnce    sync.Once
}

var _ ledger.Ledger = (*Ledger)(nil)

// New resolves opts.Addresses and creates the client. The client connects in
// the background: New does not wait for the cluster, so an unreachable
// cluster shows up as calls ending in ledger.ErrOutcomeUnknown.
func New(opts Options) (*Ledger, error) {
	return newLedger(opts, tb.NewClient)
}

func newLedger(opts Options, dial dialFunc) (*Ledger, error) {
	switch {
	case len(opts.Addresses) == 0:
		return nil, errors.New("cannot create TigerBeetle ledger: no addresses")
	case opts.Concurrency < 0 || opts.Concurrency > ConcurrencyMax:
		return nil, fmt.Errorf("cannot create TigerBeetle ledger: concurrency %d not in 0..%d", opts.Concurrency, ConcurrencyMax)
	case opts.Timeout < 0:
		return nil, fmt.Errorf("cannot create TigerBeetle ledger: negative timeout %v", opts.Timeout)
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	defer cancel()
	addresses, err := resolveAddresses(ctx, opts.Addresses)
	if err != nil {
		return nil, fmt.Errorf("cannot create TigerBeetle ledger: %w", err)
	}
	l := &Ledger{
		clusterID: tbUint128(opts.ClusterID),
		hosts:     opts.Addresses,
		addresses: addresses,
		timeout:   opts.Timeout,
		dial:      dial,
		slots:     make(chan struct{}, opts.Concurrency),
	}
	c, err := dial(l.clusterID, addresses)
	if err != nil {
		return nil, mapInitError(addresses, err)
	}
	l.session.Store(&session{client: c})
	return l, nil
}

func (l *Ledger) current() *session { return l.session.Load() }

// replace swaps an evicted session for a new client, unless that was done
// already, another call is doing it, the ledger is closed, or the last
// replacement is too recent. An evicted client completes every packet with
// "evicted", so closing it loses nothing. The names are resolved and the
// client made outside mu: the calls that meet the evicted session meanwhile
// fail at once (ErrEvicted) instead of queueing behind the lookup, and
// Close does not wait for it.
func (l *Ledger) replace(old *session) {
	l.mu.Lock()
	if l.closed.Load() || l.session.Load() != old || l.replacing || time.Since(l.replacedAt) < replaceIntervalMin {
		l.mu.Unlock()
		return
	}
	l.replacing = true
	addrs := l.addresses
	l.mu.Unlock()
	// Resolve the names again: a replica may have moved since New. The
	// last resolved addresses stay when the names do not resolve now.
	ctx, cancel := context.WithTimeout(context.Background(), min(l.timeout, resolveTimeoutMax))
	if resolved, err := resolveAddresses(ctx, l.hosts); err == nil {
		addrs = resolved
	}
	cancel()
	c, err := l.dial(l.clusterID, addrs)
	l.mu.Lock()
	l.replacing = false
	l.replacedAt = time.Now()
	switch {
	case err != nil:
		// Keep the evicted session: its calls keep failing with ErrEvicted,
		// and the next one tries again after replaceIntervalMin.
		l.mu.Unlock()
		return
	case l.closed.Load():
		l.mu.Unlock()
		c.Close()
		return
	}
	l.addresses = addrs
	l.session.Store(&session{client: c})
	l.replacements.Add(1)
	l.mu.Unlock()
	old.close()
}

// Close closes the client. Requests still in flight, abandoned or not,
// complete with an error wrapping ledger.ErrClosed and
// ledger.ErrOutcomeUnknown; later calls return ledger.ErrClosed. Closing
// twice is harmless.
func (l *Ledger) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed.Store(true)
		s := l.session.Load()
		l.mu.Unlock()
		s.close()
	})
	return nil
}

// Stats is a snapshot of the request slots, for metrics and health checks.
type Stats struct {
	// InFlight is the number of requests holding a slot, abandoned included.
	InFlight int
	// Abandoned is the number of requests whose caller's deadline passed
	// before TigerBeetle answered; each still holds its slot.
	Abandoned int
	// Concurrency is the number of slots.
	Concurrency int
	// Replacements counts clients replaced after the cluster evicted them.
	Replacements uint64
}

// Stats returns the current Stats.
func (l *Ledger) Stats() Stats {
	return Stats{
		InFlight:     len(l.slots),
		Abandoned:    int(l.abandoned.Load()),
		Concurrency:  cap(l.slots),
		Replacements: l.replacements.Load(),
	}
}
