package scylla

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exchange/internal-transfer/store"
	"github.com/gocql/gocql"
	"github.com/scylladb/gocqlx/v2"
)

// Store is store.Store on ScyllaDB. It is safe for concurrent use.
type Store struct {
	sess   gocqlx.Session
	set    settings
	closed atomic.Bool
	// indexedMinute is the last minute bucket this process wrote to
	// open_transfer_buckets (math.MinInt64: none), so Create writes the index
	// row once per minute instead of once per request (see needIndex).
	indexedMinute atomic.Int64
	// countMax bounds the rows CountOpen reads (countRowsMax; tests lower it).
	countMax int
	// putBacks are the minutes whose index row a prune deleted and could
	// not put back, with the write timestamp to put it back at (see
	// pruneMinute); every ListOpen retries them.
	putBackMu sync.Mutex
	putBacks  map[int64]int64
}

var _ store.Store = (*Store)(nil)

// Open connects to the cluster in opts.Hosts and returns a store on
// opts.Keyspace, whose schema ApplySchema must have created. It refuses a
// keyspace whose tables differ from the shipped schema (checkSchema).
func Open(ctx context.Context, opts Options) (*Store, error) {
	set, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	sess, err := connect(ctx, set, set.Keyspace)
	if err != nil {
		return nil, err
	}
	if err := checkSchema(ctx, sess, set.Keyspace); err != nil {
		sess.Close()
		return nil, err
	}
	s := &Store{sess: sess, set: set, countMax: countRowsMax}
	s.indexedMinute.Store(math.MinInt64)
	return s, nil
}

// Connect opens a session without a keyspace, for ApplySchema and other
// operator commands. The caller closes it.
func Connect(ctx context.Context, opts Options) (gocqlx.Session, error) {
	set, err := opts.resolve()
	if err != nil {
		return gocqlx.Session{}, err
	}
	return connect(ctx, set, "")
}

// hostPolicy picks coordinators: the replicas of a statement's token first,
// then round robin, within localDC when one is named — and only there: by
// default the DC-aware policy falls back to other data centres, where a
// LOCAL_QUORUM write would be acknowledged by that centre's quorum and a
// later read at home could miss it.
func hostPolicy(localDC string) gocql.HostSelectionPolicy {
	if localDC = strings.TrimSpace(localDC); localDC != "" {
		return gocql.TokenAwareHostPolicy(gocql.DCAwareRoundRobinPolicy(localDC, gocql.HostPolicyOptionDisableDCFailover))
	}
	return gocql.TokenAwareHostPolicy(gocql.RoundRobinHostPolicy())
}

// clusterConfig is the driver's configuration for set, on keyspace.
func clusterConfig(set settings, keyspace string) *gocql.ClusterConfig {
	cluster := gocql.NewCluster(set.Hosts...)
	cluster.Keyspace = keyspace
	cluster.Consistency = set.consistency
	cluster.SerialConsistency = set.serial
	cluster.Timeout = set.Timeout
	cluster.WriteTimeout = set.Timeout
	cluster.ConnectTimeout = set.ConnectTimeout
	cluster.NumConns = set.NumConns
	cluster.PoolConfig.HostSelectionPolicy = hostPolicy(set.LocalDC)
	// gocql consults the retry policy for every failed statement. Ours
	// retries only transient errors, never a non-idempotent statement that
	// may already have run, and never past the statement's context (see
	// retryPolicy). The idempotency-key claim (the one write not marked
	// idempotent) can so be retried after a server write timeout, which
	// gocql does not count as possibly run: a retry that finds its own claim
	// is resolved by the serial read of the key (claimKey).
	cluster.RetryPolicy = retryPolicy{retries: 3, min: 20 * time.Millisecond, max: 500 * time.Millisecond}
	if set.Username != "" {
		cluster.Authenticator = gocql.PasswordAuthenticator{Username: set.Username, Password: set.Password}
	}
	if set.TLS {
		// Chained to TLSCAFile (which must hold the self-signed root: the
		// driver checks the chain up to one) or the system's roots. The
		// driver dials nodes by IP, contact points included, so without
		// TLSServerName each node's certificate must carry its IP address.
		cluster.SslOpts = &gocql.SslOptions{Config: &tls.Config{MinVersion: tls.VersionTLS12, ServerName: set.TLSServerName},
			CaPath: set.TLSCAFile, EnableHostVerification: true}
	}
	return cluster
}

func connect(ctx context.Context, set settings, keyspace string) (gocqlx.Session, error) {
	cluster := clusterConfig(set, keyspace)
	type result struct {
		sess *gocql.Session
		err  error
	}
	done := make(chan result, 1)
	go func() {
		sess, err := cluster.CreateSession()
		done <- result{sess, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return gocqlx.Session{}, fmt.Errorf("cannot connect to scylla %v: %w", set.Hosts, r.err)
		}
		return gocqlx.NewSession(r.sess), nil
	case <-ctx.Done():
		go func() { // CreateSession is bounded by ConnectTimeout
			if r := <-done; r.sess != nil {
				r.sess.Close()
			}
		}()
		return gocqlx.Session{}, fmt.Errorf("cannot connect to scylla %v: %w", set.Hosts, ctx.Err())
	}
}

// Close closes the session; later calls return store.ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return store.ErrClosed
	}
	s.sess.Close()
	return nil
}

// enter refuses calls on a closed store or with a finished context.
func (s *Store) enter(ctx context.Context) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return ctx.Err()
}

// query binds st with values, on ctx. Every statement but the key claim is
// idempotent: rows are keyed by what they describe and status cells carry
// their own write timestamps.
func (s *Store) query(ctx context.Context, st stmt, values map[string]any) *gocqlx.Queryx {
	return s.queryArgs(ctx, st, st.args(values))
}

// queryArgs is query with st's values in bind-marker order.
func (s *Store) queryArgs(ctx context.Context, st stmt, args []any) *gocqlx.Queryx {
	return s.sess.ContextQuery(ctx, st.cql, st.names).Bind(args...).Idempotent(!st.conditional())
}

// batch collects statements for one logged batch: all its writes are
// eventually applied or none is, so the request, history and open tables
// cannot be left disagreeing by a crash between writes.
type batch struct{ b *gocql.Batch }

func (s *Store) newBatch(ctx context.Context) batch {
	return batch{s.sess.Session.BatchWithContext(ctx, gocql.LoggedBatch)}
}

func (b batch) add(st stmt, values map[string]any) { b.addArgs(st, st.args(values)) }

func (b batch) addArgs(st stmt, args []any) {
	b.b.Entries = append(b.b.Entries, gocql.BatchEntry{Stmt: st.cql, Args: args, Idempotent: true})
}

func (b batch) exec() error { return b.b.Exec() }

// Ping reads the coordinator's system.local row: a readiness check that
// the cluster answers. (It is not in Statements: it reads a system table,
// not the service's schema.)
func (s *Store) Ping(ctx context.Context) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	var version string
	err := s.sess.ContextQuery(ctx, "SELECT release_version FROM system.local", nil).
		Consistency(gocql.One).Idempotent(true).GetRelease(&version)
	if err != nil {
		return fmt.Errorf("cannot reach scylla: %w", err)
	}
	return nil
}

// Get returns request id, or store.ErrNotFound.
func (s *Store) Get(ctx context.Context, id uint64) (store.Request, error) {
	if err := s.enter(ctx); err != nil {
		return store.Request{}, err
	}
	r, err := s.get(ctx, id)
	if err != nil {
		return store.Request{}, fmt.Errorf("cannot get request %d: %w", id, err)
	}
	return r, nil
}

func (s *Store) get(ctx context.Context, id uint64) (store.Request, error) {
	var row requestRow
	err := s.query(ctx, stmtRequestGet, map[string]any{"request_id": int64(id)}).GetRelease(&row)
	if errors.Is(err, gocql.ErrNotFound) {
		return store.Request{}, store.ErrNotFound
	}
	if err != nil {
		return store.Request{}, err
	}
	return row.request()
}

// owners are the users whose history lists r: the sender, and the receiver
// when it is another user.
func owners(r *store.Request) []uint64 {
	if r.ToUserID != 0 && r.ToUserID != r.UserID {
		return []uint64{r.UserID, r.ToUserID}
	}
	return []uint64{r.UserID}
}

// openDeleteArgs binds stmtOpenDelete for row, in its minute and shard, at ts.
func openDeleteArgs(row *requestRow, ts any) []any {
	return []any{ts, minuteBucket(row.CreatedAt), openShard(uint64(row.RequestID)), row.CreatedAt, row.RequestID}
}

// addRequestRows adds to b the rows of r, at r's status: the request, its
// history rows, and its open row (written while open, deleted once final),
// all at requestTimestamp(r).
func addRequestRows(b batch, r *store.Request) {
	row := toRow(r)
	cols := row.appendArgs(make([]any, 0, len(requestColumns)))
	var ts any = requestTimestamp(r)
	b.addArgs(stmtRequestInsert, rowArgs(cols, ts))
	var day any = dayBucket(r.CreatedAt)
	for _, owner := range owners(r) {
		b.addArgs(stmtHistoryInsert, rowArgs(cols, ts, int64(owner), day))
	}
	if r.Status.Final() {
		b.addArgs(stmtOpenDelete, openDeleteArgs(&row, ts))
	} else {
		b.addArgs(stmtOpenInsert, rowArgs(cols, ts, minuteBucket(r.CreatedAt), openShard(r.ID)))
	}
}
