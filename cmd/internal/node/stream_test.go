package node_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/actors/stream"
	"github.com/exchange/internal-transfer/cmd/internal/node"
	"github.com/exchange/internal-transfer/config"
)

// With backends.stream: kafka the node needs the confirmation topic: a
// cluster without it stops the start, and /ready fails once the cluster is
// gone.
func TestKafkaTopicIsRequiredAndReadyChecksIt(t *testing.T) {
	broker, err := stream.StartEmbedded(stream.EmbeddedOptions{ListenAddr: "127.0.0.1:0", Topic: "other_topic", Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	cfg := testConfig(t.TempDir())
	cfg.Backends.Stream = "kafka"
	cfg.Kafka.Brokers = broker.Addrs()
	cfg.Kafka.Topic = "transfer_confirmations_missing"
	if n, _, err := startNode(cfg); err == nil {
		_ = n.Stop()
		t.Fatal("the node started without its topic on the cluster")
	} else if !strings.Contains(err.Error(), "transfer_confirmations_missing") {
		t.Fatalf("start error %q does not name the missing topic", err)
	}

	cfg = testConfig(t.TempDir())
	cfg.Backends.Stream = "kafka"
	cfg.Kafka.Brokers = broker.Addrs()
	cfg.Kafka.Topic = "other_topic"
	s := start(t, cfg)
	ready := func() (int, string) {
		resp, err := s.http.Get(s.api("/ready"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := ready(); code != http.StatusOK {
		t.Fatalf("/ready with the cluster up: %d %s", code, body)
	}
	// The ledger and the store are embedded and stay up: only the stream
	// can make /ready fail now (its cause is logged, not shown).
	broker.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := ready()
		if code == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/ready with the cluster gone: %d %s, want 503", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// With the cluster gone the stop cannot leave the consumer group
	// (whether it had joined decides if that is an error): stop here and
	// accept it, rather than in the cleanup, which reports it.
	n := s.node
	s.node = nil
	if err := n.Stop(); err != nil {
		t.Logf("stop with the cluster gone: %v", err)
	}
}

// Both Kafka clients of a node take the kafka section's SASL and TLS.
func TestKafkaSecurityFromConfig(t *testing.T) {
	cfg := &config.Config{Kafka: config.Kafka{SASLMechanism: "SCRAM-SHA-256", SASLUsername: "u", SASLPassword: "p",
		TLS: true, TLSCAFile: "/etc/kafka/ca.pem"}}
	want := stream.Security{SASLMechanism: "SCRAM-SHA-256", Username: "u", Password: "p", TLS: true, TLSCAFile: "/etc/kafka/ca.pem"}
	if got := node.KafkaSecurity(cfg); got != want {
		t.Fatalf("KafkaSecurity = %+v, want %+v", got, want)
	}
}

// The ScyllaDB store gets every database setting, credentials and TLS too.
func TestScyllaOptionsFromConfig(t *testing.T) {
	cfg := &config.Config{Database: config.Database{ContactPoints: []string{"s1:9042"}, Keyspace: "trading",
		Consistency: "LOCAL_QUORUM", LocalDC: "dc1", Username: "it", Password: "pw", TLS: true,
		TLSCAFile: "/etc/scylla/ca.pem", TimeoutMS: 2000, IdempotencyTTLHours: 48}}
	o := node.ScyllaOptions(cfg)
	if strings.Join(o.Hosts, ",") != "s1:9042" || o.Keyspace != "trading" || o.Consistency != "LOCAL_QUORUM" ||
		o.LocalDC != "dc1" || o.Username != "it" || o.Password != "pw" || !o.TLS || o.TLSCAFile != "/etc/scylla/ca.pem" ||
		o.Timeout != 2*time.Second || o.IdempotencyTTL != 48*time.Hour {
		t.Fatalf("ScyllaOptions = %+v", o)
	}
}
