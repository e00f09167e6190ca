// Package config loads the service's one configuration file: the deployment
// guide's shape (database, tigerbeetle, kafka, rate_limiting, settlement,
// monitoring) plus what the service adds (server, backends, auth, assets,
// account types, routes).
//
// Unknown keys and invalid values fail loading with a message naming the key.
// Any key can be overridden from the environment: IT_ followed by the key's
// path in upper case with "_" between levels, e.g. IT_DATABASE_KEYSPACE=t2,
// IT_RATE_LIMITING_MAX_REQUESTS_PER_MINUTE=600. List values are comma
// separated (IT_KAFKA_BROKERS=a:9092,b:9092); lists of objects (assets,
// account_types, routes) are taken as YAML flow text
// (IT_ASSETS='[{name: USDT, ledger: 1, decimals: 8}]').
package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Version is the service version, set at build time from the VERSION file
// (-ldflags -X). /health reports it.
var Version = "0.1.0-dev"

// Config is the whole configuration. Field tags are the YAML keys.
type Config struct {
	Server       Server        `yaml:"server"`
	Backends     Backends      `yaml:"backends"`
	Database     Database      `yaml:"database"`
	TigerBeetle  TigerBeetle   `yaml:"tigerbeetle"`
	Kafka        Kafka         `yaml:"kafka"`
	RateLimiting RateLimiting  `yaml:"rate_limiting"`
	Settlement   Settlement    `yaml:"settlement"`
	Monitoring   Monitoring    `yaml:"monitoring"`
	Auth         Auth          `yaml:"auth"`
	Actors       Actors        `yaml:"actors"`
	Assets       []Asset       `yaml:"assets"`
	AccountTypes []AccountType `yaml:"account_types"`
	Routes       []Route       `yaml:"routes"`
}

// Server is where the service listens and keeps its data.
type Server struct {
	NodeID      int    `yaml:"node_id"`      // 0..1023, unique per gateway node (request ids)
	BindAddress string `yaml:"bind_address"` // host of every listener but those below
	AdminPort   int    `yaml:"admin_port"`   // admin API
	// AdminBindAddress is the admin API's host when set: an operations
	// network's address keeps the API that credits balances off the users'
	// network even where a firewall rule is missing.
	AdminBindAddress string `yaml:"admin_bind_address"`
	DataDir          string `yaml:"data_dir"`       // embedded backends' data
	LogLevel         string `yaml:"log_level"`      // debug, info, warn, error
	MaxBodyBytes     int    `yaml:"max_body_bytes"` // request body limit
	ShutdownGrace    int    `yaml:"shutdown_grace_ms"`
	// GoMaxProcs is the Go scheduler's P count (runtime.GOMAXPROCS); 0 means
	// automatic: 4 per CPU when an embedded backend is on local disk (see
	// node.schedulerProcs), else Go's default. A GOMAXPROCS environment
	// variable wins over both.
	GoMaxProcs int `yaml:"gomaxprocs"`
	// GCPercent is the Go collector's GOGC: the heap may grow this many
	// percent over the live heap before the next collection. Each
	// collection stalls requests (a stop-the-world, then mark assists on the
	// goroutines that allocate), so fewer, larger ones make a shorter tail;
	// MemoryLimitMB bounds the memory that costs. 0 leaves Go's default
	// (100). A GOGC environment variable wins.
	GCPercent int `yaml:"gc_percent"`
	// MemoryLimitMB is the Go runtime's soft memory limit (GOMEMLIMIT), in
	// MiB: near it the collector runs as often as needed, whatever
	// GCPercent says. It must stay well above the live heap (about 4 KB per
	// live user actor, actors.user_actors_max), or collections come back to
	// back. 0 means no limit. A GOMEMLIMIT environment variable wins.
	MemoryLimitMB int `yaml:"memory_limit_mb"`
	// GCStartHeapMB is the least heap goal the collector gets: when the
	// live heap times (1 + GCPercent/100) is smaller, the collector's
	// percentage is raised after each cycle so that its goal is this. A
	// fresh process has a small live heap, so without it the first
	// collections come seconds into the load, while user actors and caches
	// still fill the heap (docs/benchmark-notes.md, session 14). Keep it at or
	// below the steady heap (about 850 MB here), so that it adds no memory
	// under load. 0 means none; it applies only with GCPercent (and no GOGC
	// environment variable), and must not exceed MemoryLimitMB.
	GCStartHeapMB int `yaml:"gc_start_heap_mb"`
}

// Backends chooses each part's implementation.
type Backends struct {
	Ledger string `yaml:"ledger"` // embedded | tigerbeetle
	Store  string `yaml:"store"`  // embedded | scylla
	Stream string `yaml:"stream"` // embedded | kafka
}

// Database is the ScyllaDB store.
type Database struct {
	ContactPoints       []string `yaml:"contact_points"`
	Keyspace            string   `yaml:"keyspace"`
	Consistency         string   `yaml:"consistency"`
	LocalDC             string   `yaml:"local_dc"`        // the data centre to use (and the one LOCAL_QUORUM means); "" for any
	Username            string   `yaml:"username"`        // PasswordAuthenticator user; "" when the cluster has no authentication
	Password            string   `yaml:"password"`        // from the environment: IT_DATABASE_PASSWORD
	TLS                 bool     `yaml:"tls"`             // connect over TLS (required with a password)
	TLSCAFile           string   `yaml:"tls_ca_file"`     // PEM with the root the nodes' certificates chain to; "" for the system's roots
	TLSServerName       string   `yaml:"tls_server_name"` // name every node's certificate carries; "" to check each node's IP address instead
	ReplicationFactor   int      `yaml:"replication_factor"`
	TimeoutMS           int      `yaml:"timeout_ms"`
	IdempotencyTTLHours int      `yaml:"idempotency_ttl_hours"`
}

// TigerBeetle is the ledger cluster.
type TigerBeetle struct {
	ClusterID   uint64   `yaml:"cluster_id"`
	Addresses   []string `yaml:"addresses"`
	Concurrency int      `yaml:"concurrency"` // ledger batcher pool width
	TimeoutMS   int      `yaml:"timeout_ms"`  // deadline of one ledger call
}

// Kafka is the confirmation stream.
type Kafka struct {
	Brokers        []string `yaml:"brokers"`
	Topic          string   `yaml:"topic"`
	ConsumerGroup  string   `yaml:"consumer_group"`
	Partitions     int      `yaml:"partitions"`      // embedded broker's topic
	EmbeddedListen string   `yaml:"embedded_listen"` // embedded broker's address
	// ProducerLingerMS is how long the gateway's producer lets a
	// partition's batch of confirmations fill before sending it. The client
	// has its answer (pending) before the record is sent, so it delays only
	// settlement; fewer, fuller produce requests cost less CPU.
	ProducerLingerMS int `yaml:"producer_linger_ms"`
	// SessionTimeoutMS is the settlement consumer's group session: a node
	// that stops heartbeating (killed, cut off) keeps its partitions
	// unsettled this long before the group hands them to the others.
	// Kafka's default is 45 s; the broker's group.min.session.timeout.ms
	// (6 s by default) is the floor. HeartbeatIntervalMS must be at most a
	// third of it.
	SessionTimeoutMS    int `yaml:"session_timeout_ms"`
	HeartbeatIntervalMS int `yaml:"heartbeat_interval_ms"`
	// How the services authenticate to a production cluster and protect the
	// connection (backends.stream: kafka only; the embedded broker is
	// plaintext on loopback). The password comes from the environment
	// (IT_KAFKA_SASL_PASSWORD), like the other secrets.
	SASLMechanism string `yaml:"sasl_mechanism"` // "", PLAIN (needs tls), SCRAM-SHA-256, SCRAM-SHA-512
	SASLUsername  string `yaml:"sasl_username"`
	SASLPassword  string `yaml:"sasl_password"`
	TLS           bool   `yaml:"tls"`         // dial the brokers over TLS
	TLSCAFile     string `yaml:"tls_ca_file"` // PEM the brokers' certificates chain to; "" for the system's roots
}

// RateLimiting holds per-user limits. Amounts are in the asset's smallest unit.
type RateLimiting struct {
	MaxRequestsPerMinute int    `yaml:"max_requests_per_minute"`
	MaxTransferAmount    uint64 `yaml:"max_transfer_amount"`
	MinTransferAmount    uint64 `yaml:"min_transfer_amount"`
}

// Settlement tunes the scanner.
type Settlement struct {
	ScannerIntervalMS   int `yaml:"scanner_interval_ms"`
	StuckThresholdMS    int `yaml:"stuck_threshold_ms"`
	CriticalThresholdMS int `yaml:"critical_threshold_ms"`
	GraceMS             int `yaml:"grace_ms"` // age before the scanner touches a request
}

// Monitoring places /health (with the user API) and /metrics.
type Monitoring struct {
	PrometheusPort  int  `yaml:"prometheus_port"`
	HealthCheckPort int  `yaml:"health_check_port"`
	PprofEnabled    bool `yaml:"pprof_enabled"` // Go's profiler under /debug/pprof/ on the metrics port
	// BindAddress is the metrics listener's host when set (Prometheus's
	// network); else server.bind_address.
	BindAddress string `yaml:"bind_address"`
	// SlowTraceMS, when positive, keeps the last seconds of the Go
	// execution trace in memory and writes them to <data_dir>/traces when
	// a transfer POST takes longer (at most one a minute, 20 in all).
	SlowTraceMS int `yaml:"slow_trace_ms"`
}

// Auth holds the user JWT and admin credentials.
type Auth struct {
	JWTAlgorithm     string `yaml:"jwt_algorithm"`       // HS256 | EdDSA | RS256
	JWTSecret        string `yaml:"jwt_secret"`          // HS256
	JWTPublicKeyFile string `yaml:"jwt_public_key_file"` // EdDSA | RS256, PEM
	JWTIssuer        string `yaml:"jwt_issuer"`
	JWTAudience      string `yaml:"jwt_audience"`
	AdminToken       string `yaml:"admin_token"`
}

// Actors bounds the actor system.
type Actors struct {
	UserMailboxMax   int `yaml:"user_mailbox_max"`   // queued requests per user actor
	InFlightMax      int `yaml:"in_flight_max"`      // requests in the pipeline, all users
	UserIdleMS       int `yaml:"user_idle_ms"`       // idle user actors stop after this
	UserActorsMax    int `yaml:"user_actors_max"`    // live user actors; beyond, the longest idle are stopped early
	RequestTimeoutMS int `yaml:"request_timeout_ms"` // a request's whole budget
	LedgerQueueMax   int `yaml:"ledger_queue_max"`   // events queued per batcher
}

// Asset is a configured asset.
type Asset struct {
	Name     string `yaml:"name" required:"true"`
	Ledger   uint32 `yaml:"ledger" required:"true"`
	Decimals int    `yaml:"decimals" required:"true"` // no default: 0 would rescale every amount
}

// AccountType is a configured account type.
type AccountType struct {
	Name string `yaml:"name"`
	Code uint16 `yaml:"code"`
}

// Route is an allowed transfer between account types.
type Route struct {
	From      string `yaml:"from"`
	To        string `yaml:"to"`
	CrossUser bool   `yaml:"cross_user"`
}

// Load reads path, applies defaults and environment overrides (environ, as
// os.Environ returns it), and validates the result.
func Load(path string, environ []string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read config: %w", err)
	}
	return Parse(raw, environ)
}

// Parse is Load on bytes.
func Parse(raw []byte, environ []string) (*Config, error) {
	cfg := Defaults()
	if err := decodeStrict(raw, cfg); err != nil && !errors.Is(err, io.EOF) { // empty file: all defaults
		return nil, fmt.Errorf("cannot parse config: %w", nameKeys(raw, err))
	}
	if err := applyEnv(cfg, environ); err != nil {
		return nil, err
	}
	// SASL mechanism names are upper case; write them so once (ASCII only:
	// Unicode case mapping would turn "plaın" into PLAIN).
	cfg.Kafka.SASLMechanism = asciiUpper(cfg.Kafka.SASLMechanism)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// asciiUpper upper-cases the ASCII letters of s and nothing else.
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// Defaults returns the configuration of a single embedded node.
func Defaults() *Config {
	return &Config{
		Server: Server{NodeID: 1, BindAddress: "127.0.0.1", AdminPort: 8081, DataDir: "./data",
			LogLevel: "info", MaxBodyBytes: 16 << 10, ShutdownGrace: 10_000, GCPercent: 800, MemoryLimitMB: 4096, GCStartHeapMB: 768},
		Backends:    Backends{Ledger: "embedded", Store: "embedded", Stream: "embedded"},
		Database:    Database{Keyspace: "trading", Consistency: "QUORUM", ReplicationFactor: 3, TimeoutMS: 2_000, IdempotencyTTLHours: 24},
		TigerBeetle: TigerBeetle{Concurrency: 4, TimeoutMS: 2_000},
		Kafka: Kafka{Topic: "transfer_confirmations", ConsumerGroup: "settlement_service", Partitions: 8, EmbeddedListen: "127.0.0.1:9092", ProducerLingerMS: 10,
			SessionTimeoutMS: 10_000, HeartbeatIntervalMS: 1_000},
		RateLimiting: RateLimiting{MaxRequestsPerMinute: 60, MaxTransferAmount: 1_000_000_000_000_000, MinTransferAmount: 1_000_000},
		Settlement:   Settlement{ScannerIntervalMS: 5_000, StuckThresholdMS: 1_800_000, CriticalThresholdMS: 7_200_000, GraceMS: 2_000},
		Monitoring:   Monitoring{PrometheusPort: 9090, HealthCheckPort: 8080},
		Auth:         Auth{JWTAlgorithm: "HS256"},
		Actors:       Actors{UserMailboxMax: 64, InFlightMax: 1024, UserIdleMS: 60_000, UserActorsMax: 100_000, RequestTimeoutMS: 5_000, LedgerQueueMax: 4 * 8189},
		Assets:       []Asset{{"USDT", 1, 8}, {"BTC", 2, 8}, {"ETH", 3, 8}},
		AccountTypes: []AccountType{{"funding", 1}, {"spot", 2}},
		Routes:       []Route{{From: "funding", To: "spot"}, {From: "spot", To: "funding"}},
	}
}

// Duration converts a millisecond setting.
func Duration(ms int) time.Duration { return time.Duration(ms) * time.Millisecond }

// AdminHost is the admin API's listening host: server.admin_bind_address,
// else server.bind_address.
func (c *Config) AdminHost() string {
	if c.Server.AdminBindAddress != "" {
		return c.Server.AdminBindAddress
	}
	return c.Server.BindAddress
}

// MetricsHost is the metrics listener's host: monitoring.bind_address, else
// server.bind_address.
func (c *Config) MetricsHost() string {
	if c.Monitoring.BindAddress != "" {
		return c.Monitoring.BindAddress
	}
	return c.Server.BindAddress
}
