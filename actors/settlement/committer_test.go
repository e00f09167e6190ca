package settlement

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A partition actor that finishes a record after its partition was flushed
// at revocation leaves no mark behind: nothing would ever commit or forget
// it. (That the flush commits the marks made before it needs a store and a
// broker, and is not checked here; TestRebalance runs revocations end to
// end, where a mark lost would show only as idempotent replays.)
func TestNoMarksAfterAFlush(t *testing.T) {
	c := &consumer{parts: map[int32]*partition{}}
	m := newCommitter(c)
	p := newPartition("t", 0)
	m.mark(p, &kgo.Record{Offset: 1})
	m.mu.Lock()
	before := m.marked[p]
	m.mu.Unlock()
	if before == nil || before.Offset != 1 {
		t.Fatalf("mark before the flush: %v, want offset 1", before)
	}
	m.mu.Lock()
	delete(m.marked, p) // as a commit takes it (this consumer has no store or broker to commit to)
	m.mu.Unlock()
	m.flush([]*partition{p})
	m.mark(p, &kgo.Record{Offset: 2})
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.marked) != 0 {
		t.Fatalf("marks after the flush: %v, want none", m.marked)
	}
}

// A late actor of a revoked partition must not resume fetching for the
// partition's new actor, which paused it on a full queue.
func TestRevokedPartitionDoesNotResumeItsSuccessor(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"), kgo.ConsumeTopics("t"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c := &consumer{opts: ConsumerOptions{PartitionQueueMax: 10}, client: cl, parts: map[int32]*partition{}}
	old, successor := newPartition("t", 3), newPartition("t", 3)
	old.paused, successor.paused = true, true
	c.parts[3] = successor
	cl.PauseFetchPartitions(map[string][]int32{"t": {3}})
	c.finished(old, 0)
	if paused := cl.PauseFetchPartitions(nil); len(paused["t"]) != 1 {
		t.Fatalf("paused after the revoked partition's actor finished: %v, want partition 3 still paused", paused)
	}
	c.finished(successor, 0)
	if paused := cl.PauseFetchPartitions(nil); len(paused["t"]) != 0 || successor.paused {
		t.Fatalf("paused after the assigned partition drained: %v (marked %v), want none", paused, successor.paused)
	}
}
