package config

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDevConfigLoads(t *testing.T) {
	cfg, err := Load("dev.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Backends != (Backends{"embedded", "embedded", "embedded"}) {
		t.Fatalf("dev backends %+v, want all embedded", cfg.Backends)
	}
	if cfg.Monitoring.HealthCheckPort != 8080 || cfg.Server.AdminPort != 8081 || cfg.Monitoring.PrometheusPort != 9090 {
		t.Fatalf("dev ports %d/%d/%d, want 8080/8081/9090", cfg.Monitoring.HealthCheckPort, cfg.Server.AdminPort, cfg.Monitoring.PrometheusPort)
	}
	c, err := cfg.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	if !c.RouteAllowed("funding", "spot", false) || c.RouteAllowed("funding", "spot", true) {
		t.Fatal("dev routes: funding→spot must be allowed for the same user only")
	}
}

// TestProdConfigValuesTakeEffect loads the guide-shaped production file and
// checks every guide value arrives in the struct the binaries use.
func TestProdConfigValuesTakeEffect(t *testing.T) {
	key := writePublicKey(t, ed25519Public(t))
	cfg, err := Load("internal_transfer_prod.yaml", []string{
		"IT_AUTH_ADMIN_TOKEN=prod-admin-token-from-the-environment-0123",
		"IT_AUTH_JWT_PUBLIC_KEY_FILE=" + key,
	})
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]bool{
		"database.contact_points":               strings.Join(cfg.Database.ContactPoints, ",") == "scylla1.prod.internal:9042,scylla2.prod.internal:9042,scylla3.prod.internal:9042",
		"database.keyspace":                     cfg.Database.Keyspace == "trading",
		"database.consistency":                  cfg.Database.Consistency == "QUORUM",
		"database.replication_factor":           cfg.Database.ReplicationFactor == 3,
		"tigerbeetle.cluster_id":                cfg.TigerBeetle.ClusterID == 1001,
		"tigerbeetle.addresses":                 len(cfg.TigerBeetle.Addresses) == 3 && cfg.TigerBeetle.Addresses[2] == "tb3.prod.internal:3003",
		"tigerbeetle.concurrency":               cfg.TigerBeetle.Concurrency == 32,
		"kafka.brokers":                         len(cfg.Kafka.Brokers) == 3,
		"kafka.topic":                           cfg.Kafka.Topic == "transfer_confirmations",
		"kafka.consumer_group":                  cfg.Kafka.ConsumerGroup == "settlement_service",
		"kafka.session_timeout_ms":              cfg.Kafka.SessionTimeoutMS == 10_000,
		"server.gc_percent":                     cfg.Server.GCPercent == 800,
		"server.memory_limit_mb":                cfg.Server.MemoryLimitMB == 4096,
		"server.gc_start_heap_mb":               cfg.Server.GCStartHeapMB == 768,
		"kafka.heartbeat_interval_ms":           cfg.Kafka.HeartbeatIntervalMS == 1_000,
		"actors.user_actors_max":                cfg.Actors.UserActorsMax == 250_000,
		"rate_limiting.max_requests_per_minute": cfg.RateLimiting.MaxRequestsPerMinute == 60,
		"rate_limiting.max_transfer_amount":     cfg.RateLimiting.MaxTransferAmount == 1_000_000_000_000_000,
		"rate_limiting.min_transfer_amount":     cfg.RateLimiting.MinTransferAmount == 1_000_000,
		"settlement.scanner_interval_ms":        Duration(cfg.Settlement.ScannerIntervalMS) == 5*time.Second,
		"settlement.stuck_threshold_ms":         Duration(cfg.Settlement.StuckThresholdMS) == 30*time.Minute,
		"settlement.critical_threshold_ms":      Duration(cfg.Settlement.CriticalThresholdMS) == 2*time.Hour,
		"monitoring.prometheus_port":            cfg.Monitoring.PrometheusPort == 9090,
		"monitoring.health_check_port":          cfg.Monitoring.HealthCheckPort == 8080,
		"backends":                              cfg.Backends == Backends{"tigerbeetle", "scylla", "kafka"},
		"auth.admin_token (env)":                cfg.Auth.AdminToken == "prod-admin-token-from-the-environment-0123",
	}
	for key, ok := range checks {
		if !ok {
			t.Errorf("%s did not take effect", key)
		}
	}
}

func TestProdConfigNeedsSecretsFromEnvironment(t *testing.T) {
	_, err := Load("internal_transfer_prod.yaml", nil)
	if err == nil || !strings.Contains(err.Error(), "auth.") {
		t.Fatalf("prod config without secrets loaded: %v", err)
	}
}

func TestInvalidConfigNamesTheKey(t *testing.T) {
	cases := map[string]struct{ yaml, key string }{
		"unknown key":     {"server:\n  bogus: 1\n", "bogus"},
		"unknown section": {"nonsense: {}\n", "nonsense"},
		"wrong type":      {"server:\n  admin_port: eighty\n", "admin_port"},
		// Several keys on one line (a flow mapping): the one holding the value.
		"wrong type, flow":      {"server: {admin_port: abc, node_id: 1}\n", "(key server.admin_port)"},
		"wrong type, list":      {"assets:\n  - {name: X, ledger: 4294967296, decimals: 8}\n", "(key assets[0].ledger)"},
		"port range":            {"server:\n  admin_port: 70000\n", "server.admin_port"},
		"negative procs":        {"server:\n  gomaxprocs: -1\n", "server.gomaxprocs"},
		"negative slow trace":   {"monitoring:\n  slow_trace_ms: -5\n", "monitoring.slow_trace_ms"},
		"backend":               {"backends:\n  ledger: sqlite\n", "backends.ledger"},
		"consistency":           {"database:\n  consistency: MOST\n", "database.consistency"},
		"min above max":         {"rate_limiting:\n  min_transfer_amount: 10\n  max_transfer_amount: 5\n", "rate_limiting.max_transfer_amount"},
		"short jwt secret":      {"auth:\n  jwt_secret: short\n", "auth.jwt_secret"},
		"ttl under 24h":         {"database:\n  idempotency_ttl_hours: 1\n", "database.idempotency_ttl_hours"},
		"duplicate ledger":      {"assets:\n  - {name: A, ledger: 1, decimals: 8}\n  - {name: B, ledger: 1, decimals: 8}\n", "assets"},
		"route unknown type":    {"routes:\n  - {from: funding, to: margin}\n", "routes"},
		"scylla without hosts":  {"backends:\n  store: scylla\n", "database.contact_points"},
		"zero linger":           {"kafka:\n  producer_linger_ms: 0\n", "kafka.producer_linger_ms"},
		"session below kafka's": {"kafka:\n  session_timeout_ms: 3000\n", "kafka.session_timeout_ms"},
		"gc percent too low":    {"server:\n  gc_percent: 10\n", "server.gc_percent"},
		"memory limit tiny":     {"server:\n  memory_limit_mb: 100\n", "server.memory_limit_mb"},
		"start heap tiny":       {"server:\n  gc_start_heap_mb: 10\n", "server.gc_start_heap_mb"},
		"start heap over limit": {"server:\n  memory_limit_mb: 512\n  gc_start_heap_mb: 768\n", "server.gc_start_heap_mb"},
		"heartbeat too slow":    {"kafka:\n  session_timeout_ms: 9000\n  heartbeat_interval_ms: 3001\n", "kafka.heartbeat_interval_ms"},
		"no actors allowed":     {"actors:\n  user_actors_max: 0\n", "actors.user_actors_max"},
		// A timeout of 2^64 ns wrapped to 0.45 ms; a TTL this large to 25 minutes.
		"timeout that wraps":         {"actors:\n  request_timeout_ms: 18446744073710\n", "actors.request_timeout_ms"},
		"ttl that wraps":             {"database:\n  idempotency_ttl_hours: 5124096\n", "database.idempotency_ttl_hours"},
		"ttl over scylla's":          {"database:\n  idempotency_ttl_hours: 175200\n", "database.idempotency_ttl_hours"},
		"grace over a week":          {"settlement:\n  grace_ms: 700000000\n", "settlement.grace_ms"},
		"consistency ANY":            {"database:\n  consistency: ANY\n", "database.consistency"},
		"consistency ONE":            {"database:\n  consistency: ONE\n", "database.consistency"},
		"consistency EACH_QUORUM":    {"database:\n  consistency: EACH_QUORUM\n", "database.consistency"},
		"LOCAL_QUORUM, no DC":        {"database:\n  consistency: LOCAL_QUORUM\n", "database.local_dc"},
		"db user, no password":       {"database:\n  username: it\n", "database.password"},
		"db password, no user":       {"database:\n  password: pw\n", "database.username"},
		"db ca without tls":          {"database:\n  tls_ca_file: config/dev.yaml\n", "database.tls_ca_file"},
		"sasl unknown":               {"backends:\n  stream: kafka\nkafka:\n  brokers: [k1:9092]\n  sasl_mechanism: GSSAPI\n", "kafka.sasl_mechanism"},
		"sasl on embedded":           {"kafka:\n  sasl_mechanism: SCRAM-SHA-512\n  sasl_username: u\n  sasl_password: p\n", "kafka.sasl_mechanism"},
		"sasl without user":          {"backends:\n  stream: kafka\nkafka:\n  brokers: [k1:9092]\n  sasl_mechanism: SCRAM-SHA-512\n  sasl_password: p\n", "kafka.sasl_username"},
		"sasl without password":      {"backends:\n  stream: kafka\nkafka:\n  brokers: [k1:9092]\n  sasl_mechanism: SCRAM-SHA-512\n  sasl_username: u\n", "kafka.sasl_password"},
		"sasl user, no mechanism":    {"backends:\n  stream: kafka\nkafka:\n  brokers: [k1:9092]\n  sasl_username: u\n", "kafka.sasl_username"},
		"sasl plain in clear":        {"backends:\n  stream: kafka\nkafka:\n  brokers: [k1:9092]\n  sasl_mechanism: PLAIN\n  sasl_username: u\n  sasl_password: p\n", "kafka.tls"},
		"tls on embedded":            {"kafka:\n  tls: true\n", "kafka.tls"},
		"ca file missing":            {"backends:\n  stream: kafka\nkafka:\n  brokers: [k1:9092]\n  tls: true\n  tls_ca_file: /nonexistent/ca.pem\n", "kafka.tls_ca_file"},
		"broker port text":           {"kafka:\n  embedded_listen: 127.0.0.1:abc\n", "kafka.embedded_listen"},
		"broker port range":          {"kafka:\n  embedded_listen: 127.0.0.1:99999\n", "kafka.embedded_listen"},
		"broker on admin":            {"kafka:\n  embedded_listen: 127.0.0.1:8081\n", "kafka.embedded_listen"},
		"blank jwt secret":           {"auth:\n  jwt_secret: '                                  '\n  admin_token: dev-only-admin-token-0123456789abcdef\n", "auth.jwt_secret"},
		"blank admin token":          {"auth:\n  jwt_secret: dev-only-jwt-secret-0123456789abcdef\n  admin_token: '                                  '\n", "auth.admin_token"},
		"admin token with a newline": {"auth:\n  jwt_secret: dev-only-jwt-secret-0123456789abcdef\n  admin_token: \"dev-only-admin-token-0123456789abcdef\\n\"\n", "auth.admin_token"},
		"jwt secret with a blank":    {"auth:\n  jwt_secret: ' dev-only-jwt-secret-0123456789abcdef'\n  admin_token: dev-only-admin-token-0123456789abcdef\n", "auth.jwt_secret"},
		"asset without decimals":     {"assets:\n  - {name: USDT, ledger: 1}\n", "assets[0].decimals"},
		"asset names by case":        {"assets:\n  - {name: USDT, ledger: 1, decimals: 8}\n  - {name: usdt, ledger: 2, decimals: 8}\n", "assets"},
		"asset name with space":      {"assets:\n  - {name: us dt, ledger: 1, decimals: 8}\n", "assets"},
		"route twice":                {"routes:\n  - {from: funding, to: spot}\n  - {from: funding, to: spot, cross_user: true}\n", "routes"},
		// A blank key would quietly keep its default: a half-edited prod
		// file would start a private embedded ledger beside the real Kafka.
		"admin host":              {"server:\n  admin_bind_address: ops-net\n", "server.admin_bind_address"},
		"metrics host":            {"monitoring:\n  bind_address: 10.0.0\n", "monitoring.bind_address"},
		"blank backend":           {"backends:\n  ledger:\n", "backends.ledger"},
		"null backend":            {"backends:\n  store: ~\n", "backends.store"},
		"null mailbox":            {"actors:\n  user_mailbox_max: null\n", "actors.user_mailbox_max"},
		"blank list":              {"database:\n  contact_points:\n", "database.contact_points"},
		"memory limit that wraps": {"server:\n  memory_limit_mb: 17592186044416\n", "server.memory_limit_mb"},
		"start heap that wraps":   {"server:\n  memory_limit_mb: 0\n  gc_start_heap_mb: 17592186044416\n", "server.gc_start_heap_mb"},
		"scanner too rare":        {"settlement:\n  scanner_interval_ms: 300000\n", "settlement.scanner_interval_ms"},
		"grace past stuck":        {"settlement:\n  grace_ms: 60000\n  stuck_threshold_ms: 60000\n", "settlement.grace_ms"},
		"db user with a blank":    {"backends:\n  store: scylla\ndatabase:\n  contact_points: [s1:9042]\n  tls: true\n  username: 'it '\n  password: pw\n", "database.username"},
		"db password, newline":    {"backends:\n  store: scylla\ndatabase:\n  contact_points: [s1:9042]\n  tls: true\n  username: it\n  password: \"pw\\n\"\n", "database.password"},
		"sasl user with a blank":  {"backends:\n  stream: kafka\nkafka:\n  brokers: [k1:9092]\n  sasl_mechanism: SCRAM-SHA-512\n  sasl_username: ' u'\n  sasl_password: p\n", "kafka.sasl_username"},
		"sasl password, newline":  {"backends:\n  stream: kafka\nkafka:\n  brokers: [k1:9092]\n  sasl_mechanism: SCRAM-SHA-512\n  sasl_username: u\n  sasl_password: \"p\\n\"\n", "kafka.sasl_password"},
	}
	base := "auth:\n  jwt_secret: dev-only-jwt-secret-0123456789abcdef\n  admin_token: dev-only-admin-token-0123456789abcdef\n"
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			raw := c.yaml
			if !strings.Contains(raw, "auth:") {
				raw = base + raw
			}
			_, err := Parse([]byte(raw), nil)
			if err == nil || !strings.Contains(err.Error(), c.key) {
				t.Fatalf("got %v, want an error naming %q", err, c.key)
			}
		})
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	raw, err := os.ReadFile("dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(raw, []string{
		"IT_DATABASE_KEYSPACE=trading2",
		"IT_RATE_LIMITING_MAX_REQUESTS_PER_MINUTE=600",
		"IT_KAFKA_BROKERS=k1:9092, k2:9092",
		"IT_ASSETS=[{name: USDC, ledger: 9, decimals: 6}]",
		"PATH=/usr/bin", // not ours: ignored
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Database.Keyspace != "trading2" || cfg.RateLimiting.MaxRequestsPerMinute != 600 ||
		strings.Join(cfg.Kafka.Brokers, ",") != "k1:9092,k2:9092" || len(cfg.Assets) != 1 || cfg.Assets[0].Decimals != 6 {
		t.Fatalf("overrides did not take effect: %+v %+v %v %v", cfg.Database, cfg.RateLimiting, cfg.Kafka.Brokers, cfg.Assets)
	}
	for _, bad := range []string{"IT_NO_SUCH_KEY=1", "IT_SERVER_ADMIN_PORT=abc", "IT_ASSETS=[{name: X, colour: red}]", "IT_ASSETS=[{name: USDT, ledger: 1}]"} {
		if _, err := Parse(raw, []string{bad}); err == nil || !strings.Contains(err.Error(), strings.SplitN(bad, "=", 2)[0]) {
			t.Errorf("%s: got %v, want an error naming the variable", bad, err)
		}
	}
}

// A boolean means the same in the file and in the environment: every spelling
// either both accept, with the same value, or both refuse.
func TestBooleansReadAlikeInFileAndEnvironment(t *testing.T) {
	raw, err := os.ReadFile("dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const key = "  pprof_enabled: true"
	if !strings.Contains(string(raw), key) {
		t.Fatalf("dev.yaml no longer has %q", key)
	}
	accepted := 0
	for _, v := range []string{"true", "True", "TRUE", "false", "False", "yes", "no", "on", "off",
		"1", "0", "t", "f", "tRUE", "2", "", "[true]", "null", "~", "Null"} {
		fromFile, fileErr := Parse([]byte(strings.Replace(string(raw), key, "  pprof_enabled: "+v, 1)), nil)
		fromEnv, envErr := Parse(raw, []string{"IT_MONITORING_PPROF_ENABLED=" + v})
		if v == "" || v == "null" || v == "~" || v == "Null" { // a YAML null leaves the file's default; a variable is refused
			if envErr == nil {
				t.Errorf("empty variable accepted as %v", fromEnv.Monitoring.PprofEnabled)
			}
			continue
		}
		if (fileErr == nil) != (envErr == nil) {
			t.Errorf("%q: file error %v, environment error %v", v, fileErr, envErr)
			continue
		}
		if fileErr == nil {
			accepted++
			if fromFile.Monitoring.PprofEnabled != fromEnv.Monitoring.PprofEnabled {
				t.Errorf("%q: file reads %v, environment %v", v, fromFile.Monitoring.PprofEnabled, fromEnv.Monitoring.PprofEnabled)
			}
		} else if !strings.Contains(envErr.Error(), "IT_MONITORING_PPROF_ENABLED") {
			t.Errorf("%q: error %v does not name the variable", v, envErr)
		}
	}
	if accepted < 9 {
		t.Errorf("only %d spellings accepted; true/false and their variants must be", accepted)
	}
}

// writePublicKey writes pub as a PKIX "PUBLIC KEY" PEM file and returns its path.
func writePublicKey(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "jwt.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func ed25519Public(t *testing.T) crypto.PublicKey {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// The public key file must hold a key of the configured algorithm: its type
// would otherwise choose the algorithm tokens are checked with.
func TestJWTKeyMustMatchTheAlgorithm(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ed, rs := writePublicKey(t, ed25519Public(t)), writePublicKey(t, &rsaKey.PublicKey)
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		alg, key string
		ok       bool
	}{
		{"EdDSA", ed, true}, {"RS256", rs, true},
		{"EdDSA", rs, false}, {"RS256", ed, false}, {"EdDSA", garbage, false},
	} {
		raw := "auth:\n  jwt_algorithm: " + tc.alg + "\n  jwt_public_key_file: " + tc.key + "\n  jwt_audience: internal-transfer\n  admin_token: dev-only-admin-token-0123456789abcdef\n"
		_, err := Parse([]byte(raw), nil)
		if tc.ok && err != nil {
			t.Errorf("%s with %s: %v", tc.alg, filepath.Base(tc.key), err)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "auth.jwt_public_key_file")) {
			t.Errorf("%s with %s: got %v, want an error naming auth.jwt_public_key_file", tc.alg, tc.key, err)
		}
	}
}

// EdDSA and RS256 are for a shared identity provider, which issues tokens
// for other services too: those must name this service as their audience.
func TestAsymmetricJWTNeedsAnAudience(t *testing.T) {
	raw := "auth:\n  jwt_algorithm: EdDSA\n  jwt_public_key_file: " + writePublicKey(t, ed25519Public(t)) +
		"\n  admin_token: dev-only-admin-token-0123456789abcdef\n"
	if _, err := Parse([]byte(raw), nil); err == nil || !strings.Contains(err.Error(), "auth.jwt_audience") {
		t.Fatalf("EdDSA without an audience: %v, want an error naming auth.jwt_audience", err)
	}
	if _, err := Parse([]byte(raw+"  jwt_audience: internal-transfer\n"), nil); err != nil {
		t.Fatalf("EdDSA with an audience: %v", err)
	}
}

// Numbers yaml.v3 would truncate into an integer key, a second document
// and trailing data are refused, in the file and in IT_* lists alike.
func TestConfigRefusesWhatWouldBeDropped(t *testing.T) {
	base := "auth:\n  jwt_secret: dev-only-jwt-secret-0123456789abcdef\n  admin_token: dev-only-admin-token-0123456789abcdef\n"
	for name, c := range map[string]struct{ yaml, key string }{
		"fraction":        {"rate_limiting:\n  max_requests_per_minute: 60.9\n", "rate_limiting.max_requests_per_minute"},
		"fractional node": {"server:\n  node_id: 1.9\n", "server.node_id"},
		"past 64 bits":    {"rate_limiting:\n  max_transfer_amount: 18446744073709551616\n", "rate_limiting.max_transfer_amount"},
		"exponent":        {"rate_limiting:\n  max_transfer_amount: 1.8446744073709552e19\n", "rate_limiting.max_transfer_amount"},
		"in a list":       {"assets:\n  - {name: USDT, ledger: 1.5, decimals: 8}\n", "assets[0].ledger"},
		"second document": {"server:\n  node_id: 1\n---\nbogus_key: 1\n", "second YAML document"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(base+c.yaml), nil)
			if err == nil || !strings.Contains(err.Error(), c.key) {
				t.Fatalf("got %v, want an error naming %q", err, c.key)
			}
		})
	}
	raw, err := os.ReadFile("dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		"IT_ASSETS=[{name: USDT, ledger: 1, decimals: 8}] extra",
		"IT_ASSETS=[{name: USDT, ledger: 1, decimals: 8}]\n---\n[1]",
		"IT_ASSETS=[{name: USDT, ledger: 1, decimals: 8.5}]",
	} {
		if _, err := Parse(raw, []string{bad}); err == nil || !strings.Contains(err.Error(), "IT_ASSETS") {
			t.Errorf("%q: got %v, want an error naming IT_ASSETS", bad, err)
		}
	}
	for _, whole := range []string{"server:\n  node_id: 2\n", "server:\n  admin_port: 9.091e3\n"} {
		cfg, err := Parse([]byte(base+whole), nil)
		if err != nil {
			t.Fatalf("%q: a whole number refused: %v", whole, err)
		}
		if strings.Contains(whole, "9.091e3") && cfg.Server.AdminPort != 9091 {
			t.Fatalf("admin_port 9.091e3 loaded as %d, want 9091", cfg.Server.AdminPort)
		}
	}
}

// A YAML merge key may supply an asset's required keys.
func TestRequiredKeysFromAMerge(t *testing.T) {
	raw := "auth:\n  jwt_secret: dev-only-jwt-secret-0123456789abcdef\n  admin_token: dev-only-admin-token-0123456789abcdef\n" +
		"assets:\n  - &base {name: USDT, ledger: 1, decimals: 8}\n  - {<<: *base, name: XRP, ledger: 9}\n"
	cfg, err := Parse([]byte(raw), nil)
	if err != nil {
		t.Fatalf("merged asset refused: %v", err)
	}
	if len(cfg.Assets) != 2 || cfg.Assets[1].Decimals != 8 || cfg.Assets[1].Name != "XRP" {
		t.Fatalf("assets %+v", cfg.Assets)
	}
}

// A production cluster behind SCRAM and TLS is configured from the
// environment, the password with the other secrets.
func TestKafkaSecurityFromEnvironment(t *testing.T) {
	key := writePublicKey(t, ed25519Public(t))
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, selfSignedPEM(t), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load("internal_transfer_prod.yaml", []string{
		"IT_AUTH_ADMIN_TOKEN=prod-admin-token-from-the-environment-0123",
		"IT_AUTH_JWT_PUBLIC_KEY_FILE=" + key,
		"IT_KAFKA_SASL_MECHANISM=scram-sha-512", "IT_KAFKA_SASL_USERNAME=internal-transfer",
		"IT_KAFKA_SASL_PASSWORD=from-the-environment", "IT_KAFKA_TLS=true", "IT_KAFKA_TLS_CA_FILE=" + ca,
	})
	if err != nil {
		t.Fatal(err)
	}
	k := cfg.Kafka
	if k.SASLMechanism != "SCRAM-SHA-512" || k.SASLUsername != "internal-transfer" || k.SASLPassword != "from-the-environment" ||
		!k.TLS || k.TLSCAFile != ca {
		t.Fatalf("kafka security = %+v", k)
	}
}

// The TLS and credential rules of the database and kafka sections, with the
// reason each refusal gives.
func TestSecuritySettingsRefused(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, selfSignedPEM(t), 0o600); err != nil {
		t.Fatal(err)
	}
	scylla := "backends:\n  store: scylla\ndatabase:\n  contact_points: [s1:9042]\n"
	kafka := "backends:\n  stream: kafka\nkafka:\n  brokers: [k1:9092]\n"
	for name, c := range map[string]struct{ yaml, want string }{
		"db password in clear":      {scylla + "  username: it\n  password: pw\n", "database.tls must be true with database.password"},
		"db ca file without tls":    {scylla + "  tls_ca_file: " + ca + "\n", "database.tls_ca_file needs database.tls true"},
		"db ca file not pem":        {scylla + "  tls: true\n  tls_ca_file: " + garbage + "\n", "database.tls_ca_file must name a readable file of PEM certificates"},
		"db server name, no tls":    {scylla + "  tls_server_name: scylla.prod.internal\n", "database.tls_server_name needs database.tls true"},
		"db credentials, embedded":  {"database:\n  tls: true\n", "database.username and database.password and database.tls apply to backends.store: scylla only"},
		"kafka ca file without tls": {kafka + "  tls_ca_file: " + ca + "\n", "kafka.tls_ca_file needs kafka.tls true"},
		"kafka ca file not pem":     {kafka + "  tls: true\n  tls_ca_file: " + garbage + "\n", "kafka.tls_ca_file must name a readable file of PEM certificates"},
		"kafka password alone":      {kafka + "  sasl_password: pw\n", "kafka.sasl_password (IT_KAFKA_SASL_PASSWORD) needs kafka.sasl_mechanism"},
		"mechanism by unicode case": {kafka + "  sasl_mechanism: pla\u0131n\n  sasl_username: u\n  sasl_password: p\n", "kafka.sasl_mechanism must be"},
		"plain in lower case":       {kafka + "  sasl_mechanism: plain\n  sasl_username: u\n  sasl_password: p\n", "kafka.tls must be true with SASL PLAIN"},
	} {
		t.Run(name, func(t *testing.T) {
			raw := "auth:\n  jwt_secret: dev-only-jwt-secret-0123456789abcdef\n  admin_token: dev-only-admin-token-0123456789abcdef\n" + c.yaml
			if _, err := Parse([]byte(raw), nil); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
	ok := "auth:\n  jwt_secret: dev-only-jwt-secret-0123456789abcdef\n  admin_token: dev-only-admin-token-0123456789abcdef\n" +
		"backends:\n  store: scylla\n  stream: kafka\n" +
		"database:\n  contact_points: [s1:9042]\n  username: it\n  password: pw\n  tls: true\n  tls_ca_file: " + ca + "\n  tls_server_name: scylla.prod.internal\n" +
		"kafka:\n  brokers: [k1:9092]\n  sasl_mechanism: scram-sha-512\n  sasl_username: u\n  sasl_password: p\n  tls: true\n  tls_ca_file: " + ca + "\n"
	if _, err := Parse([]byte(ok), nil); err != nil {
		t.Fatalf("a cluster with credentials and TLS on both: %v", err)
	}
	// The embedded broker's address is not used with a Kafka cluster, so
	// it may name a port the service's listeners use.
	if _, err := Parse([]byte(ok+"  embedded_listen: 127.0.0.1:8081\n"), nil); err != nil {
		t.Fatalf("embedded_listen on the admin port with backends.stream: kafka: %v", err)
	}
}

// selfSignedPEM is a PEM certificate, for CA-file settings.
func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
