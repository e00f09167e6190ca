package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	// nodeClaimTTL is how long a claim outlives its last renewal: a
	// gateway that crashed holds its id that long (on ScyllaDB; the
	// embedded store drops claims when it opens), and a restart waits.
	nodeClaimTTL = 20 * time.Second
	// nodeClaimEvery is how often a running node renews its claim.
	nodeClaimEvery = 5 * time.Second
)

// nodeOwner names this process in its claim: host and API port for the
// operator, then the process id and random bytes, so no two processes
// share a name (cloned hosts do share host names).
func nodeOwner(port int) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s:%d/%d-%s", host, port, os.Getpid(), hex.EncodeToString(b[:]))
}

// claimNodeID claims server.node_id in the store for owner, then renews the
// claim every every until the node stops, and releases it then.
//
// While another process holds the id, Start waits up to ttl+every for its
// claim to lapse (a crashed node's does; a running node's does not) and
// then fails. While renewals fail (the store unreachable), claimValid
// turns false before the claim could lapse, and the gateway refuses new
// requests until a renewal succeeds again; a renewal that finds the id
// taken stops the node through Failed, as another node may issue the same
// request ids from then on.
func (n *Node) claimNodeID(ctx context.Context, owner string, ttl, every time.Duration) error {
	id := n.cfg.Server.NodeID
	n.claimEpoch = time.Now()
	giveUp := n.claimEpoch.Add(ttl + every)
	for {
		start := time.Since(n.claimEpoch)
		c, cancel := context.WithTimeout(ctx, every)
		holder, err := n.store.ClaimNode(c, id, owner, ttl)
		cancel()
		if err == nil {
			n.claimed.Store(int64(start))
			break
		}
		if !errors.Is(err, store.ErrNodeClaimed) {
			return fmt.Errorf("cannot claim server.node_id %d: %w", id, err)
		}
		if time.Now().After(giveUp) {
			return fmt.Errorf("server.node_id %d is held by another running node (%s); give every node its own id (IT_SERVER_NODE_ID): %w",
				id, holder, err)
		}
		n.log.Warn("server.node_id is claimed by another process; waiting for its claim to lapse",
			"node_id", id, "holder", holder, "until", giveUp.Format(time.RFC3339))
		select {
		case <-ctx.Done():
			return fmt.Errorf("cannot claim server.node_id %d: %w", id, ctx.Err())
		case <-time.After(every):
		}
	}
	// The claim surely holds until a second before its ttl (a store may
	// end it a second early), less a margin for a request between its
	// check and its store write.
	n.claimHolds = ttl - time.Second - claimMargin
	stop, done := make(chan struct{}), make(chan struct{})
	go n.renewClaim(stop, owner, ttl, every, done)
	n.stops = append(n.stops, func() error {
		// A renewal in flight finishes first (within every): cancelled,
		// it could still land after the release and leave a claim.
		close(stop)
		<-done
		c, cancel := context.WithTimeout(context.Background(), every)
		defer cancel()
		if err := n.store.ReleaseNode(c, id, owner); err != nil {
			n.log.Warn("cannot release the claim on server.node_id; it lapses by itself", "node_id", id, "err", err)
		}
		return nil
	})
	return nil
}

// claimMargin is kept between the last moment the gateway takes a new
// request id and the earliest its claim could lapse.
const claimMargin = time.Second

// claimValid reports whether this node's claim on its id surely holds:
// the last successful claim or renewal began less than claimHolds ago
// (on the monotonic clock: a wall clock stepping back must not stretch it).
func (n *Node) claimValid() bool {
	return n.sinceClaimed() < n.claimHolds
}

// sinceClaimed is the time since the last successful claim or renewal began.
func (n *Node) sinceClaimed() time.Duration {
	return time.Since(n.claimEpoch) - time.Duration(n.claimed.Load())
}

// renewClaim renews the claim every every until stop is closed.
func (n *Node) renewClaim(stop <-chan struct{}, owner string, ttl, every time.Duration, done chan<- struct{}) {
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
		start := time.Since(n.claimEpoch)
		c, cancel := context.WithTimeout(context.Background(), every)
		holder, err := n.store.ClaimNode(c, id, owner, ttl)
		cancel()
		switch {
		case err == nil:
			if !n.claimValid() {
				n.log.Info("claim on server.node_id renewed; taking requests again", "node_id", id)
			}
			n.claimed.Store(int64(start))
		case errors.Is(err, store.ErrNodeClaimed):
			err = fmt.Errorf("server.node_id %d was claimed by %s after this node's claim lapsed: %w", id, holder, err)
			select {
			case n.failed <- err:
			default:
			}
			return
		default:
			metrics.GetOrCreateCounter("internal_transfer_db_errors").Inc()
			n.log.Warn("cannot renew the claim on server.node_id; new requests are refused once it could lapse",
				"node_id", id, "unrenewed_for", n.sinceClaimed().Round(time.Second), "err", err)
		}
	}
}
