package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/exchange/internal-transfer/bench/verify"
	"github.com/exchange/internal-transfer/cmd/internal/node"
	"github.com/exchange/internal-transfer/config"
)

// errViolations: the invariant check found broken invariants (exit 1).
var errViolations = errors.New("invariant violations found")

// cmdVerify checks PRODUCT.md's invariants directly in the ledger and the
// store the config names. Embedded backends are Pebble directories one
// process may hold: stop the service first. TigerBeetle and ScyllaDB are
// checked live; requests younger than --grace are then not judged.
func cmdVerify(args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	path := fs.String("config", "config/dev.yaml", "configuration file of the service")
	usersFile := fs.String("users-file", "", "expectations JSON written by bench/loadgen -expect (users, exact balances, request statuses)")
	usersRange := fs.String("users", "", "user ids A-B (inclusive) or a comma list, when there is no expectations file; name every user holding funds, or the zero-sum check reports the rest as missing money")
	grace := fs.Duration("grace", 0, "requests younger than this are not judged (use e.g. 30s against a live deployment)")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file")
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("unexpected argument %q: flags after it would be ignored", fs.Arg(0)))
	}
	if (*usersFile == "") == (*usersRange == "") {
		return usageError("give exactly one of --users-file or --users")
	}
	cfg, err := config.Load(*path, os.Environ())
	if err != nil {
		return err
	}
	opts := verify.Options{Grace: *grace}
	if *usersFile != "" {
		if opts.Expect, err = verify.ReadExpectations(*usersFile); err != nil {
			return err
		}
	} else if opts.Users, err = parseUsers(*usersRange); err != nil {
		return usageError(err.Error())
	}
	rep, err := runVerify(cfg, opts)
	if err != nil {
		return err
	}
	rep.Print(os.Stdout)
	if *jsonOut != "" {
		raw, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonOut, raw, 0o644); err != nil {
			return fmt.Errorf("cannot write the report: %w", err)
		}
	}
	if !rep.OK() {
		return errViolations
	}
	return nil
}

func runVerify(cfg *config.Config, opts verify.Options) (*verify.Report, error) {
	catalog, err := cfg.Catalog()
	if err != nil {
		return nil, err
	}
	if cfg.Backends.Ledger == "embedded" || cfg.Backends.Store == "embedded" {
		// Opening would create empty databases in a wrong directory.
		if _, err := os.Stat(cfg.Server.DataDir); err != nil {
			return nil, fmt.Errorf("cannot verify the embedded backends: server.data_dir: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	b, err := node.OpenBackends(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w (embedded backends: stop the service first, it holds the lock)", err)
	}
	defer b.Close()
	opts.Ledger, opts.Store, opts.Catalog = b.Ledger, b.Store, catalog
	rep, err := verify.Check(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("cannot complete the check: %w", err)
	}
	return rep, nil
}

// parseUsers reads "A-B" (inclusive) or "A,B,C".
func parseUsers(s string) ([]uint64, error) {
	if lo, hi, isRange := strings.Cut(s, "-"); isRange {
		a, err1 := strconv.ParseUint(lo, 10, 64)
		b, err2 := strconv.ParseUint(hi, 10, 64)
		if err1 != nil || err2 != nil || a == 0 || b < a || b-a >= 10_000_000 {
			return nil, fmt.Errorf("--users %q: want A-B with 0 < A <= B and at most 10M users", s)
		}
		out := make([]uint64, 0, b-a+1)
		for n := uint64(0); n <= b-a; n++ { // not u <= b: b may be the largest uint64
			out = append(out, a+n)
		}
		return out, nil
	}
	var out []uint64
	for _, f := range strings.Split(s, ",") {
		u, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil || u == 0 {
			return nil, fmt.Errorf("--users %q: %q is not a positive user id", s, f)
		}
		out = append(out, u)
	}
	return out, nil
}
