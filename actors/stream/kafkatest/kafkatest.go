// Package kafkatest holds what the Kafka-facing test suites share to run
// unchanged against an external Kafka or Redpanda cluster: KAFKA_BROKERS
// names it (comma-separated host:port; unset means the embedded broker),
// KAFKA_REPLICATION the replication factor of the throwaway test topics
// (default: the cluster's default.replication.factor, so a cluster whose
// min.insync.replicas is above 1 accepts the tests' acks=all produces).
// A cluster that requires authentication or TLS takes KAFKA_SASL_MECHANISM
// (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), KAFKA_SASL_USERNAME,
// KAFKA_SASL_PASSWORD, KAFKA_TLS=1 and KAFKA_TLS_CA_FILE, used by every
// client the suites make. Run them so:
//
//	KAFKA_BROKERS=127.0.0.1:9092 go test ./actors/settlement/ ./actors/stream/
package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/exchange/internal-transfer/actors/stream/kafkasec"
)

// Environment variables and waits.
const (
	EnvBrokers     = "KAFKA_BROKERS"
	EnvReplication = "KAFKA_REPLICATION"
	AdminWaitMax   = 30 * time.Second // topic creation until every partition has a leader
	AdminRetry     = 100 * time.Millisecond
)

// ExternalBrokers returns the brokers of KAFKA_BROKERS, nil when unset.
func ExternalBrokers() []string {
	var out []string
	for _, b := range strings.Split(os.Getenv(EnvBrokers), ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// SecurityFor is the external cluster's SASL and TLS from the environment
// for a client of brokers: zero unless they are the external cluster's
// (without KAFKA_BROKERS, or for a broker a test runs of its own beside it).
func SecurityFor(brokers []string) kafkasec.Security {
	external := ExternalBrokers()
	if len(external) == 0 || strings.Join(brokers, ",") != strings.Join(external, ",") {
		return kafkasec.Security{}
	}
	return kafkasec.Security{
		SASLMechanism: strings.ToUpper(os.Getenv("KAFKA_SASL_MECHANISM")),
		Username:      os.Getenv("KAFKA_SASL_USERNAME"),
		Password:      os.Getenv("KAFKA_SASL_PASSWORD"),
		TLS:           os.Getenv("KAFKA_TLS") == "1",
		TLSCAFile:     os.Getenv("KAFKA_TLS_CA_FILE"),
	}
}

// NoSecurityEnv clears the KAFKA_SASL_* and KAFKA_TLS* variables, for a
// child test process pointed at a broker of its own that takes neither.
var NoSecurityEnv = []string{"KAFKA_SASL_MECHANISM=", "KAFKA_SASL_USERNAME=", "KAFKA_SASL_PASSWORD=", "KAFKA_TLS=", "KAFKA_TLS_CA_FILE="}

// ClientOpts are the kgo options of SecurityFor(brokers), for a test's own
// clients (admin, readers); seed brokers are the caller's.
func ClientOpts(t testing.TB, brokers []string) []kgo.Opt {
	t.Helper()
	opts, err := SecurityFor(brokers).Options()
	if err != nil {
		t.Fatalf("KAFKA_SASL_*/KAFKA_TLS*: %v", err)
	}
	return opts
}

// SkipIfExternal skips a test that needs control of the broker process.
func SkipIfExternal(t testing.TB, why string) {
	t.Helper()
	if len(ExternalBrokers()) > 0 {
		t.Skip("KAFKA_BROKERS set: " + why + "; it runs against the embedded broker only")
	}
}

// RandomSuffix names a throwaway topic or group.
func RandomSuffix(t testing.TB) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// ReplicationFactor is KAFKA_REPLICATION, default -1: the cluster's own
// default.replication.factor.
func ReplicationFactor(t testing.TB) int16 {
	v := os.Getenv(EnvReplication)
	if v == "" {
		return -1
	}
	n, err := strconv.ParseInt(v, 10, 16)
	if err != nil || (n < 1 && n != -1) {
		t.Fatalf("%s=%q: want a positive replication factor, or -1 for the cluster's default", EnvReplication, v)
	}
	return int16(n)
}

// CreateTopic creates topic with partitions and waits, up to AdminWaitMax,
// until every partition has a leader.
func CreateTopic(t testing.TB, adm *kadm.Client, topic string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), AdminWaitMax)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, partitions, ReplicationFactor(t), nil, topic); err != nil {
		t.Fatalf("cannot create topic %s: %v", topic, err)
	}
	for !TopicReady(ctx, adm, topic, partitions) {
		select {
		case <-ctx.Done():
			t.Fatalf("topic %s has no leader for all %d partitions after %v", topic, partitions, AdminWaitMax)
		case <-time.After(AdminRetry):
		}
	}
}

// TopicReady reports whether topic has partitions partitions, each with a
// leader.
func TopicReady(ctx context.Context, adm *kadm.Client, topic string, partitions int32) bool {
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
