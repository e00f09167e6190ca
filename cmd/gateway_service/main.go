// Command gateway_service is the internal-transfer gateway: the user and
// admin HTTP APIs in front of the per-user actors and the ledger batcher.
//
// With embedded backends (config/dev.yaml, `make run`) it is the whole
// service in one process: ledger, store and Kafka broker in-process, and
// settlement with its scanner running beside the gateway. With production
// backends settlement runs in cmd/settlement_service.
//
// It reads top to bottom: load config → open backends → build the actors →
// start listeners → wait for SIGTERM → stop in reverse order.
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
	configPath := flag.String("config", "config/dev.yaml", "configuration file")
	flag.Parse()
	if flag.NArg() > 0 {
		// flag stops at the first non-flag: a -config after it would be
		// ignored, and the default config (dev secrets) loaded instead.
		fmt.Fprintf(os.Stderr, "gateway_service: unexpected argument %q; the only flag is -config FILE\n", flag.Arg(0))
		os.Exit(2)
	}

	cfg, err := config.Load(*configPath, os.Environ())
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway_service:", err)
		os.Exit(2)
	}
	log := node.Logger(cfg, "gateway")
	log.Info("starting", "config", *configPath, "ledger", cfg.Backends.Ledger, "store", cfg.Backends.Store, "stream", cfg.Backends.Stream)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	n, err := node.Start(ctx, cfg, log, node.Gateway)
	if err != nil {
		log.Error("cannot start", "err", err)
		os.Exit(1)
	}
	log.Info("ready", "api", n.APIAddr(), "admin", n.AdminAddr(), "metrics", n.MetricsAddr())

	if err := n.Wait(ctx); err != nil {
		log.Error("stopped with errors", "err", err)
		os.Exit(1)
	}
	log.Info("stopped")
}
