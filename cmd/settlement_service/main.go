// Command settlement_service settles held transfers: a member of the Kafka
// consumer group settlement_service on transfer_confirmations, with one
// partition actor per assigned partition under a supervisor, posting (or
// voiding) each hold in the ledger and recording the final status, plus the
// scanner that drives stuck requests to a final state.
//
// It runs against production backends (TigerBeetle, ScyllaDB, Kafka). With
// embedded backends settlement runs inside gateway_service instead, since the
// embedded ledger and store belong to that process; this command refuses
// such a config.
//
// It reads top to bottom: load config → open backends → start consumer and
// scanner → wait for SIGTERM → stop in reverse order.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/exchange/internal-transfer/cmd/internal/node"
	"github.com/exchange/internal-transfer/config"
)

func main() {
	configPath := flag.String("config", "config/internal_transfer_prod.yaml", "configuration file")
	flag.Parse()
	if flag.NArg() > 0 {
		// flag stops at the first non-flag: a -config after it would be
		// ignored, and the default config (dev secrets) loaded instead.
		fmt.Fprintf(os.Stderr, "settlement_service: unexpected argument %q; the only flag is -config FILE\n", flag.Arg(0))
		os.Exit(2)
	}

	cfg, err := config.Load(*configPath, os.Environ())
	if err != nil {
		fmt.Fprintln(os.Stderr, "settlement_service:", err)
		os.Exit(2)
	}
	if node.InProcess(cfg) {
		fmt.Fprintln(os.Stderr, "settlement_service: the config uses embedded backends; settlement runs inside gateway_service (make run)")
		os.Exit(2)
	}
	log := node.Logger(cfg, "settlement")
	log.Info("starting", "config", *configPath)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	n, err := node.Start(ctx, cfg, log, node.Settlement)
	if err != nil {
		log.Error("cannot start", "err", err)
		os.Exit(1)
	}
	log.Info("ready", "health", n.HealthAddr(), "metrics", n.MetricsAddr())

	if err := n.Wait(ctx); err != nil {
		log.Error("stopped with errors", "err", err)
		os.Exit(1)
	}
	log.Info("stopped")
}
