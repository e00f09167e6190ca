package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
)

// tableHeader is the header of the driver's markdown table. The latencies
// p50…max are of accepted transfers, each from when it was due to its 200,
// with any failed attempts and backoff before it (load.Result.LatencyTransfer);
// dropped arrivals were never sent (the generator's in-flight cap, or no
// idle user).
const tableHeader = `| run | mode | users | target/s | accepted/s | accepted | insufficient | rejected | unknown | dropped | 429/503 answers (p99 ms) | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | accepted→final p50 / p99 ms | drain s | CPU cores: service (µs/attempt) · loadgen · box | kills | max RSS MB | verify |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
`

// row is the summary as a markdown table row.
func (s *summary) row(label string) string {
	if s.Load == nil {
		return fmt.Sprintf("| %s | %s | — | — | — | — | — | — | — | — | — | — | — | — | — | — | — | — | — | %d | %.0f | %s |\n",
			label, s.Mode, s.Cycles, s.MaxRSSMB, verdict(s))
	}
	r := s.Load
	var rejected int64
	for k, v := range r.Counts {
		if strings.HasPrefix(k, "rejected_") {
			rejected += v
		}
	}
	target := fmt.Sprintf("%.0f", r.TargetRate)
	if r.Mode == "closed" {
		target = fmt.Sprintf("max (c=%d)", r.Concurrency)
	}
	l := r.LatencyTransfer
	return fmt.Sprintf("| %s | %s | %d | %s | %.0f | %d | %d | %d | %d | %d | %d (%.1f) | %.2f | %.2f | %.2f | %.2f | %.1f | %s | %.1f | %s | %d | %.0f | %s |\n",
		label, s.Mode, r.Users, target, r.AcceptedPerS, r.Counts["accepted"], r.Counts["failed_INSUFFICIENT_BALANCE"],
		rejected, r.UnknownOutcomes, r.Dropped, r.Counts["attempt_http_429"]+r.Counts["attempt_http_503"], r.LatencyShed.P99, l.P50, l.P90, l.P99, l.P999, l.Max, r.SettleCell(),
		s.SettleS, cpuCell(s.CPU), s.Cycles, s.MaxRSSMB, verdict(s))
}

func cpuCell(c cpuUse) string {
	if c.BoxBusyCores == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f (%.0f) · %.2f · %.2f", c.ServiceCores, c.ServiceUSPer, c.LoadgenCores, c.BoxBusyCores)
}

// ok reports whether the run passed: verify found nothing, the generator
// saw no broken promise and the run showed what its mode is for.
func (s *summary) ok() bool {
	return s.VerifyOK && s.LoadgenFail == "" && s.CheckFail == "" && (s.Load == nil || s.Load.Violations == 0)
}

// verdict is the run's last cell: OK or FAILED, with the violations verify
// found in the data and those the generator saw in the answers.
func verdict(s *summary) string {
	v := "FAILED"
	if s.ok() {
		v = "OK"
	}
	if s.Load != nil {
		v += fmt.Sprintf(" (%d requests, %d violations", s.Requests, s.VerifyViolations)
		if s.Load.Violations > 0 {
			v += fmt.Sprintf(", %d seen by the generator", s.Load.Violations)
		}
		v += ")"
	}
	return v
}

// appendMarkdown appends the row to path, with the header when the file
// does not end inside a table.
func (s *summary) appendMarkdown(path, label string) error {
	old, _ := os.ReadFile(path)
	lines := bytes.Split(bytes.TrimRight(old, "\n"), []byte("\n"))
	text := s.row(label)
	if len(lines) == 0 || !bytes.HasPrefix(lines[len(lines)-1], []byte("|")) {
		text = "\n" + tableHeader + text
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("cannot open %s: %w", path, err)
	}
	defer f.Close()
	_, err = f.WriteString(text)
	return err
}

// writeJSON keeps the summary beside the run's data.
func (s *summary) writeJSON(path string) error {
	raw, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o644)
}

// median reads several runs' summary.json and returns the one with the
// median accepted rate, and the medians of p99 and accepted→final p99.
func median(paths []string) (string, error) {
	var runs []*summary
	unread := 0 // runs that left no summary with a load result: failed
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		s := &summary{}
		if err != nil || json.Unmarshal(raw, s) != nil || s.Load == nil {
			unread++
			continue
		}
		runs = append(runs, s)
	}
	// A failed run's figures are not the service's: they stay out of the
	// medians, and the line says how many there were.
	failed := unread
	for i := 0; i < len(runs); {
		if runs[i].ok() {
			i++
			continue
		}
		failed++
		runs = slices.Delete(runs, i, i+1)
	}
	if len(runs) == 0 {
		return "", fmt.Errorf("no run passed (%d failed)", failed)
	}
	pick := func(f func(*summary) float64) float64 {
		v := make([]float64, len(runs))
		for i, s := range runs {
			v[i] = f(s)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	of := fmt.Sprintf("%d runs", len(runs))
	if failed > 0 {
		of = fmt.Sprintf("%d passed runs (%d failed, left out)", len(runs), failed)
	}
	line := fmt.Sprintf("median of %s: accepted/s %.0f, p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, accepted→final p50 %.1f ms, p99 %.1f ms, max RSS %.0f MB",
		of, pick(func(s *summary) float64 { return s.Load.AcceptedPerS }),
		pick(func(s *summary) float64 { return s.Load.LatencyTransfer.P50 }),
		pick(func(s *summary) float64 { return s.Load.LatencyTransfer.P99 }),
		pick(func(s *summary) float64 { return s.Load.LatencyTransfer.P999 }),
		pick(func(s *summary) float64 { return s.Load.AcceptedToFinal.P50 }),
		pick(func(s *summary) float64 { return s.Load.AcceptedToFinal.P99 }),
		pick(func(s *summary) float64 { return s.MaxRSSMB }))
	// WAL figures: medians of the runs that have them.
	var walRuns []*summary
	for _, s := range runs {
		if s.WAL.FsyncsPerS > 0 {
			walRuns = append(walRuns, s)
		}
	}
	if len(walRuns) > 0 {
		runs = walRuns
		line += fmt.Sprintf(", WAL %.0f fsyncs/s of %.3f ms mean (%.2f per accepted transfer), %.0f write stalls",
			pick(func(s *summary) float64 { return s.WAL.FsyncsPerS }),
			pick(func(s *summary) float64 { return s.WAL.MeanMS }),
			pick(func(s *summary) float64 { return s.WAL.PerAccepted }),
			pick(func(s *summary) float64 { return s.WAL.Stalls }))
	}
	return line, nil
}
