package config

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strconv"
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
		{validHost(c.Server.BindAddress), "server.bind_address", "must be an IP address"},
		{c.Server.AdminBindAddress == "" || validHost(c.Server.AdminBindAddress), "server.admin_bind_address", "must be empty (server.bind_address) or an IP address"},
		{c.Monitoring.BindAddress == "" || validHost(c.Monitoring.BindAddress), "monitoring.bind_address", "must be empty (server.bind_address) or an IP address"},
		{validPort(c.Server.AdminPort), "server.admin_port", "must be 1..65535"},
		{c.Server.DataDir != "", "server.data_dir", "must not be empty"},
		{oneOf(c.Server.LogLevel, "debug", "info", "warn", "error"), "server.log_level", "must be debug, info, warn or error"},
		{c.Server.MaxBodyBytes >= 1024 && c.Server.MaxBodyBytes <= 1<<20, "server.max_body_bytes", "must be 1024..1048576"},
		{c.Server.ShutdownGrace > 0 && c.Server.ShutdownGrace <= msMax, "server.shutdown_grace_ms", msRange(1)},
		{c.Server.GoMaxProcs >= 0 && c.Server.GoMaxProcs <= 1024, "server.gomaxprocs", "must be 0 (automatic)..1024"},
		{c.Server.GCPercent == 0 || (c.Server.GCPercent >= 25 && c.Server.GCPercent <= 10_000), "server.gc_percent", "must be 0 (Go's default) or 25..10000"},
		{c.Server.MemoryLimitMB == 0 || c.Server.MemoryLimitMB >= 256 && c.Server.MemoryLimitMB <= mbMax, "server.memory_limit_mb", fmt.Sprintf("must be 0 (no limit) or 256..%d", mbMax)},
		{c.Server.GCStartHeapMB == 0 || c.Server.GCStartHeapMB >= 64 && c.Server.GCStartHeapMB <= mbMax && (c.Server.MemoryLimitMB == 0 || c.Server.GCStartHeapMB <= c.Server.MemoryLimitMB), "server.gc_start_heap_mb", fmt.Sprintf("must be 0 (none) or 64..server.memory_limit_mb (at most %d)", mbMax)},
		{oneOf(c.Backends.Ledger, "embedded", "tigerbeetle"), "backends.ledger", "must be embedded or tigerbeetle"},
		{oneOf(c.Backends.Store, "embedded", "scylla"), "backends.store", "must be embedded or scylla"},
		{oneOf(c.Backends.Stream, "embedded", "kafka"), "backends.stream", "must be embedded or kafka"},
		{c.Backends.Store != "scylla" || len(c.Database.ContactPoints) > 0, "database.contact_points", "must list at least one host for backends.store: scylla"},
		{c.Database.Keyspace != "" && isIdent(c.Database.Keyspace), "database.keyspace", "must be a CQL identifier"},
		{oneOf(strings.ToUpper(c.Database.Consistency), "QUORUM", "ALL", "LOCAL_QUORUM"), "database.consistency", "must be QUORUM, ALL or LOCAL_QUORUM: a level whose reads see every acknowledged write (ONE, TWO, THREE and LOCAL_ONE do not; EACH_QUORUM cannot read; ANY cannot read)"},
		{!strings.EqualFold(c.Database.Consistency, "LOCAL_QUORUM") || strings.TrimSpace(c.Database.LocalDC) != "", "database.local_dc", "must name the data centre for consistency LOCAL_QUORUM (without it, \"local\" is whichever data centre each call reaches)"},
		{c.Database.ReplicationFactor >= 1, "database.replication_factor", "must be >= 1"},
		{strings.TrimSpace(c.Database.Username) == "" || strings.TrimSpace(c.Database.Password) != "", "database.password", "must be set with database.username (from the environment: IT_DATABASE_PASSWORD)"},
		{c.Database.Password == "" || strings.TrimSpace(c.Database.Username) != "", "database.username", "must be set with database.password"},
		{c.Database.Username == strings.TrimSpace(c.Database.Username), "database.username", blanksMsg},
		{c.Database.Password == strings.TrimSpace(c.Database.Password), "database.password", blanksMsg},
		{c.Backends.Store == "scylla" || c.Database.Username == "" && c.Database.Password == "" && !c.Database.TLS, "database.username", "and database.password and database.tls apply to backends.store: scylla only"},
		{c.Database.Password == "" || c.Database.TLS, "database.tls", "must be true with database.password: the driver sends the password as it is"},
		{c.Database.TLSCAFile == "" || c.Database.TLS, "database.tls_ca_file", "needs database.tls true"},
		{c.Database.TLSCAFile == "" || pemCertificates(c.Database.TLSCAFile), "database.tls_ca_file", "must name a readable file of PEM certificates (ScyllaDB's chain check needs the self-signed root in it)"},
		{c.Database.TLSServerName == "" || c.Database.TLS, "database.tls_server_name", "needs database.tls true"},
		{c.Database.TimeoutMS > 0 && c.Database.TimeoutMS <= msMax, "database.timeout_ms", msRange(1)},
		{c.Database.IdempotencyTTLHours >= 24 && c.Database.IdempotencyTTLHours <= ttlHoursMax, "database.idempotency_ttl_hours", fmt.Sprintf("must be 24..%d (keys are kept at least 24 h; ScyllaDB refuses a TTL over 20 years)", ttlHoursMax)},
		{c.Backends.Ledger != "tigerbeetle" || len(c.TigerBeetle.Addresses) > 0, "tigerbeetle.addresses", "must list at least one replica for backends.ledger: tigerbeetle"},
		{c.TigerBeetle.Concurrency >= 1 && c.TigerBeetle.Concurrency <= 256, "tigerbeetle.concurrency", "must be 1..256"},
		{c.TigerBeetle.TimeoutMS > 0 && c.TigerBeetle.TimeoutMS <= msMax, "tigerbeetle.timeout_ms", msRange(1)},
		{c.Backends.Stream != "kafka" || len(c.Kafka.Brokers) > 0, "kafka.brokers", "must list at least one broker for backends.stream: kafka"},
		{c.Kafka.Topic != "", "kafka.topic", "must not be empty"},
		{c.Kafka.ConsumerGroup != "", "kafka.consumer_group", "must not be empty"},
		{c.Kafka.Partitions >= 1 && c.Kafka.Partitions <= 1024, "kafka.partitions", "must be 1..1024"},
		{c.Kafka.ProducerLingerMS >= 1 && c.Kafka.ProducerLingerMS <= 1000, "kafka.producer_linger_ms", "must be 1..1000"},
		{c.Kafka.SessionTimeoutMS >= 6_000 && c.Kafka.SessionTimeoutMS <= 300_000, "kafka.session_timeout_ms", "must be 6000..300000 (Kafka's group session bounds)"},
		{c.Kafka.HeartbeatIntervalMS >= 100 && 3*c.Kafka.HeartbeatIntervalMS <= c.Kafka.SessionTimeoutMS, "kafka.heartbeat_interval_ms", "must be 100 or more and at most a third of kafka.session_timeout_ms"},
		{oneOf(c.Kafka.SASLMechanism, "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"), "kafka.sasl_mechanism", "must be empty, PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (in any case)"},
		{c.Kafka.SASLMechanism == "" || c.Backends.Stream == "kafka", "kafka.sasl_mechanism", "applies to backends.stream: kafka only (the embedded broker takes no authentication)"},
		{c.Kafka.SASLMechanism == "" || strings.TrimSpace(c.Kafka.SASLUsername) != "", "kafka.sasl_username", "must be set with kafka.sasl_mechanism"},
		{c.Kafka.SASLMechanism == "" || strings.TrimSpace(c.Kafka.SASLPassword) != "", "kafka.sasl_password", "must be set with kafka.sasl_mechanism (from the environment: IT_KAFKA_SASL_PASSWORD)"},
		{c.Kafka.SASLMechanism != "" || c.Kafka.SASLUsername == "", "kafka.sasl_username", "needs kafka.sasl_mechanism"},
		{c.Kafka.SASLUsername == strings.TrimSpace(c.Kafka.SASLUsername), "kafka.sasl_username", blanksMsg},
		{c.Kafka.SASLPassword == strings.TrimSpace(c.Kafka.SASLPassword), "kafka.sasl_password", blanksMsg},
		{c.Kafka.SASLMechanism != "" || c.Kafka.SASLPassword == "", "kafka.sasl_password", "(IT_KAFKA_SASL_PASSWORD) needs kafka.sasl_mechanism"},
		{c.Kafka.SASLMechanism != "PLAIN" || c.Kafka.TLS, "kafka.tls", "must be true with SASL PLAIN, which sends the password as it is"},
		{!c.Kafka.TLS || c.Backends.Stream == "kafka", "kafka.tls", "applies to backends.stream: kafka only (the embedded broker is plaintext on loopback)"},
		{c.Kafka.TLSCAFile == "" || c.Kafka.TLS, "kafka.tls_ca_file", "needs kafka.tls true"},
		{c.Kafka.TLSCAFile == "" || pemCertificates(c.Kafka.TLSCAFile), "kafka.tls_ca_file", "must name a readable file of PEM certificates"},
		{validAddr(c.Kafka.EmbeddedListen), "kafka.embedded_listen", "must be host:port with a port 1..65535"},
		{c.Backends.Stream != "embedded" || !usesPort(c.Kafka.EmbeddedListen, c.Server.AdminPort, c.Monitoring.HealthCheckPort, c.Monitoring.PrometheusPort), "kafka.embedded_listen", "must not use the admin, health or prometheus port"},
		{c.RateLimiting.MaxRequestsPerMinute >= 1, "rate_limiting.max_requests_per_minute", "must be >= 1"},
		{c.RateLimiting.MinTransferAmount >= 1, "rate_limiting.min_transfer_amount", "must be >= 1"},
		{c.RateLimiting.MaxTransferAmount >= c.RateLimiting.MinTransferAmount, "rate_limiting.max_transfer_amount", "must be >= min_transfer_amount"},
		{c.Settlement.ScannerIntervalMS >= 10 && c.Settlement.ScannerIntervalMS <= 60_000, "settlement.scanner_interval_ms", "must be 10..60000 (the SettlementScannerStalled alert pages when no pass completes in 2 minutes)"},
		{c.Settlement.StuckThresholdMS > 0 && c.Settlement.StuckThresholdMS <= msMax, "settlement.stuck_threshold_ms", msRange(1)},
		{c.Settlement.CriticalThresholdMS >= c.Settlement.StuckThresholdMS && c.Settlement.CriticalThresholdMS <= msMax, "settlement.critical_threshold_ms", "must be >= stuck_threshold_ms and " + msRange(1)[5:]},
		{c.Settlement.GraceMS >= 100 && c.Settlement.GraceMS <= msMax, "settlement.grace_ms", msRange(100)},
		{c.Settlement.GraceMS < c.Settlement.StuckThresholdMS, "settlement.grace_ms", "must be less than settlement.stuck_threshold_ms: a request would count as stuck while the scanner may not yet touch it"},
		{validPort(c.Monitoring.PrometheusPort), "monitoring.prometheus_port", "must be 1..65535"},
		{validPort(c.Monitoring.HealthCheckPort), "monitoring.health_check_port", "must be 1..65535"},
		{c.Monitoring.SlowTraceMS >= 0 && c.Monitoring.SlowTraceMS <= msMax, "monitoring.slow_trace_ms", "must be 0 (off) .. " + fmt.Sprint(msMax)},
		{c.Monitoring.PrometheusPort != c.Monitoring.HealthCheckPort && c.Server.AdminPort != c.Monitoring.HealthCheckPort && c.Server.AdminPort != c.Monitoring.PrometheusPort, "server.admin_port", "admin, health and prometheus ports must differ"},
		{oneOf(c.Auth.JWTAlgorithm, "HS256", "EdDSA", "RS256"), "auth.jwt_algorithm", "must be HS256, EdDSA or RS256"},
		{c.Auth.JWTAlgorithm != "HS256" || len(strings.TrimSpace(c.Auth.JWTSecret)) >= 32, "auth.jwt_secret", "must be at least 32 bytes for HS256, not counting blanks around it"},
		{c.Auth.JWTSecret == strings.TrimSpace(c.Auth.JWTSecret), "auth.jwt_secret", "must not begin or end with blanks (a newline left by a secrets file?): tokens signed without them would not verify"},
		{c.Auth.JWTAlgorithm == "HS256" || fileExists(c.Auth.JWTPublicKeyFile), "auth.jwt_public_key_file", "must name a readable PEM file for EdDSA/RS256"},
		{c.Auth.JWTAlgorithm == "HS256" || strings.TrimSpace(c.Auth.JWTAudience) != "", "auth.jwt_audience", "must name this service's audience for EdDSA/RS256: a shared identity provider's tokens for other services (or its other token kinds) would move money otherwise"},
		{len(strings.TrimSpace(c.Auth.AdminToken)) >= 32, "auth.admin_token", "must be at least 32 bytes, not counting blanks around it"},
		{c.Auth.AdminToken == strings.TrimSpace(c.Auth.AdminToken), "auth.admin_token", "must not begin or end with blanks (a newline left by a secrets file?): no request could carry it"},
		{c.Actors.UserMailboxMax >= 1, "actors.user_mailbox_max", "must be >= 1"},
		{c.Actors.UserActorsMax >= 1, "actors.user_actors_max", "must be >= 1"},
		{c.Actors.InFlightMax >= 1, "actors.in_flight_max", "must be >= 1"},
		{c.Actors.UserIdleMS >= 100 && c.Actors.UserIdleMS <= msMax, "actors.user_idle_ms", msRange(100)},
		{c.Actors.RequestTimeoutMS >= 10 && c.Actors.RequestTimeoutMS <= msMax, "actors.request_timeout_ms", msRange(10)},
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

// msMax bounds every *_ms setting (7 days): far above any sane value, and
// far below where the conversion to a time.Duration would wrap (a request
// timeout of 2^64 ns came out as 0.45 ms).
const msMax = 7 * 24 * 3600 * 1000

// ttlHoursMax keeps the idempotency keys' TTL under ScyllaDB's largest (20
// years, 630,720,000 s): the store adds a second to the configured hours.
const ttlHoursMax = 175_199

// mbMax bounds the *_mb settings (16 TiB): far above any machine, and far
// below where the conversion to bytes would wrap (2^44 MiB came out as a
// memory limit of 0, the collector running without pause).
const mbMax = 1 << 24

// blanksMsg refuses a credential with blanks around it: a newline left by a
// secrets file would fail only at connection time, naming no key.
const blanksMsg = "must not begin or end with blanks (a newline left by a secrets file?)"

func msRange(lo int) string { return fmt.Sprintf("must be %d..%d (7 days)", lo, msMax) }

func validPort(p int) bool { return p >= 1 && p <= 65535 }

// validHost: an IP address (or localhost) to listen on.
func validHost(h string) bool { return net.ParseIP(h) != nil || h == "localhost" }

func validAddr(a string) bool {
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		return false
	}
	p, err := strconv.Atoi(port)
	return err == nil && validPort(p)
}

// usesPort reports whether host:port addr listens on one of ports.
func usesPort(addr string, ports ...int) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	p, _ := strconv.Atoi(port)
	for _, q := range ports {
		if p == q {
			return true
		}
	}
	return false
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

// pemCertificates reports whether path is a readable file holding at least
// one PEM certificate.
func pemCertificates(path string) bool {
	data, err := os.ReadFile(path)
	return err == nil && x509.NewCertPool().AppendCertsFromPEM(data)
}

func fileExists(path string) bool {
	if path == "" {
		return false
	}
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}
