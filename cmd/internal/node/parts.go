package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/exchange/internal-transfer/actors/settlement"
	"github.com/exchange/internal-transfer/actors/stream"
	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/config"
	"github.com/exchange/internal-transfer/ingress"
	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/store"
)

// settlementPart is the settlement service when this process runs it.
type settlementPart = *settlement.Service

// startGateway builds the transfer service and serves the user API (with
// /health and /ready) and the admin API.
func (n *Node) startGateway() error {
	cfg := n.cfg
	svc, err := transfers.NewService(n.system, n.batcher, n.store, n.producer, n.catalog, transfers.Options{
		NodeID:         cfg.Server.NodeID,
		MailboxMax:     cfg.Actors.UserMailboxMax,
		UserActorsMax:  cfg.Actors.UserActorsMax,
		InFlightMax:    cfg.Actors.InFlightMax,
		IdleTimeout:    config.Duration(cfg.Actors.UserIdleMS),
		RequestTimeout: config.Duration(cfg.Actors.RequestTimeoutMS),
		RetryAfter:     time.Second,
		Logger:         n.log,
		Sync:           n.storeSync,
		IDsValid:       n.claimValid,
	})
	if err != nil {
		return err
	}
	n.service = svc
	n.stops = append(n.stops, func() error { svc.Close(); return nil })
	n.admin = transfers.NewAdmin(n.batcher, n.catalog, svc)
	opts := ingress.Options{
		Catalog:              n.catalog,
		MinAmount:            cfg.RateLimiting.MinTransferAmount,
		MaxAmount:            cfg.RateLimiting.MaxTransferAmount,
		MaxRequestsPerMinute: cfg.RateLimiting.MaxRequestsPerMinute,
		BodyLimitBytes:       cfg.Server.MaxBodyBytes,
		JWTIssuer:            cfg.Auth.JWTIssuer,
		JWTAudience:          cfg.Auth.JWTAudience,
		JWTLeeway:            5 * time.Second,
		AdminToken:           cfg.Auth.AdminToken,
		Version:              config.Version,
		RequestTimeout:       config.Duration(cfg.Actors.RequestTimeoutMS),
		Logger:               n.log,
	}
	if cfg.Auth.JWTAlgorithm == "HS256" {
		opts.JWTSecret = []byte(cfg.Auth.JWTSecret)
	} else {
		pem, err := os.ReadFile(cfg.Auth.JWTPublicKeyFile)
		if err != nil {
			return fmt.Errorf("cannot read auth.jwt_public_key_file: %w", err)
		}
		opts.JWTPublicKeyPEM = pem
	}
	opts.Operator = n.operatorTools()
	if ms := cfg.Monitoring.SlowTraceMS; ms > 0 {
		t, err := startSlowTracer(time.Duration(ms)*time.Millisecond, filepath.Join(cfg.Server.DataDir, "traces"), n.log)
		if err != nil {
			// Tracing is a diagnostic: the service runs without it.
			n.log.Warn("slow-request tracing is off", "err", err)
		} else {
			opts.OnTransferHandled = t.observe
			n.stops = append(n.stops, t.stop)
		}
	}
	if n.settle != nil {
		// Settlement runs in this process (embedded backends): /health
		// reports it as the deployment guide's settlement check expects,
		// healthy as settlement's own /health would be (a failed scanner
		// run is a detail, not a failure: the next run retries).
		opts.HealthParts = func() (map[string]string, bool) {
			h := n.settle.Health()
			healthy := h["status"] == "healthy"
			delete(h, "status")
			return h, healthy
		}
	}
	api, err := ingress.New(opts, svc, n.admin, n.ready)
	if err != nil {
		return fmt.Errorf("cannot build ingress: %w", err)
	}
	// The user API answers /health on monitoring.health_check_port, as the
	// deployment guide's health check expects.
	// api.Shutdown drains both listeners; it runs as the admin listener's stop,
	// which comes first (stops run in reverse order).
	if err := n.serveWith("api", cfg.Monitoring.HealthCheckPort, api.ServeUser, func(context.Context) error { return nil }); err != nil {
		return err
	}
	return n.serveWith("admin", cfg.Server.AdminPort, api.ServeAdmin, api.Shutdown)
}

// ready reaches every backend: a ledger lookup, a store read, and the
// confirmation topic on the Kafka cluster.
func (n *Node) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for _, a := range n.catalog.Assets() {
		if _, err := n.ledger.LookupAccounts(ctx, []ledger.Uint128{ledger.OperatorAccountID(a.Ledger)}); err != nil {
			return fmt.Errorf("ledger: %w", err)
		}
		break
	}
	if _, err := n.store.Get(ctx, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("store: %w", err)
	}
	if n.producer != nil {
		if _, err := n.producer.CheckTopic(ctx); err != nil {
			return fmt.Errorf("stream: %w", err)
		}
	}
	return nil
}

func (n *Node) settlerOptions() settlement.SettlerOptions {
	return settlement.SettlerOptions{
		Ledger: n.batcher, Store: n.store, Catalog: n.catalog, Publisher: n.producer,
		CallTimeout: config.Duration(n.cfg.TigerBeetle.TimeoutMS), Logger: n.log.With("part", "settlement"),
		Sync: n.storeSync,
	}
}

func (n *Node) scannerOptions() settlement.ScannerOptions {
	cfg := n.cfg
	return settlement.ScannerOptions{
		Interval:          config.Duration(cfg.Settlement.ScannerIntervalMS),
		Grace:             config.Duration(cfg.Settlement.GraceMS),
		StuckThreshold:    config.Duration(cfg.Settlement.StuckThresholdMS),
		CriticalThreshold: config.Duration(cfg.Settlement.CriticalThresholdMS),
	}
}

// operatorTools are the admin API's operator tools: the running settlement
// service's when this process runs it, else a settler and an idle scanner
// of their own (the scanner is only asked for its stuck report).
func (n *Node) operatorTools() operatorTools {
	minAge := config.Duration(n.cfg.Settlement.StuckThresholdMS)
	if n.settle != nil {
		return operatorTools{settler: n.settle.Settler(), scanner: n.settle.Scanner(), store: n.store, minAge: minAge}
	}
	settler := settlement.NewSettler(n.settlerOptions())
	return operatorTools{settler: settler, scanner: settlement.NewScanner(settler, n.store, n.scannerOptions()), store: n.store, minAge: minAge}
}

// KafkaSecurity is the SASL and TLS settings of cfg's Kafka clients.
func KafkaSecurity(cfg *config.Config) stream.Security {
	k := cfg.Kafka
	return stream.Security{SASLMechanism: k.SASLMechanism, Username: k.SASLUsername, Password: k.SASLPassword,
		TLS: k.TLS, TLSCAFile: k.TLSCAFile}
}

// startSettlement runs the settlement consumer and the scanner.
func (n *Node) startSettlement(ctx context.Context) error {
	cfg := n.cfg
	s := settlement.NewService(settlement.Options{
		Settler: n.settlerOptions(),
		Consumer: settlement.ConsumerOptions{
			Brokers: n.stream.Brokers, Topic: cfg.Kafka.Topic, Group: cfg.Kafka.ConsumerGroup,
			Security:          KafkaSecurity(cfg),
			SessionTimeout:    time.Duration(cfg.Kafka.SessionTimeoutMS) * time.Millisecond,
			HeartbeatInterval: time.Duration(cfg.Kafka.HeartbeatIntervalMS) * time.Millisecond,
		},
		Scanner: n.scannerOptions(),
	})
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.Start(c); err != nil {
		return err
	}
	n.settle = s
	n.stops = append(n.stops, func() error {
		c, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.Server.ShutdownGrace)*time.Millisecond)
		defer cancel()
		return s.Stop(c)
	})
	return nil
}

// startSettlementHealth serves the settlement service's /health and /ready
// on monitoring.health_check_port.
func (n *Node) startSettlementHealth() error {
	return n.serve("health", n.cfg.Monitoring.HealthCheckPort, func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/health":
			h := n.settle.Health()
			if h["status"] != "healthy" {
				ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			}
			ctx.SetContentType("application/json")
			_ = json.NewEncoder(ctx).Encode(h)
		case "/ready":
			if err := n.ready(context.Background()); err != nil {
				ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
				ctx.SetBodyString(`{"status":"unavailable","error":` + quote(err.Error()) + "}")
				return
			}
			ctx.SetBodyString(`{"status":"ready"}`)
		default:
			ctx.Error("not found", fasthttp.StatusNotFound)
		}
	})
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
