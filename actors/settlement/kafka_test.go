package settlement

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/actors/stream/kafkatest"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Environment of a run against an external Kafka or Redpanda cluster.
const (
	cleanupWaitMax = 15 * time.Second // deleting an env's group and topic

	// kafkaMinSessionTimeout is Kafka's default group.min.session.timeout.ms.
	kafkaMinSessionTimeout = 6 * time.Second
)

func externalBrokers() []string { return kafkatest.ExternalBrokers() }

// skipIfExternal skips a test that must stop or restart the broker itself.
func skipIfExternal(t testing.TB) {
	t.Helper()
	kafkatest.SkipIfExternal(t, "this test restarts the broker")
}

func randomSuffix(t testing.TB) string { return kafkatest.RandomSuffix(t) }

// admin returns a kadm client on the env's brokers, closed at cleanup.
func (e *env) admin() *kadm.Client {
	e.t.Helper()
	cl, err := kgo.NewClient(append(kafkatest.ClientOpts(e.t, e.brokers), kgo.SeedBrokers(e.brokers...))...)
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
	kafkatest.CreateTopic(e.t, adm, e.topic, partitions)
	e.t.Logf("external Kafka %v: topic %s (%d partitions, replication %d), group %s",
		e.brokers, e.topic, partitions, kafkatest.ReplicationFactor(e.t), e.group)
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
		case <-time.After(kafkatest.AdminRetry):
		}
	}
}
