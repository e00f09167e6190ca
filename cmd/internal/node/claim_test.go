package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/config"
	"github.com/exchange/internal-transfer/store"
	storeembedded "github.com/exchange/internal-transfer/store/embedded"
)

// claimNode is a node with only what claimNodeID uses: its config's node
// id, the store and the failure channel.
func claimNode(st store.Store, id int) *Node {
	cfg := &config.Config{}
	cfg.Server.NodeID = id
	return &Node{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil)), store: st, failed: make(chan error, 4)}
}

func claimStore(t *testing.T) store.Store {
	t.Helper()
	st, err := storeembedded.Open(storeembedded.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// failure waits up to wait for n to report a failure; nil if none came.
func failure(n *Node, wait time.Duration) error {
	select {
	case err := <-n.Failed():
		return err
	default:
	}
	select {
	case err := <-n.Failed():
		return err
	case <-time.After(wait):
		return nil
	}
}

// A second node started with the id a running node holds waits for the
// claim to lapse, then fails naming the setting and the holder; a node that
// stopped released its id; a crashed one's lapses.
func TestNodeIDClaim(t *testing.T) {
	st := claimStore(t)
	ctx := context.Background()

	a := claimNode(st, 7)
	if err := a.claimNodeID(ctx, "host-a", 2*time.Second, 300*time.Millisecond); err != nil {
		t.Fatalf("first claim: %v", err)
	}
	start := time.Now()
	err := claimNode(st, 7).claimNodeID(ctx, "host-b", 2*time.Second, 300*time.Millisecond)
	if !errors.Is(err, store.ErrNodeClaimed) || !strings.Contains(err.Error(), "server.node_id 7") || !strings.Contains(err.Error(), "host-a") {
		t.Fatalf("second node with the same id: %v; want ErrNodeClaimed naming server.node_id 7 and its holder", err)
	}
	if waited := time.Since(start); waited < 2*time.Second {
		t.Fatalf("refused after %s, before a crashed holder's claim could lapse", waited)
	}
	if err := failure(a, 0); err != nil {
		t.Fatalf("the holder failed: %v", err)
	}
	if err := claimNode(st, 8).claimNodeID(ctx, "host-b", time.Minute, time.Hour); err != nil {
		t.Fatalf("another id: %v", err)
	}

	// A stopped node released its id: the next takes it at once.
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	next := claimNode(st, 7)
	if err := next.claimNodeID(ctx, "host-c", time.Minute, time.Hour); err != nil || time.Since(start) > 10*time.Second {
		t.Fatalf("claim after the holder stopped: %v after %s", err, time.Since(start))
	}
	if err := next.Stop(); err != nil {
		t.Fatal(err)
	}

	// A crashed node never released: its claim lapses, then the id is taken.
	if _, err := st.ClaimNode(ctx, 7, "crashed", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	after := claimNode(st, 7)
	if err := after.claimNodeID(ctx, "host-d", time.Minute, 200*time.Millisecond); err != nil {
		t.Fatalf("claim after a crashed holder: %v", err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("took the id of a live claim after %s", waited)
	}
	after.Stop()
}

// A node whose claim lapsed and was taken stops at its next renewal.
func TestNodeStopsWhenItsIDIsTaken(t *testing.T) {
	st := claimStore(t)
	ctx := context.Background()
	// A 1 s claim renewed every 4 s lapses between renewals.
	n := claimNode(st, 9)
	if err := n.claimNodeID(ctx, "host-a", time.Second, 4*time.Second); err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	if err := failure(n, 1500*time.Millisecond); err != nil {
		t.Fatalf("failed before its claim was taken: %v", err)
	}
	if _, err := st.ClaimNode(ctx, 9, "host-b", time.Minute); err != nil {
		t.Fatalf("claim of the lapsed id: %v", err)
	}
	err := failure(n, 8*time.Second)
	if !errors.Is(err, store.ErrNodeClaimed) || !strings.Contains(err.Error(), "host-b") {
		t.Fatalf("failure %v, want ErrNodeClaimed naming the new holder", err)
	}
}

// claimsFail is a store whose ClaimNode fails while down is set.
type claimsFail struct {
	store.Store
	down atomic.Bool
}

func (s *claimsFail) ClaimNode(ctx context.Context, node int, owner string, ttl time.Duration) (string, error) {
	if s.down.Load() {
		return "", errors.New("store unreachable")
	}
	return s.Store.ClaimNode(ctx, node, owner, ttl)
}

// While a node cannot renew its claim it stops taking new request ids
// before the claim could lapse, and takes them again after a renewal.
func TestNodeIDsWaitForARenewal(t *testing.T) {
	st := &claimsFail{Store: claimStore(t)}
	n := claimNode(st, 4)
	const ttl = 6 * time.Second // the claim surely holds 4 s after a renewal
	if err := n.claimNodeID(context.Background(), "host-a", ttl, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	if !n.claimValid() {
		t.Fatal("no ids right after the claim")
	}
	time.Sleep(time.Second)
	if !n.claimValid() {
		t.Fatal("no ids while renewals succeed")
	}
	st.down.Store(true)
	downAt := time.Now()
	for n.claimValid() {
		if time.Since(downAt) > ttl-time.Second-claimMargin {
			t.Fatalf("ids still valid %s after the last renewal could begin, with a %s ttl", time.Since(downAt), ttl)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The last renewal began up to an interval and a slow fsync before.
	if since := time.Since(downAt); since < ttl-time.Second-claimMargin-2*time.Second {
		t.Fatalf("ids refused %s after the store went down, long before the claim could lapse", since)
	}
	st.down.Store(false)
	deadline := time.Now().Add(2 * time.Second)
	for !n.claimValid() {
		if time.Now().After(deadline) {
			t.Fatal("ids not valid again 2 s after the store came back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := failure(n, 0); err != nil {
		t.Fatalf("the node failed: %v", err)
	}
}
