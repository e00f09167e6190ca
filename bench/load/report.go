package load

import (
	"cmp"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/exchange/internal-transfer/bench/verify"
)

// settleTimeout bounds how long one sampled transfer is polled.
const settleTimeout = 60 * time.Second

// sampleSettle polls a share of accepted transfers until they are final and
// records accepted → final. Pollers are bounded; a sample that finds none
// free is skipped.
func (r *runner) sampleSettle(u *user, a *answer) {
	accepted := time.Now()
	if a.state == "success" {
		r.st.settled(0)
		return
	}
	if r.o.SettleSample <= 0 || rand.Float64() >= r.o.SettleSample {
		return
	}
	select {
	case r.settle <- struct{}{}:
	default:
		r.st.inc("settle_sample_skipped", 1)
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() { <-r.settle }()
		uri := "http://" + r.o.APIAddr + pathTransfer + "/" + a.requestID
		for time.Since(accepted) < settleTimeout {
			g := r.api.do("GET", uri, u.auth, nil)
			if g.status == 200 && (g.state == "success" || g.state == "failed") {
				r.st.settled(time.Since(accepted))
				return
			}
			time.Sleep(r.o.SettlePoll)
		}
		r.st.inc("settle_sample_timeout", 1)
	}()
}

// Result is one run's report.
type Result struct {
	StartedAt        time.Time        `json:"started_at"`
	Mode             string           `json:"mode"` // "open" (target rate) or "closed" (concurrency)
	TargetRate       float64          `json:"target_rate_per_s"`
	Concurrency      int              `json:"concurrency"`
	Users            int              `json:"users"`
	LoadSeconds      float64          `json:"load_seconds"`
	DrainSeconds     float64          `json:"drain_seconds"`
	AcceptedPerS     float64          `json:"accepted_per_s"` // 200s answered during the load phase
	AnsweredPerS     float64          `json:"answered_per_s"` // definitive answers during the load phase
	Counts           map[string]int64 `json:"counts"`
	LatencyAll       Quantiles        `json:"latency_all"`      // every attempt answered
	LatencyAccepted  Quantiles        `json:"latency_accepted"` // attempts answered 200
	AcceptedToFinal  Quantiles        `json:"accepted_to_final"`
	LatencyShed      Quantiles        `json:"latency_shed"` // attempts answered 429 or 503
	Violations       int64            `json:"violations"`
	UnknownOutcomes  int64            `json:"unknown_outcomes"`
	ExpectedRequests int              `json:"expected_requests"`
	// Timeline is the accepted answers per second (see Second); SlowSeconds
	// is how many of those seconds hold half of all the answers slower than
	// SlowMS: few means the tail came in bursts.
	Timeline    []Second `json:"timeline"`
	SlowSeconds int      `json:"slow_half_in_seconds"`
}

func (r *runner) result(start, end, drained time.Time) *Result {
	counts := r.st.snapshot()
	load := end.Sub(start).Seconds()
	res := &Result{StartedAt: start.UTC(), Mode: "open", TargetRate: r.o.Rate, Concurrency: r.o.Concurrency,
		Users: r.o.Users, LoadSeconds: load, DrainSeconds: drained.Sub(end).Seconds(), Counts: counts,
		AcceptedPerS: float64(counts["accepted_in_load"]) / load, AnsweredPerS: float64(counts["answered_in_load"]) / load,
		UnknownOutcomes: counts["unknown_outcome"]}
	if r.o.Rate == 0 {
		res.Mode = "closed"
	}
	for k, v := range counts {
		if strings.HasPrefix(k, "violation_") {
			res.Violations += v
		}
	}
	r.st.mu.Lock()
	res.LatencyAll, res.LatencyAccepted, res.AcceptedToFinal = quantiles(r.st.all), quantiles(r.st.accepted), quantiles(r.st.settle)
	res.LatencyShed = quantiles(r.st.shed)
	res.Timeline = slices.Clone(r.st.seconds)
	r.st.mu.Unlock()
	res.SlowSeconds = slowHalfSeconds(res.Timeline)
	r.expMu.Lock()
	res.ExpectedRequests = len(r.exp)
	r.expMu.Unlock()
	return res
}

// slowHalfSeconds is the fewest seconds of timeline that together hold at
// least half of its answers slower than SlowMS (0 when there are none).
func slowHalfSeconds(timeline []Second) int {
	slow := make([]int64, 0, len(timeline))
	var total int64
	for _, s := range timeline {
		slow = append(slow, s.Slow)
		total += s.Slow
	}
	if total == 0 {
		return 0
	}
	slices.SortFunc(slow, func(a, b int64) int { return cmp.Compare(b, a) })
	var sum int64
	for i, n := range slow {
		sum += n
		if 2*sum >= total {
			return i + 1
		}
	}
	return len(slow)
}

// expectations are the exact books after the run.
func (r *runner) expectations() *verify.Expectations {
	e := &verify.Expectations{Users: make([]uint64, 0, len(r.users))}
	for _, u := range r.users {
		u.mu.Lock()
		e.Users = append(e.Users, u.id)
		if u.unknown {
			e.Inexact = append(e.Inexact, u.id)
		}
		for acct, bal := range u.bal {
			if bal != 0 {
				e.Balances = append(e.Balances, verify.ExpectedBalance{User: u.id, AccountType: accountNames[acct],
					Asset: r.o.Asset, Balance: fmt.Sprint(bal)})
			}
		}
		u.mu.Unlock()
	}
	r.expMu.Lock()
	e.Requests = append([]verify.ExpectedRequest(nil), r.exp...)
	r.expMu.Unlock()
	return e
}

// MarkdownHeader is the header of the table MarkdownRow writes rows of.
// Offered counts arrivals (open loop) or turns of the workers (closed
// loop); dropped counts those that sent nothing: over the in-flight cap, no
// idle user found, no funds, or the recipient busy.
const MarkdownHeader = `| started (UTC) | mode | users | target/s | load s | offered | dropped | accepted/s | accepted | insufficient | rejected | unknown | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | p99 all ms | accepted→final p50 / p99 ms | violations |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
`

// MarkdownRow is the result as one table row.
func (res *Result) MarkdownRow() string {
	var rejected, dropped int64
	for k, v := range res.Counts {
		switch {
		case strings.HasPrefix(k, "rejected_"):
			rejected += v
		case strings.HasPrefix(k, "dropped_") || strings.HasPrefix(k, "skipped_"):
			dropped += v
		}
	}
	target := fmt.Sprintf("%.0f", res.TargetRate)
	if res.Mode == "closed" {
		target = fmt.Sprintf("max (c=%d)", res.Concurrency)
	}
	l := res.LatencyAccepted
	return fmt.Sprintf("| %s | %s | %d | %s | %.0f | %d | %d | %.0f | %d | %d | %d | %d | %.2f | %.2f | %.2f | %.2f | %.1f | %.2f | %.1f / %.1f | %d |\n",
		res.StartedAt.Format("2006-01-02 15:04"), res.Mode, res.Users, target, res.LoadSeconds, res.Counts["offered"], dropped, res.AcceptedPerS,
		res.Counts["accepted"], res.Counts["failed_INSUFFICIENT_BALANCE"], rejected, res.UnknownOutcomes,
		l.P50, l.P90, l.P99, l.P999, l.Max, res.LatencyAll.P99, res.AcceptedToFinal.P50, res.AcceptedToFinal.P99, res.Violations)
}

// AppendMarkdown appends the row to path, writing the header first when the
// file is new or empty.
func (res *Result) AppendMarkdown(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("cannot open %s: %w", path, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() == 0 {
		if _, err := io.WriteString(f, MarkdownHeader); err != nil {
			return err
		}
	}
	_, err = io.WriteString(f, res.MarkdownRow())
	return err
}
