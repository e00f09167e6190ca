package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/exchange/internal-transfer/actors/batcher"
	"github.com/exchange/internal-transfer/actors/stream"
	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/config"
	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/store"
)

// Role says which service a process is.
type Role int

// Roles.
const (
	Gateway    Role = iota // user and admin APIs; settlement too when backends are in-process
	Settlement             // settlement consumer and scanner only
)

// Node is one running service process.
type Node struct {
	cfg     *config.Config
	log     *slog.Logger
	catalog *transfers.Catalog

	ledger ledger.Ledger
	store  store.Store
	// storeSync: see Backends.StoreSync
	storeSync func(context.Context) error
	stream    *Stream
	system    *actor.ActorSystem
	batcher   *batcher.Batcher
	producer  *stream.Producer
	service   *transfers.Service
	admin     *transfers.Admin
	settle    settlementPart
	servers   []*server
	cancel    context.CancelFunc
	failed    chan error
	stops     []func() error // in start order; Stop runs them in reverse
	// claimed is when the last successful claim of server.node_id began,
	// in ns since claimEpoch; the claim surely holds for claimHolds after.
	claimed    atomic.Int64
	claimEpoch time.Time
	claimHolds time.Duration
}

// Start builds and starts every part of role. On error, whatever started is
// stopped again.
func Start(ctx context.Context, cfg *config.Config, log *slog.Logger, role Role) (*Node, error) {
	catalog, err := cfg.Catalog()
	if err != nil {
		return nil, err
	}
	schedulerProcs(cfg, log)
	collectorSettings(cfg, log)
	bg, cancel := context.WithCancel(context.Background())
	n := &Node{cfg: cfg, log: log, catalog: catalog, cancel: cancel, failed: make(chan error, 4)}
	n.stops = append(n.stops, func() error { cancel(); return nil })
	ok := false
	defer func() {
		if !ok {
			_ = n.Stop() // whatever started, on any error return
		}
	}()
	if err := n.openBackends(ctx); err != nil {
		return nil, err
	}
	n.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return log.With("lib", "protoactor")
	}))
	n.stops = append(n.stops, func() error { n.system.Shutdown(); return nil })
	n.batcher = batcher.New(n.system, n.ledger, batcher.Options{
		Width:       cfg.TigerBeetle.Concurrency,
		QueueMax:    cfg.Actors.LedgerQueueMax,
		CallTimeout: config.Duration(cfg.TigerBeetle.TimeoutMS),
	})
	n.stops = append(n.stops, n.batcher.Close)
	if err := n.startProducer(ctx); err != nil {
		return nil, err
	}
	if err := transfers.EnsureOperatorAccounts(ctx, n.batcher, catalog); err != nil {
		return nil, fmt.Errorf("cannot create operator accounts: %w", err)
	}
	if InProcess(cfg) {
		// Only a process that runs both the gateway and settlement sees
		// every outcome; a split cluster's rate is the Prometheus recording
		// rule cluster:internal_transfer_success_rate:ratio_rate1m.
		go transfers.TrackSuccessRate(bg)
	}
	if role == Settlement || InProcess(cfg) {
		if err := n.startSettlement(ctx); err != nil {
			return nil, err
		}
	}
	if role == Gateway {
		if err := n.claimNodeID(ctx, nodeOwner(cfg.Monitoring.HealthCheckPort), nodeClaimTTL, nodeClaimEvery); err != nil {
			return nil, err
		}
		if err := n.startGateway(); err != nil {
			return nil, err
		}
	} else if err := n.startSettlementHealth(); err != nil {
		return nil, err
	}
	if err := n.startMetrics(); err != nil {
		return nil, err
	}
	ok = true
	return n, nil
}

func (n *Node) openBackends(ctx context.Context) error {
	start := time.Now()
	b, err := OpenBackends(ctx, n.cfg)
	if err != nil {
		return err
	}
	n.log.Info("backends open", "took", time.Since(start).Round(time.Millisecond).String(), "id_filters", b.filterSources())
	n.ledger, n.store, n.storeSync = b.Ledger, b.Store, b.StoreSync
	n.stops = append(n.stops, b.Close)
	st, err := OpenStream(n.cfg, n.log)
	if err != nil {
		return err
	}
	n.stream = st
	n.stops = append(n.stops, func() error { st.Close(); return nil })
	return nil
}

func (n *Node) startProducer(ctx context.Context) error {
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p, err := stream.NewProducer(c, stream.ProducerOptions{Brokers: n.stream.Brokers, Topic: n.cfg.Kafka.Topic,
		Linger: config.Duration(n.cfg.Kafka.ProducerLingerMS), Security: KafkaSecurity(n.cfg)})
	if err != nil {
		return fmt.Errorf("cannot start Kafka producer: %w", err)
	}
	n.producer = p
	if n.cfg.Backends.Stream == "kafka" {
		// A topic kept on fewer replicas than production needs still works,
		// so this warns instead of refusing to start (a staging cluster).
		if d, err := p.TopicDurability(c); err != nil {
			n.log.Warn("cannot read the confirmation topic's replication", "topic", n.cfg.Kafka.Topic, "err", err)
		} else {
			for _, w := range d.Warnings() {
				n.log.Warn("confirmation topic is not kept safely: "+w, "topic", n.cfg.Kafka.Topic,
					"fix", "see the runbook, Kafka outage, step 4")
			}
		}
	}
	n.stops = append(n.stops, func() error {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return p.Close(c)
	})
	return nil
}

// Wait blocks until ctx ends (the signal) or a component fails, then stops
// everything in reverse order. It returns what went wrong, if anything.
func (n *Node) Wait(ctx context.Context) error {
	var failure error
	select {
	case <-ctx.Done():
		n.log.Info("signal received; draining")
	case failure = <-n.failed:
		n.log.Error("a component failed; stopping", "err", failure)
	}
	return errors.Join(failure, n.Stop())
}

// Failed reports a component that stopped on its own.
func (n *Node) Failed() <-chan error { return n.failed }

// APIAddr is the user API's address.
func (n *Node) APIAddr() string { return n.addr("api") }

// AdminAddr is the admin API's address.
func (n *Node) AdminAddr() string { return n.addr("admin") }

// HealthAddr is the settlement service's /health address.
func (n *Node) HealthAddr() string { return n.addr("health") }

// MetricsAddr is the /metrics address.
func (n *Node) MetricsAddr() string { return n.addr("metrics") }

func (n *Node) addr(name string) string {
	for _, s := range n.servers {
		if s.name == name {
			return s.ln.Addr().String()
		}
	}
	return ""
}

func (n *Node) listen(name string, port int) (net.Listener, error) {
	return net.Listen("tcp", net.JoinHostPort(n.bindAddress(name), strconv.Itoa(port)))
}

// bindAddress is the host listener name listens on: server.bind_address,
// unless the admin API or the metrics have their own.
func (n *Node) bindAddress(name string) string {
	switch name {
	case "admin":
		return n.cfg.AdminHost()
	case "metrics":
		return n.cfg.MetricsHost()
	}
	return n.cfg.Server.BindAddress
}

// Stop stops everything that started, in reverse order: listeners first
// (draining in-flight requests), then actors, settlement, producer, backends.
func (n *Node) Stop() error {
	var errs []error
	for i := len(n.stops) - 1; i >= 0; i-- {
		if err := n.stops[i](); err != nil {
			errs = append(errs, err)
		}
	}
	n.stops = nil
	return errors.Join(errs...)
}
