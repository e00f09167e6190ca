// How the stream tests reach Kafka.
//
// By default each test starts its own embedded broker (kfake over TCP). With
// KAFKA_BROKERS set (comma-separated host:port) the producer round trips
// run, unchanged, against that Kafka or Redpanda cluster instead, each on a
// topic "confirmations-<random>" of its own created with kadm (replication
// factor 1, or KAFKA_REPLICATION) and deleted when the test ends:
//
//	KAFKA_BROKERS=127.0.0.1:9092 go test ./actors/settlement/ ./actors/stream/
//
// Tests of the embedded broker itself (restart, partitions growing, the
// broker going down, kcat against it) skip then. TestExternalBrokerPath
// proves this path on every default run by pointing a child test process at
// a kfake cluster of its own.

package stream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Environment of a run against an external Kafka or Redpanda cluster.
const (
	envBrokers     = "KAFKA_BROKERS"     // comma-separated host:port; unset runs the embedded broker
	envReplication = "KAFKA_REPLICATION" // replication factor of the test topics; default 1
	adminWaitMax   = 30 * time.Second    // topic creation until every partition has a leader
	cleanupWaitMax = 15 * time.Second    // deleting a test's topic
	adminRetry     = 100 * time.Millisecond
)

// externalBrokers returns the brokers of KAFKA_BROKERS, nil when unset.
func externalBrokers() []string {
	var out []string
	for _, b := range strings.Split(os.Getenv(envBrokers), ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// skipIfExternal skips a test that needs control of the broker process.
func skipIfExternal(t testing.TB) {
	t.Helper()
	if len(externalBrokers()) > 0 {
		t.Skip("KAFKA_BROKERS set: this test controls the embedded broker itself; it runs against kfake only")
	}
}

// testCluster returns seed brokers and a fresh topic of partitions, both
// gone at the end of the test: on KAFKA_BROKERS when set, else on an
// embedded broker of the test's own.
func testCluster(t testing.TB, partitions int32) (brokers []string, topic string) {
	t.Helper()
	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		t.Fatal(err)
	}
	topic = "confirmations-" + hex.EncodeToString(suffix[:])
	if brokers = externalBrokers(); len(brokers) == 0 {
		b, err := StartEmbedded(EmbeddedOptions{ListenAddr: "127.0.0.1:0", Topic: topic, Partitions: partitions})
		if err != nil {
			t.Fatalf("StartEmbedded: %v", err)
		}
		t.Cleanup(b.Close)
		return b.Addrs(), topic
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatalf("admin client: %v", err)
	}
	adm := kadm.NewClient(cl)
	t.Cleanup(adm.Close)
	t.Cleanup(func() { deleteTopic(t, adm, topic) }) // also if creation fails half-way
	createTopic(t, adm, topic, partitions)
	t.Logf("external Kafka %v: topic %s (%d partitions)", brokers, topic, partitions)
	return brokers, topic
}

// createTopic creates topic and waits until every partition has a leader.
func createTopic(t testing.TB, adm *kadm.Client, topic string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), adminWaitMax)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, partitions, replicationFactor(t), nil, topic); err != nil {
		t.Fatalf("cannot create topic %s: %v", topic, err)
	}
	for !topicReady(ctx, adm, topic, partitions) {
		select {
		case <-ctx.Done():
			t.Fatalf("topic %s has no leader for all %d partitions after %v", topic, partitions, adminWaitMax)
		case <-time.After(adminRetry):
		}
	}
}

func topicReady(ctx context.Context, adm *kadm.Client, topic string, partitions int32) bool {
	details, err := adm.ListTopics(ctx, topic)
	if err != nil || !details.Has(topic) || details[topic].Err != nil {
		return false
	}
	parts := details[topic].Partitions
	if int32(len(parts)) != partitions {
		return false
	}
	for _, p := range parts {
		if p.Err != nil || p.Leader < 0 {
			return false
		}
	}
	return true
}

// deleteTopic deletes topic, retrying retriable errors until cleanupWaitMax.
func deleteTopic(t testing.TB, adm *kadm.Client, topic string) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupWaitMax)
	defer cancel()
	for {
		_, err := adm.DeleteTopic(ctx, topic)
		if err == nil || errors.Is(err, kerr.UnknownTopicOrPartition) {
			return
		}
		if !kerr.IsRetriable(err) || ctx.Err() != nil {
			t.Errorf("cannot delete topic %s: %v", topic, err)
			return
		}
		time.Sleep(adminRetry)
	}
}

func replicationFactor(t testing.TB) int16 {
	v := os.Getenv(envReplication)
	if v == "" {
		return 1
	}
	n, err := strconv.ParseInt(v, 10, 16)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive replication factor", envReplication, v)
	}
	return int16(n)
}
