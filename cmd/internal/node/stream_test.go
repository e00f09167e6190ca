package node_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

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
		TLSCAFile: "/etc/scylla/ca.pem", TLSServerName: "scylla.prod.internal", TimeoutMS: 2000, IdempotencyTTLHours: 48}}
	o := node.ScyllaOptions(cfg)
	if strings.Join(o.Hosts, ",") != "s1:9042" || o.Keyspace != "trading" || o.Consistency != "LOCAL_QUORUM" ||
		o.LocalDC != "dc1" || o.Username != "it" || o.Password != "pw" || !o.TLS || o.TLSCAFile != "/etc/scylla/ca.pem" ||
		o.TLSServerName != "scylla.prod.internal" ||
		o.Timeout != 2*time.Second || o.IdempotencyTTL != 48*time.Hour {
		t.Fatalf("ScyllaOptions = %+v", o)
	}
}

// A node on a Kafka cluster that requires SCRAM starts with the right
// password, its producer and its settlement consumer both authenticated,
// and not with a wrong one.
func TestNodeAuthenticatesToKafka(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "transfer_confirmations"),
		kfake.EnableSASL(), kfake.Superuser(stream.SASLScramSHA512, "internal-transfer", "s3cret-password"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	for _, tc := range []struct {
		password string
		ok       bool
	}{{"guess", false}, {"s3cret-password", true}} {
		cfg := testConfig(t.TempDir())
		cfg.Backends.Stream = "kafka"
		cfg.Kafka.Brokers = c.ListenAddrs()
		cfg.Kafka.Topic = "transfer_confirmations"
		cfg.Kafka.SASLMechanism, cfg.Kafka.SASLUsername, cfg.Kafka.SASLPassword = "SCRAM-SHA-512", "internal-transfer", tc.password
		if !node.InProcess(cfg) {
			t.Fatal("setup: the node must run settlement in-process, so its consumer starts too")
		}
		n, _, err := startNode(cfg)
		if (err == nil) != tc.ok {
			t.Fatalf("password %q: start error %v, want success %v", tc.password, err, tc.ok)
		}
		if err == nil {
			if err := n.Stop(); err != nil {
				t.Errorf("stop: %v", err)
			}
		}
	}
}

// firstByteListener accepts connections and records the first byte of
// each: 0x16 opens a TLS handshake, a CQL frame opens with its version.
func firstByteListener(t *testing.T) (addr string, first <-chan byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan byte, 64)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				var b [1]byte
				if _, err := conn.Read(b[:]); err == nil {
					select {
					case ch <- b[0]:
					default:
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), ch
}

// With database.tls the store dials its nodes over TLS: the first byte a
// node sees is a TLS handshake record, not a CQL frame.
func TestNodeDialsScyllaOverTLS(t *testing.T) {
	for _, tls := range []bool{false, true} {
		addr, first := firstByteListener(t)
		cfg := testConfig(t.TempDir())
		cfg.Backends.Store = "scylla"
		cfg.Database.ContactPoints = []string{addr}
		cfg.Database.TLS = tls
		cfg.Database.TimeoutMS = 500
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		b, err := node.OpenBackends(ctx, cfg)
		cancel()
		if err == nil {
			b.Close()
			t.Fatal("opened a store on a listener that is no ScyllaDB")
		}
		select {
		case got := <-first:
			if isTLS := got == 0x16; isTLS != tls {
				t.Fatalf("database.tls %v: first byte %#x (TLS handshake: %v)", tls, got, isTLS)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("database.tls %v: the store never dialled the node", tls)
		}
	}
}
