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

// settleTimeout bounds how long one sampled transfer is polled; one still
// open then is recorded at that age (a lower bound) and counted.
const settleTimeout = 60 * time.Second

// settlingMax bounds the sampled transfers polled at once (a goroutine
// each); a sample beyond it is counted and not polled.
const settlingMax = 4096

// sampleSettle polls a share (SettleSample) of accepted transfers until
// they are final and records accepted → final. Which transfers are sampled
// is decided first, so an answer already final (a re-send of a settled
// transfer) is recorded as 0 no more often than a pending one is polled.
// At most SettlePollers polls are in flight: a sample waits for a free
// one rather than being dropped when settlement is slow, so a slow poll
// can only make the figure larger than the truth, never hide a slow
// settlement.
func (r *runner) sampleSettle(u *user, a *answer) {
	if r.o.SettleSample <= 0 || rand.Float64() >= r.o.SettleSample {
		return
	}
	accepted := a.at
	if accepted.IsZero() {
		accepted = time.Now()
	}
	if a.state == "success" || a.state == "failed" {
		r.st.settled(0)
		return
	}
	if r.settling.Add(1) > settlingMax {
		r.settling.Add(-1)
		r.st.inc("settle_sample_skipped", 1)
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer r.settling.Add(-1)
		uri := "http://" + r.o.APIAddr + pathTransfer + "/" + a.requestID
		for {
			r.settle <- struct{}{}
			g := r.api.do("GET", uri, u.auth, nil)
			<-r.settle
			if g.status == 200 && (g.state == "success" || g.state == "failed") {
				r.st.settled(g.at.Sub(accepted))
				return
			}
			if age := time.Since(accepted); age >= settleTimeout {
				r.st.settled(age)
				r.st.inc("settle_sample_timeout", 1)
				return
			}
			time.Sleep(r.o.SettlePoll)
		}
	}()
}

// Result is one run's report.
type Result struct {
	StartedAt    time.Time        `json:"started_at"`
	Mode         string           `json:"mode"` // "open" (target rate) or "closed" (concurrency)
	TargetRate   float64          `json:"target_rate_per_s"`
	Concurrency  int              `json:"concurrency"`
	Users        int              `json:"users"`
	LoadSeconds  float64          `json:"load_seconds"`
	DrainSeconds float64          `json:"drain_seconds"`
	AcceptedPerS float64          `json:"accepted_per_s"` // 200s answered during the load phase
	AnsweredPerS float64          `json:"answered_per_s"` // definitive answers during the load phase
	Counts       map[string]int64 `json:"counts"`
	// Per transfer (see stats): due → definitive answer, with every
	// attempt and backoff before it and the generator's own lateness.
	LatencyTransfers Quantiles `json:"latency_transfers"`          // every transfer sent
	LatencyTransfer  Quantiles `json:"latency_transfers_accepted"` // those answered 200: the reports' figure
	SendLag          Quantiles `json:"send_lag"`                   // due → first attempt
	// Per HTTP attempt: its call → its answer.
	LatencyAll      Quantiles `json:"latency_all"`      // every attempt (failed ones at their elapsed time)
	LatencyAccepted Quantiles `json:"latency_accepted"` // attempts answered 200
	LatencyShed     Quantiles `json:"latency_shed"`     // attempts answered 429 or 503
	// AcceptedToFinal is sampled (see sampleSettle); SettleTimeouts of
	// the samples were still open after settleTimeout (recorded at that
	// age) and SettleSkipped were not polled.
	AcceptedToFinal Quantiles `json:"accepted_to_final"`
	SettleTimeouts  int64     `json:"settle_timeouts"`
	SettleSkipped   int64     `json:"settle_skipped"`
	// Dropped arrivals were never sent: the in-flight cap was reached, or
	// no user was idle. They are in no latency.
	Dropped          int64 `json:"dropped"`
	Violations       int64 `json:"violations"`
	UnknownOutcomes  int64 `json:"unknown_outcomes"`
	ExpectedRequests int   `json:"expected_requests"`
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
		UnknownOutcomes: counts["unknown_outcome"], SettleTimeouts: counts["settle_sample_timeout"],
		SettleSkipped: counts["settle_sample_skipped"], Dropped: counts["dropped_inflight_cap"] + counts["dropped_no_idle_user"]}
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
	res.LatencyTransfers, res.LatencyTransfer, res.SendLag = quantiles(r.st.transfers), quantiles(r.st.transfersOK), quantiles(r.st.lag)
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
// The latencies p50…max are of accepted transfers, from when each was due
// (see stats); "p99 attempt" is of the HTTP attempts answered 200 alone.
const MarkdownHeader = `| started (UTC) | mode | users | target/s | load s | offered | dropped | accepted/s | accepted | insufficient | rejected | unknown | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | p99 attempt ms | accepted→final p50 / p99 ms | violations |
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
	l := res.LatencyTransfer
	return fmt.Sprintf("| %s | %s | %d | %s | %.0f | %d | %d | %.0f | %d | %d | %d | %d | %.2f | %.2f | %.2f | %.2f | %.1f | %.2f | %s | %d |\n",
		res.StartedAt.Format("2006-01-02 15:04"), res.Mode, res.Users, target, res.LoadSeconds, res.Counts["offered"], dropped, res.AcceptedPerS,
		res.Counts["accepted"], res.Counts["failed_INSUFFICIENT_BALANCE"], rejected, res.UnknownOutcomes,
		l.P50, l.P90, l.P99, l.P999, l.Max, res.LatencyAccepted.P99, res.SettleCell(), res.Violations)
}

// SettleCell is accepted→final as a table cell: "p50 / p99" in ms, then
// the samples that were never final or never polled, when there were any
// (the quantiles then understate the truth).
func (res *Result) SettleCell() string {
	c := fmt.Sprintf("%.1f / %.1f", res.AcceptedToFinal.P50, res.AcceptedToFinal.P99)
	if res.SettleTimeouts > 0 {
		c += fmt.Sprintf(", %d still open at %.0f s", res.SettleTimeouts, settleTimeout.Seconds())
	}
	if res.SettleSkipped > 0 {
		c += fmt.Sprintf(", %d not polled", res.SettleSkipped)
	}
	return c
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
