// Command loadgen drives the internal transfer service with a realistic mix
// of transfers (package bench/load) and writes the results (-out JSON,
// -md markdown row) and the exact expectations for `itctl verify`
// (-expect). Addresses and secrets come from the service's config file
// (IT_* overrides apply), or from -api/-admin.
//
//	loadgen -config config/dev.yaml -users 10000 -rate 5000 -duration 60s -expect e.json -out r.json
//
// SIGINT or SIGTERM ends the load phase early; the generator then still
// waits for a definitive answer to every transfer (bounded by -drain). It
// exits 1 on a run error or when it saw a violation (an idempotent retry
// answered with another request_id, a transfer bound to fail accepted).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/exchange/internal-transfer/bench/load"
	"github.com/exchange/internal-transfer/bench/verify"
	"github.com/exchange/internal-transfer/config"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// outputs names the files a run writes.
type outputs struct{ out, md, expect, cpuProfile string }

func run() error {
	o, files, err := options()
	if err != nil {
		return err
	}
	stop := make(chan struct{})
	o.Stop = stop
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sig; close(stop) }()

	if files.cpuProfile != "" {
		f, err := os.Create(files.cpuProfile)
		if err != nil {
			return fmt.Errorf("cannot write the CPU profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cannot start the CPU profile: %w", err)
		}
	}
	res, exp, err := load.Run(context.Background(), o)
	pprof.StopCPUProfile() // no-op without -cpuprofile
	if err != nil {
		return err
	}
	if err := write(res, exp, files); err != nil {
		return err
	}
	fmt.Print(load.MarkdownHeader, res.MarkdownRow())
	counts, _ := json.Marshal(res.Counts)
	fmt.Printf("counts: %s\n", counts)
	var slow int64
	for _, s := range res.Timeline {
		slow += s.Slow
	}
	fmt.Printf("timeline: %d accepted answers over %d ms in %d seconds; half of them in the worst %d seconds\n",
		slow, load.SlowMS, len(res.Timeline), res.SlowSeconds)
	if res.Violations > 0 {
		return fmt.Errorf("%d violations seen by the generator (see counts violation_*)", res.Violations)
	}
	return nil
}

// options reads the flags and the service's config.
func options() (load.Options, outputs, error) {
	o := load.Defaults()
	var files outputs
	cfgPath := flag.String("config", "config/dev.yaml", "the service's configuration (addresses, JWT secret, admin token)")
	api := flag.String("api", "", "host:port of the user API (default from the config)")
	admin := flag.String("admin", "", "host:port of the admin API (default from the config)")
	flag.IntVar(&o.Users, "users", o.Users, "users to create and fund")
	flag.Uint64Var(&o.UserBase, "user-base", o.UserBase, "first user id (use a fresh range per run on a shared data dir)")
	flag.StringVar(&o.RunID, "run-id", strconv.FormatInt(time.Now().UnixNano(), 36), "idempotency key prefix, unique per run")
	fund := flag.Float64("fund", 100, "deposit per user, in whole units of the asset")
	flag.Float64Var(&o.Rate, "rate", o.Rate, "target arrivals per second; 0 = closed loop with -concurrency")
	flag.BoolVar(&o.Poisson, "poisson", true, "Poisson arrivals (false: uniform)")
	flag.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "closed-loop workers (with -rate 0)")
	flag.IntVar(&o.InFlightMax, "inflight", o.InFlightMax, "transfers in flight at most; arrivals beyond are dropped and counted")
	flag.DurationVar(&o.Duration, "duration", o.Duration, "load phase; 0 = until SIGINT")
	flag.IntVar(&o.Mix.Back, "mix-back", o.Mix.Back, "percent spot→funding")
	flag.IntVar(&o.Mix.Cross, "mix-cross", o.Mix.Cross, "percent funding→funding of another user")
	flag.IntVar(&o.Mix.Retry, "mix-retry", o.Mix.Retry, "percent idempotent re-sends of answered transfers")
	flag.IntVar(&o.Mix.Conflict, "mix-conflict", o.Mix.Conflict, "percent re-sends of an answered transfer's key with another amount (must get 409)")
	flag.IntVar(&o.Mix.Fail, "mix-fail", o.Mix.Fail, "percent transfers above the balance (must fail)")
	flag.IntVar(&o.Mix.Twin, "mix-twin", o.Mix.Twin, "percent of new transfers sent twice at once (both must get the same request)")
	flag.DurationVar(&o.RequestTimeout, "timeout", o.RequestTimeout, "per HTTP attempt")
	flag.IntVar(&o.AttemptsMax, "attempts", o.AttemptsMax, "attempts per transfer at most")
	flag.DurationVar(&o.DrainTimeout, "drain", o.DrainTimeout, "after the load phase, how long unknown outcomes are retried")
	flag.Float64Var(&o.SettleSample, "settle-sample", o.SettleSample, "share of accepted transfers polled until final")
	flag.DurationVar(&o.SettlePoll, "settle-poll", o.SettlePoll, "poll interval of sampled transfers")
	flag.StringVar(&files.out, "out", "", "write the result as JSON here")
	flag.StringVar(&files.md, "md", "", "append the result as a markdown table row here")
	flag.StringVar(&files.expect, "expect", "", "write the expectations for `itctl verify --users-file` here")
	flag.StringVar(&files.cpuProfile, "cpuprofile", "", "write the generator's own CPU profile (funding, load and drain) here, for go tool pprof")
	quiet := flag.Bool("q", false, "no progress lines on stderr")
	flag.Parse()

	cfg, err := config.Load(*cfgPath, os.Environ())
	if err != nil {
		return o, files, err
	}
	catalog, err := cfg.Catalog()
	if err != nil {
		return o, files, err
	}
	asset, ok := catalog.Asset(o.Asset)
	if !ok {
		return o, files, fmt.Errorf("asset %s is not configured", o.Asset)
	}
	o.Decimals = asset.Decimals
	o.Fund = uint64(*fund * pow10(asset.Decimals))
	o.AmountMin = max(o.AmountMin, cfg.RateLimiting.MinTransferAmount)
	o.AmountLimit = cfg.RateLimiting.MaxTransferAmount
	o.APIAddr, o.AdminAddr = *api, *admin
	dialable := func(host string) string {
		if host == "0.0.0.0" || host == "::" || host == "" {
			return "127.0.0.1"
		}
		return host
	}
	if o.APIAddr == "" {
		o.APIAddr = net.JoinHostPort(dialable(cfg.Server.BindAddress), strconv.Itoa(cfg.Monitoring.HealthCheckPort))
	}
	if o.AdminAddr == "" {
		o.AdminAddr = net.JoinHostPort(dialable(cfg.AdminHost()), strconv.Itoa(cfg.Server.AdminPort))
	}
	o.JWTSecret, o.JWTIssuer, o.JWTAudience, o.AdminToken = cfg.Auth.JWTSecret, cfg.Auth.JWTIssuer, cfg.Auth.JWTAudience, cfg.Auth.AdminToken
	if !*quiet {
		o.Log = os.Stderr
	}
	return o, files, nil
}

// write writes the expectations, the JSON result and the markdown row.
func write(res *load.Result, exp *verify.Expectations, files outputs) error {
	if files.expect != "" {
		if err := exp.Write(files.expect); err != nil {
			return err
		}
	}
	if files.out != "" {
		raw, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(files.out, raw, 0o644); err != nil {
			return fmt.Errorf("cannot write %s: %w", files.out, err)
		}
	}
	if files.md != "" {
		return res.AppendMarkdown(files.md)
	}
	return nil
}

func pow10(n int) float64 {
	v := 1.0
	for range n {
		v *= 10
	}
	return v
}
