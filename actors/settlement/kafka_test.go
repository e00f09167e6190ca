package settlement

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
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
	cleanupWaitMax = 15 * time.Second    // deleting an env's group and topic
	adminRetry     = 100 * time.Millisecond

	// kafkaMinSessionTimeout is Kafka's default group.min.session.timeout.ms.
	kafkaMinSessionTimeout = 6 * time.Second
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

// skipIfExternal skips a test that must stop or restart the broker itself.
func skipIfExternal(t testing.TB) {
	t.Helper()
	if len(externalBrokers()) > 0 {
		t.Skip("KAFKA_BROKERS set: this test restarts the broker; it runs against the embedded broker only")
	}
}

func randomSuffix(t testing.TB) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
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

// admin returns a kadm client on the env's brokers, closed at cleanup.
func (e *env) admin() *kadm.Client {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...))
	if err != nil {
		e.t.Fatalf("admin client: %v", err)
	}
	return kadm.NewClient(cl)
}

// createTopic creates the env's topic on the external cluster and waits
// until every partition has a leader.
func (e *env) createTopic(partitions int32) {
	e.t.Helper()
	adm := e.admin()
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), adminWaitMax)
	defer cancel()
	rf := replicationFactor(e.t)
	if _, err := adm.CreateTopic(ctx, partitions, rf, nil, e.topic); err != nil {
		e.t.Fatalf("cannot create topic %s on %v: %v", e.topic, e.brokers, err)
	}
	for {
		if topicReady(ctx, adm, e.topic, partitions) {
			break
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("topic %s has no leader for all %d partitions after %v", e.topic, partitions, adminWaitMax)
		case <-time.After(adminRetry):
		}
	}
	e.t.Logf("external Kafka %v: topic %s (%d partitions, replication %d), group %s",
		e.brokers, e.topic, partitions, rf, e.group)
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

// deleteTopicAndGroup removes what createTopic and the env's consumers
// made. A static member (the crash tests') stays in the group after its
// close or crash until its session times out, so it is removed by its
// instance id first; a group still not empty is retried until
// cleanupWaitMax.
func (e *env) deleteTopicAndGroup() {
	adm := e.admin()
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), cleanupWaitMax)
	defer cancel()
	if err := retryAdmin(ctx, func() error {
		_, err := adm.DeleteGroup(ctx, e.group)
		switch {
		case errors.Is(err, kerr.GroupIDNotFound):
			return nil // no consumer ever joined
		case errors.Is(err, kerr.NonEmptyGroup):
			removeStaticMembers(ctx, adm, e.group)
		}
		return err
	}); err != nil {
		e.t.Errorf("cannot delete group %s: %v", e.group, err)
	}
	if err := retryAdmin(ctx, func() error {
		_, err := adm.DeleteTopic(ctx, e.topic)
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return nil
		}
		return err
	}); err != nil {
		e.t.Errorf("cannot delete topic %s: %v", e.topic, err)
	}
}

// removeStaticMembers makes the group's static members leave; errors are
// left to the caller's retry of the delete.
func removeStaticMembers(ctx context.Context, adm *kadm.Client, group string) {
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return
	}
	var ids []string
	for _, m := range described[group].Members {
		if m.InstanceID != nil {
			ids = append(ids, *m.InstanceID)
		}
	}
	if len(ids) > 0 {
		_, _ = adm.LeaveGroup(ctx, kadm.LeaveGroup(group).InstanceIDs(ids...).Reason("test cleanup"))
	}
}

// retryAdmin calls fn until it succeeds, fails for good, or ctx ends.
func retryAdmin(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if !errors.Is(err, kerr.NonEmptyGroup) && !kerr.IsRetriable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
		case <-time.After(adminRetry):
		}
	}
}
