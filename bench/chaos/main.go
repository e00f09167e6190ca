// Command chaos runs the whole service under load and checks the
// invariants afterwards. It starts bin/gateway_service on a fresh data dir
// and free ports, drives it with bin/loadgen, optionally SIGKILLs and
// restarts it at random moments (-cycles), lets every accepted request
// settle, stops it with SIGTERM, and runs `itctl verify` with the
// generator's expectations. bench/bench.sh and bench/chaos.sh are thin
// wrappers around it.
//
//	chaos -mode bench    -rate 5000 -duration 60s        the default profile
//	chaos -mode overload -rate 12000                      beyond capacity: fails unless some is refused
//	chaos -mode chaos    -cycles 20 -rate 2000             kill (one in four: SIGTERM) + restart cycles
//	chaos -median DIR1/summary.json DIR2/summary.json …   medians of several runs
//
// It exits 1 when the run failed or any invariant was violated.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

func main() {
	var o options
	flag.StringVar(&o.mode, "mode", "bench", "bench, overload or chaos")
	flag.StringVar(&o.binDir, "bin", "bin", "directory with gateway_service, loadgen and itctl")
	flag.StringVar(&o.config, "config", "config/dev.yaml", "service configuration (ports and data dir are overridden)")
	flag.StringVar(&o.workDir, "work", "", "directory for data, logs and results (default: a new temp dir)")
	flag.IntVar(&o.users, "users", 10_000, "users")
	flag.Float64Var(&o.rate, "rate", 5_000, "target arrivals per second; 0 = closed loop")
	flag.IntVar(&o.concurrency, "concurrency", 64, "closed-loop workers (with -rate 0)")
	flag.IntVar(&o.inflight, "inflight", 2_048, "generator in-flight cap")
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "load phase (bench and overload)")
	flag.IntVar(&o.cycles, "cycles", 20, "stop/restart cycles (chaos): SIGKILL, one in four SIGTERM")
	flag.DurationVar(&o.killMin, "kill-min", time.Second, "shortest time between kills (chaos)")
	flag.DurationVar(&o.killMax, "kill-max", 4*time.Second, "longest time between kills (chaos)")
	flag.DurationVar(&o.profile, "profile", 0, "CPU-profile the service (its /debug/pprof) for this long, 15 s into the load (bench, overload); go tool pprof summarises it. The generator then writes its own whole-run profile to loadgen.pprof in the work dir")
	flag.StringVar(&o.md, "md", "", "append the results as markdown to this file")
	flag.StringVar(&o.label, "label", "", "label of the run in the markdown")
	medianOf := flag.Bool("median", false, "print the medians of the summary.json files given as arguments, then exit")
	flag.Parse()
	if *medianOf {
		line, err := median(flag.Args())
		if err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
			os.Exit(1)
		}
		fmt.Println(line)
		return
	}
	sum, err := run(o)
	if sum != nil {
		fmt.Print(tableHeader, sum.row(o.label))
		fmt.Println(sum.line())
		if err := sum.writeJSON(filepath.Join(sum.WorkDir, "summary.json")); err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
		}
		if o.md != "" {
			if err := sum.appendMarkdown(o.md, o.label); err != nil {
				fmt.Fprintln(os.Stderr, "chaos:", err)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
}
