// Package node assembles one service process from the configuration: it
// opens the ledger, the store and the stream the config names — embedded or
// production — builds the actors, and starts and stops the listeners, so
// every binary picks its parts the same way, by config alone.
package node

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/exchange/internal-transfer/actors/stream"
	"github.com/exchange/internal-transfer/config"
	"github.com/exchange/internal-transfer/ledger"
	ledgerembedded "github.com/exchange/internal-transfer/ledger/embedded"
	"github.com/exchange/internal-transfer/ledger/tigerbeetle"
	"github.com/exchange/internal-transfer/store"
	storeembedded "github.com/exchange/internal-transfer/store/embedded"
	"github.com/exchange/internal-transfer/store/scylla"
)

// Logger returns the JSON logger at the configured level.
func Logger(cfg *config.Config, service string) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(cfg.Server.LogLevel)))
	h := slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level})
	return slog.New(h).With("service", service, "node", cfg.Server.NodeID, "version", config.Version)
}

// InProcess reports whether the ledger or the store lives inside this
// process; settlement must then run in the same process as the gateway.
func InProcess(cfg *config.Config) bool {
	return cfg.Backends.Ledger == "embedded" || cfg.Backends.Store == "embedded"
}

// OpenLedger opens the configured ledger.
func OpenLedger(cfg *config.Config) (ledger.Ledger, error) {
	switch cfg.Backends.Ledger {
	case "embedded":
		l, err := ledgerembedded.Open(ledgerembedded.Options{Dir: filepath.Join(cfg.Server.DataDir, "ledger")})
		if err != nil {
			return nil, fmt.Errorf("cannot open embedded ledger: %w", err)
		}
		return l, nil
	case "tigerbeetle":
		l, err := tigerbeetle.New(tigerbeetle.Options{
			ClusterID:   ledger.U128(cfg.TigerBeetle.ClusterID),
			Addresses:   cfg.TigerBeetle.Addresses,
			Concurrency: cfg.TigerBeetle.Concurrency,
			Timeout:     config.Duration(cfg.TigerBeetle.TimeoutMS),
		})
		if err != nil {
			return nil, fmt.Errorf("cannot connect to TigerBeetle: %w", err)
		}
		return l, nil
	}
	panic("BUG: config validation let backends.ledger " + cfg.Backends.Ledger + " through")
}

// OpenStore opens the configured store.
func OpenStore(ctx context.Context, cfg *config.Config) (store.Store, error) {
	ttl := time.Duration(cfg.Database.IdempotencyTTLHours) * time.Hour
	switch cfg.Backends.Store {
	case "embedded":
		s, err := storeembedded.Open(storeembedded.Options{Dir: filepath.Join(cfg.Server.DataDir, "store"), IdempotencyTTL: ttl})
		if err != nil {
			return nil, fmt.Errorf("cannot open embedded store: %w", err)
		}
		return s, nil
	case "scylla":
		s, err := scylla.Open(ctx, scylla.Options{
			Hosts:          cfg.Database.ContactPoints,
			Keyspace:       cfg.Database.Keyspace,
			Consistency:    cfg.Database.Consistency,
			IdempotencyTTL: ttl,
			Timeout:        config.Duration(cfg.Database.TimeoutMS),
		})
		if err != nil {
			return nil, fmt.Errorf("cannot connect to ScyllaDB: %w", err)
		}
		return s, nil
	}
	panic("BUG: config validation let backends.store " + cfg.Backends.Store + " through")
}

// Stream is the confirmation stream's brokers, and the embedded broker when
// this process runs one.
type Stream struct {
	Brokers []string
	broker  *stream.Broker
}

// Close stops the embedded broker, if any.
func (s *Stream) Close() {
	if s.broker != nil {
		s.broker.Close()
	}
}

// OpenStream starts the embedded broker, or names the configured brokers.
func OpenStream(cfg *config.Config) (*Stream, error) {
	if cfg.Backends.Stream == "kafka" {
		return &Stream{Brokers: cfg.Kafka.Brokers}, nil
	}
	b, err := stream.StartEmbedded(stream.EmbeddedOptions{
		DataDir:    filepath.Join(cfg.Server.DataDir, "kafka"),
		ListenAddr: cfg.Kafka.EmbeddedListen,
		Topic:      cfg.Kafka.Topic,
		Partitions: int32(cfg.Kafka.Partitions),
	})
	if err != nil {
		return nil, fmt.Errorf("cannot start embedded Kafka broker: %w", err)
	}
	return &Stream{Brokers: b.Addrs(), broker: b}, nil
}
