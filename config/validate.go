package config

import (
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/ingress/auth"
	"github.com/exchange/internal-transfer/ledger"
)

// Validate checks every value; the error names the offending key.
func (c *Config) Validate() error {
	checks := []struct {
		ok  bool
		key string
		msg string
	}{
		{c.Server.NodeID >= 0 && c.Server.NodeID < 1024, "server.node_id", "must be 0..1023"},
		{c.Server.BindAddress != "" && net.ParseIP(c.Server.BindAddress) != nil || c.Server.BindAddress == "localhost", "server.bind_address", "must be an IP address"},
		{validPort(c.Server.AdminPort), "server.admin_port", "must be 1..65535"},
		{c.Server.DataDir != "", "server.data_dir", "must not be empty"},
		{oneOf(c.Server.LogLevel, "debug", "info", "warn", "error"), "server.log_level", "must be debug, info, warn or error"},
		{c.Server.MaxBodyBytes >= 1024 && c.Server.MaxBodyBytes <= 1<<20, "server.max_body_bytes", "must be 1024..1048576"},
		{c.Server.ShutdownGrace > 0, "server.shutdown_grace_ms", "must be > 0"},
		{c.Server.GoMaxProcs >= 0 && c.Server.GoMaxProcs <= 1024, "server.gomaxprocs", "must be 0 (automatic)..1024"},
		{c.Server.GCPercent == 0 || (c.Server.GCPercent >= 25 && c.Server.GCPercent <= 10_000), "server.gc_percent", "must be 0 (Go's default) or 25..10000"},
		{c.Server.MemoryLimitMB == 0 || c.Server.MemoryLimitMB >= 256, "server.memory_limit_mb", "must be 0 (no limit) or at least 256"},
		{c.Server.GCStartHeapMB == 0 || c.Server.GCStartHeapMB >= 64 && (c.Server.MemoryLimitMB == 0 || c.Server.GCStartHeapMB <= c.Server.MemoryLimitMB), "server.gc_start_heap_mb", "must be 0 (none) or 64..server.memory_limit_mb"},
		{oneOf(c.Backends.Ledger, "embedded", "tigerbeetle"), "backends.ledger", "must be embedded or tigerbeetle"},
		{oneOf(c.Backends.Store, "embedded", "scylla"), "backends.store", "must be embedded or scylla"},
		{oneOf(c.Backends.Stream, "embedded", "kafka"), "backends.stream", "must be embedded or kafka"},
		{c.Backends.Store != "scylla" || len(c.Database.ContactPoints) > 0, "database.contact_points", "must list at least one host for backends.store: scylla"},
		{c.Database.Keyspace != "" && isIdent(c.Database.Keyspace), "database.keyspace", "must be a CQL identifier"},
		{oneOf(strings.ToUpper(c.Database.Consistency), "ANY", "ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM", "LOCAL_ONE"), "database.consistency", "must be a CQL consistency level"},
		{c.Database.ReplicationFactor >= 1, "database.replication_factor", "must be >= 1"},
		{c.Database.TimeoutMS > 0, "database.timeout_ms", "must be > 0"},
		{c.Database.IdempotencyTTLHours >= 24, "database.idempotency_ttl_hours", "must be >= 24 (keys are kept at least 24 h)"},
		{c.Backends.Ledger != "tigerbeetle" || len(c.TigerBeetle.Addresses) > 0, "tigerbeetle.addresses", "must list at least one replica for backends.ledger: tigerbeetle"},
		{c.TigerBeetle.Concurrency >= 1 && c.TigerBeetle.Concurrency <= 256, "tigerbeetle.concurrency", "must be 1..256"},
		{c.TigerBeetle.TimeoutMS > 0, "tigerbeetle.timeout_ms", "must be > 0"},
		{c.Backends.Stream != "kafka" || len(c.Kafka.Brokers) > 0, "kafka.brokers", "must list at least one broker for backends.stream: kafka"},
		{c.Kafka.Topic != "", "kafka.topic", "must not be empty"},
		{c.Kafka.ConsumerGroup != "", "kafka.consumer_group", "must not be empty"},
		{c.Kafka.Partitions >= 1 && c.Kafka.Partitions <= 1024, "kafka.partitions", "must be 1..1024"},
		{c.Kafka.ProducerLingerMS >= 1 && c.Kafka.ProducerLingerMS <= 1000, "kafka.producer_linger_ms", "must be 1..1000"},
		{c.Kafka.SessionTimeoutMS >= 6_000 && c.Kafka.SessionTimeoutMS <= 300_000, "kafka.session_timeout_ms", "must be 6000..300000 (Kafka's group session bounds)"},
		{c.Kafka.HeartbeatIntervalMS >= 100 && 3*c.Kafka.HeartbeatIntervalMS <= c.Kafka.SessionTimeoutMS, "kafka.heartbeat_interval_ms", "must be 100 or more and at most a third of kafka.session_timeout_ms"},
		{validAddr(c.Kafka.EmbeddedListen), "kafka.embedded_listen", "must be host:port"},
		{c.RateLimiting.MaxRequestsPerMinute >= 1, "rate_limiting.max_requests_per_minute", "must be >= 1"},
		{c.RateLimiting.MinTransferAmount >= 1, "rate_limiting.min_transfer_amount", "must be >= 1"},
		{c.RateLimiting.MaxTransferAmount >= c.RateLimiting.MinTransferAmount, "rate_limiting.max_transfer_amount", "must be >= min_transfer_amount"},
		{c.Settlement.ScannerIntervalMS >= 10, "settlement.scanner_interval_ms", "must be >= 10"},
		{c.Settlement.StuckThresholdMS > 0, "settlement.stuck_threshold_ms", "must be > 0"},
		{c.Settlement.CriticalThresholdMS >= c.Settlement.StuckThresholdMS, "settlement.critical_threshold_ms", "must be >= stuck_threshold_ms"},
		{c.Settlement.GraceMS >= 100, "settlement.grace_ms", "must be >= 100"},
		{validPort(c.Monitoring.PrometheusPort), "monitoring.prometheus_port", "must be 1..65535"},
		{validPort(c.Monitoring.HealthCheckPort), "monitoring.health_check_port", "must be 1..65535"},
		{c.Monitoring.SlowTraceMS >= 0, "monitoring.slow_trace_ms", "must be 0 (off) or more"},
		{c.Monitoring.PrometheusPort != c.Monitoring.HealthCheckPort && c.Server.AdminPort != c.Monitoring.HealthCheckPort && c.Server.AdminPort != c.Monitoring.PrometheusPort, "server.admin_port", "admin, health and prometheus ports must differ"},
		{oneOf(c.Auth.JWTAlgorithm, "HS256", "EdDSA", "RS256"), "auth.jwt_algorithm", "must be HS256, EdDSA or RS256"},
		{c.Auth.JWTAlgorithm != "HS256" || len(c.Auth.JWTSecret) >= 32, "auth.jwt_secret", "must be at least 32 bytes for HS256"},
		{c.Auth.JWTAlgorithm == "HS256" || fileExists(c.Auth.JWTPublicKeyFile), "auth.jwt_public_key_file", "must name a readable PEM file for EdDSA/RS256"},
		{len(c.Auth.AdminToken) >= 32, "auth.admin_token", "must be at least 32 bytes"},
		{c.Actors.UserMailboxMax >= 1, "actors.user_mailbox_max", "must be >= 1"},
		{c.Actors.UserActorsMax >= 1, "actors.user_actors_max", "must be >= 1"},
		{c.Actors.InFlightMax >= 1, "actors.in_flight_max", "must be >= 1"},
		{c.Actors.UserIdleMS >= 100, "actors.user_idle_ms", "must be >= 100"},
		{c.Actors.RequestTimeoutMS >= 10, "actors.request_timeout_ms", "must be >= 10"},
		{c.Actors.LedgerQueueMax >= ledger.BatchEventsMax, "actors.ledger_queue_max", fmt.Sprintf("must be >= %d (one full ledger batch)", ledger.BatchEventsMax)},
		{len(c.Assets) > 0, "assets", "must list at least one asset"},
		{len(c.AccountTypes) > 0, "account_types", "must list at least one account type"},
	}
	for _, ch := range checks {
		if !ch.ok {
			return fmt.Errorf("invalid config: %s %s", ch.key, ch.msg)
		}
	}
	if _, err := c.Catalog(); err != nil {
		return fmt.Errorf("invalid config: assets/account_types/routes: %w", err)
	}
	if c.Auth.JWTAlgorithm != "HS256" {
		pemData, err := os.ReadFile(c.Auth.JWTPublicKeyFile)
		if err != nil {
			return fmt.Errorf("invalid config: auth.jwt_public_key_file: %w", err)
		}
		alg, err := auth.PublicKeyAlgorithm(pemData)
		if err != nil {
			return fmt.Errorf("invalid config: auth.jwt_public_key_file %s: %w", c.Auth.JWTPublicKeyFile, err)
		}
		if alg != c.Auth.JWTAlgorithm {
			return fmt.Errorf("invalid config: auth.jwt_public_key_file %s holds a key for %s, but auth.jwt_algorithm is %s",
				c.Auth.JWTPublicKeyFile, alg, c.Auth.JWTAlgorithm)
		}
	}
	return nil
}

// Catalog builds the transfer catalog from assets, account types and routes.
func (c *Config) Catalog() (*transfers.Catalog, error) {
	assets := make([]transfers.Asset, len(c.Assets))
	for i, a := range c.Assets {
		assets[i] = transfers.Asset{Name: a.Name, Ledger: a.Ledger, Decimals: a.Decimals}
	}
	types := make([]transfers.AccountType, len(c.AccountTypes))
	for i, t := range c.AccountTypes {
		types[i] = transfers.AccountType{Name: t.Name, Code: t.Code}
	}
	routes := make([]transfers.Route, len(c.Routes))
	for i, r := range c.Routes {
		routes[i] = transfers.Route{From: r.From, To: r.To, CrossUser: r.CrossUser}
	}
	return transfers.NewCatalog(assets, types, routes)
}

func validPort(p int) bool { return p >= 1 && p <= 65535 }

func validAddr(a string) bool {
	_, port, err := net.SplitHostPort(a)
	return err == nil && port != ""
}

func oneOf(v string, options ...string) bool {
	for _, o := range options {
		if v == o {
			return true
		}
	}
	return false
}

func isIdent(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return len(s) <= 48
}

func fileExists(path string) bool {
	if path == "" {
		return false
	}
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}
