// How the stream tests reach Kafka.
//
// By default each test starts its own embedded broker (kfake over TCP). With
// KAFKA_BROKERS set (comma-separated host:port) the producer round trips
// run, unchanged, against that Kafka or Redpanda cluster instead, each on a
// topic "confirmations-<random>" of its own created with kadm (the
// cluster's default replication factor, or KAFKA_REPLICATION) and deleted when the test ends:
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
	"errors"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/actors/stream/kafkatest"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// cleanupWaitMax bounds deleting a test's topic.
const cleanupWaitMax = 15 * time.Second

func externalBrokers() []string { return kafkatest.ExternalBrokers() }

// skipIfExternal skips a test that needs control of the broker process.
func skipIfExternal(t testing.TB) {
	t.Helper()
	kafkatest.SkipIfExternal(t, "this test controls the embedded broker itself")
}

// testCluster returns seed brokers and a fresh topic of partitions, both
// gone at the end of the test: on KAFKA_BROKERS when set, else on an
// embedded broker of the test's own.
func testCluster(t testing.TB, partitions int32) (brokers []string, topic string) {
	t.Helper()
	topic = "confirmations-" + kafkatest.RandomSuffix(t)
	if brokers = externalBrokers(); len(brokers) == 0 {
		b, err := StartEmbedded(EmbeddedOptions{ListenAddr: "127.0.0.1:0", Topic: topic, Partitions: partitions})
		if err != nil {
			t.Fatalf("StartEmbedded: %v", err)
		}
		t.Cleanup(b.Close)
		return b.Addrs(), topic
	}
	cl, err := kgo.NewClient(append(kafkatest.ClientOpts(t, brokers), kgo.SeedBrokers(brokers...))...)
	if err != nil {
		t.Fatalf("admin client: %v", err)
	}
	adm := kadm.NewClient(cl)
	t.Cleanup(adm.Close)
	t.Cleanup(func() { deleteTopic(t, adm, topic) }) // also if creation fails half-way
	kafkatest.CreateTopic(t, adm, topic, partitions)
	t.Logf("external Kafka %v: topic %s (%d partitions)", brokers, topic, partitions)
	return brokers, topic
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
		time.Sleep(kafkatest.AdminRetry)
	}
}
