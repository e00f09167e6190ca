package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
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

// A second node started with a node id a running node holds is refused with
// a message naming the setting; the holder coming back under its own name
// takes the claim over; a node whose claim lapsed and was taken stops.
func TestNodeIDClaim(t *testing.T) {
	st, err := storeembedded.Open(storeembedded.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()

	a := claimNode(st, 7)
	if err := a.claimNodeID(ctx, "host-a:8080", time.Minute, time.Hour); err != nil {
		t.Fatalf("first claim: %v", err)
	}
	b := claimNode(st, 7)
	err = b.claimNodeID(ctx, "host-b:8080", time.Minute, time.Hour)
	if !errors.Is(err, store.ErrNodeClaimed) || !strings.Contains(err.Error(), "server.node_id 7") || !strings.Contains(err.Error(), "host-a:8080") {
		t.Fatalf("second node with the same id: %v; want ErrNodeClaimed naming server.node_id 7 and its holder", err)
	}
	if err := claimNode(st, 8).claimNodeID(ctx, "host-b:8080", time.Minute, time.Hour); err != nil {
		t.Fatalf("another id: %v", err)
	}
	restarted := claimNode(st, 7)
	if err := restarted.claimNodeID(ctx, "host-a:8080", time.Minute, time.Hour); err != nil {
		t.Fatalf("the holder restarted under its own name: %v", err)
	}
	for _, n := range []*Node{a, restarted} {
		if err := n.Stop(); err != nil {
			t.Fatal(err)
		}
	}

	// Node 9's claim lasts 1 s and is renewed every 2 s, so it lapses; a
	// node that claims the id meanwhile makes the next renewal stop it.
	lapsing := claimNode(st, 9)
	if err := lapsing.claimNodeID(ctx, "host-a:8080", time.Second, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	defer lapsing.Stop()
	select {
	case err := <-lapsing.Failed():
		t.Fatalf("failed before its claim was taken: %v", err)
	case <-time.After(1200 * time.Millisecond):
	}
	if _, err := st.ClaimNode(ctx, 9, "host-b:8080", time.Minute); err != nil {
		t.Fatalf("claim of the lapsed id: %v", err)
	}
	select {
	case err := <-lapsing.Failed():
		if !errors.Is(err, store.ErrNodeClaimed) || !strings.Contains(err.Error(), "host-b:8080") {
			t.Fatalf("failure %v, want ErrNodeClaimed naming the new holder", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the node whose id was taken did not stop")
	}
}
