package scylla

import (
	"fmt"
	"strings"
	"time"

	"github.com/gocql/gocql"
)

// Options configure Open. Zero fields take the defaults noted.
type Options struct {
	Hosts       []string // database.contact_points, host:port
	Keyspace    string   // database.keyspace; default "trading"
	Consistency string   // database.consistency; default QUORUM
	// LocalDC (database.local_dc) keeps every request in this data centre
	// (token aware, then DC aware round robin, no failover to another data
	// centre); LOCAL_QUORUM requires it, and every node of the service must
	// name the same one.
	// The idempotency-key LWT stays SERIAL, across data centres, unless
	// SerialConsistency says otherwise: LOCAL_SERIAL would let two data
	// centres each take the same key.
	LocalDC           string
	SerialConsistency string        // consistency of the idempotency-key LWT; default SERIAL
	Username          string        // PasswordAuthenticator user; "" for none
	Password          string        // PasswordAuthenticator password
	TLS               bool          // connect over TLS, verifying each node's certificate against its address
	TLSCAFile         string        // PEM bundle with the root the nodes' certificates chain to; "" for the system's roots
	TLSServerName     string        // name every node's certificate carries; "" to verify each node against its IP address
	IdempotencyTTL    time.Duration // life of a key; default 24 h, whole seconds (rounded up)
	Timeout           time.Duration // per request; default 5 s
	ConnectTimeout    time.Duration // initial connection; default 10 s
	NumConns          int           // connections per host; default 2 (the scylladb driver ignores it and opens one per shard)

	// OpenSealAfter is how long after a minute ends the scanner may drop it
	// from open_transfer_buckets once it finds it empty; default 10 min. It
	// must exceed the time a Create's logged batch can take to land after
	// the Create chose created_at, plus clock skew between nodes: a batch
	// whose coordinator failed lands when ScyllaDB replays it from the
	// batchlog, about a minute later, or later still if the batchlog's
	// replicas were down too. A batch landing later than that can leave
	// its request out of the open index (see pruneMinute). The cost of a
	// longer one: every scanner pass reads that many minutes more, each
	// of them 16 partitions (the shards of open_transfer_requests) for
	// ListOpen and again for CountOpen.
	OpenSealAfter time.Duration
	// HistoryScanRowsMax bounds the rows one History call reads when its
	// status filter skips rows; default 10 000 (see History).
	HistoryScanRowsMax int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Defaults.
const (
	DefaultKeyspace           = "trading"
	DefaultConsistency        = "QUORUM"
	DefaultSerialConsistency  = "SERIAL"
	DefaultIdempotencyTTL     = 24 * time.Hour
	DefaultTimeout            = 5 * time.Second
	DefaultConnectTimeout     = 10 * time.Second
	DefaultNumConns           = 2
	DefaultOpenSealAfter      = 10 * time.Minute
	DefaultHistoryScanRowsMax = 10_000
)

// ParseConsistency parses a consistency level name as gocql spells it (ANY,
// ONE, TWO, THREE, QUORUM, ALL, LOCAL_QUORUM, EACH_QUORUM, SERIAL,
// LOCAL_SERIAL, LOCAL_ONE), in any case; anything else is an error.
func ParseConsistency(s string) (gocql.Consistency, error) {
	var c gocql.Consistency
	if err := c.UnmarshalText([]byte(strings.ToUpper(strings.TrimSpace(s)))); err != nil {
		return 0, fmt.Errorf("cannot parse consistency %q: %w", s, err)
	}
	return c, nil
}

// settings are Options resolved: defaults applied and names parsed.
type settings struct {
	Options
	consistency gocql.Consistency
	serial      gocql.Consistency
	ttlSeconds  int
}

// resolve applies defaults and checks o.
func (o Options) resolve() (settings, error) {
	if len(o.Hosts) == 0 {
		return settings{}, fmt.Errorf("cannot configure scylla store: no hosts")
	}
	if (o.Username == "") != (o.Password == "") {
		return settings{}, fmt.Errorf("cannot configure scylla store: a user needs a password and a password a user")
	}
	if (o.TLSCAFile != "" || o.TLSServerName != "") && !o.TLS {
		return settings{}, fmt.Errorf("cannot configure scylla store: a TLS CA file or server name without TLS")
	}
	if o.Keyspace == "" {
		o.Keyspace = DefaultKeyspace
	}
	// As the schema's unquoted name folds it (ApplySchema too); gocql
	// quotes the keyspace it USEs, which would keep the case.
	o.Keyspace = strings.ToLower(o.Keyspace)
	if o.Consistency == "" {
		o.Consistency = DefaultConsistency
	}
	if o.SerialConsistency == "" {
		o.SerialConsistency = DefaultSerialConsistency
	}
	s := settings{}
	var err error
	if s.consistency, err = ParseConsistency(o.Consistency); err != nil {
		return settings{}, err
	}
	switch s.consistency {
	case gocql.Quorum, gocql.All:
	case gocql.LocalQuorum:
		if strings.TrimSpace(o.LocalDC) == "" {
			return settings{}, fmt.Errorf("cannot use consistency %s without a local data centre (database.local_dc)", s.consistency)
		}
	default:
		// Reads must see every acknowledged write (a create's key, a final
		// status, an open row a prune looks for), so reads and writes need
		// overlapping quorums: not ONE, TWO, THREE or LOCAL_ONE. ANY and
		// EACH_QUORUM cannot read; SERIAL levels cannot write outside an LWT.
		return settings{}, fmt.Errorf("cannot use consistency %s for the store's reads and writes: want QUORUM, ALL or LOCAL_QUORUM", s.consistency)
	}
	if s.serial, err = ParseConsistency(o.SerialConsistency); err != nil {
		return settings{}, err
	}
	if !s.serial.IsSerial() {
		return settings{}, fmt.Errorf("cannot use %s as serial consistency: want SERIAL or LOCAL_SERIAL", s.serial)
	}
	defaults := []struct {
		d   *time.Duration
		def time.Duration
	}{
		{&o.IdempotencyTTL, DefaultIdempotencyTTL}, {&o.Timeout, DefaultTimeout},
		{&o.ConnectTimeout, DefaultConnectTimeout}, {&o.OpenSealAfter, DefaultOpenSealAfter},
	}
	for _, d := range defaults {
		if *d.d < 0 {
			return settings{}, fmt.Errorf("cannot configure scylla store: negative duration %v", *d.d)
		}
		if *d.d == 0 {
			*d.d = d.def
		}
	}
	if o.NumConns <= 0 {
		o.NumConns = DefaultNumConns
	}
	if o.HistoryScanRowsMax <= 0 {
		o.HistoryScanRowsMax = DefaultHistoryScanRowsMax
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	// ScyllaDB keeps TTLs in whole seconds of a clock that truncates: a
	// cell written with TTL n expires n-1 to n s later. One second more
	// keeps every key at least IdempotencyTTL.
	s.ttlSeconds = int((o.IdempotencyTTL+time.Second-1)/time.Second) + 1
	s.Options = o
	return s, nil
}
