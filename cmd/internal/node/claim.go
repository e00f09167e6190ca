package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/exchange/internal-transfer/store"
)

// A gateway's claim on its server.node_id: request ids are unique only per
// node id, so two running gateways must never share one.
const (
	// nodeClaimTTL is how long a claim outlives its last renewal. A node
	// that comes back under the same name (host and API port) takes its
	// claim over at once; one replaced under another name waits this long.
	nodeClaimTTL = 30 * time.Second
	// nodeClaimEvery is how often a running node renews its claim.
	nodeClaimEvery = 10 * time.Second
)

// nodeOwner names this node in its claim: the host and the API port, the
// same across restarts, and no two running processes can listen on one.
func nodeOwner(port int) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return fmt.Sprintf("%s:%d", host, port)
}

// claimNodeID claims server.node_id in the store for owner, then renews the
// claim every every until the node stops. Start fails while another running
// node holds the id. A renewal that finds the id taken (this node's claim
// lapsed in a store outage and another node claimed it) stops the node
// through Failed: from then on both would issue the same request ids.
func (n *Node) claimNodeID(ctx context.Context, owner string, ttl, every time.Duration) error {
	id := n.cfg.Server.NodeID
	c, cancel := context.WithTimeout(ctx, every)
	holder, err := n.store.ClaimNode(c, id, owner, ttl)
	cancel()
	if errors.Is(err, store.ErrNodeClaimed) {
		return fmt.Errorf("server.node_id %d is held by another running node (%s); give every node its own id (IT_SERVER_NODE_ID): %w",
			id, holder, err)
	}
	if err != nil {
		return fmt.Errorf("cannot claim server.node_id %d: %w", id, err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go n.renewClaim(owner, ttl, every, stop, done)
	n.stops = append(n.stops, func() error { close(stop); <-done; return nil })
	return nil
}

func (n *Node) renewClaim(owner string, ttl, every time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	id := n.cfg.Server.NodeID
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		holder, err := n.store.ClaimNode(ctx, id, owner, ttl)
		cancel()
		switch {
		case errors.Is(err, store.ErrNodeClaimed):
			err = fmt.Errorf("server.node_id %d was claimed by %s after this node's claim lapsed: %w", id, holder, err)
			select {
			case n.failed <- err:
			default:
			}
			return
		case err != nil:
			metrics.GetOrCreateCounter("internal_transfer_db_errors").Inc()
			n.log.Warn("cannot renew the claim on server.node_id; retrying", "node_id", id, "err", err)
		}
	}
}
