// Command fsyncprobe measures what one durable write costs on the disk
// under a directory: a small write followed by fdatasync, repeated, as a
// write-ahead log does. Every acknowledged transfer waits for such syncs
// (the embedded store's and ledger's shared Pebble WAL), so their latency is
// the floor under the service's latency and the store's throughput; this
// probe measures that floor alone, with nothing else running on the disk
// from this process.
//
// It runs four cases and prints a markdown table:
//   - overwrite, back to back: the file's blocks were written before (a
//     recycled WAL); the next sync starts as soon as the last returns.
//   - overwrite, paused: the same with a time.Sleep(100 µs) between syncs,
//     as a lightly loaded log idles between them. The table names the pause
//     the sleep really took: a Go timer under a millisecond fires after
//     about 1.1 ms when nothing else in the process runs.
//   - append, back to back: each write extends the file (a new WAL).
//   - preallocated, back to back: writes into fallocate'd, unwritten space.
//
// Usage:
//
//	fsyncprobe -dir data -duration 5s -record 16384
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	dir := flag.String("dir", ".", "directory on the disk to probe (a scratch file is created and removed there)")
	duration := flag.Duration("duration", 5*time.Second, "time per case")
	record := flag.Int("record", 16<<10, "bytes written before each sync")
	flag.Parse()
	if err := run(*dir, *duration, *record); err != nil {
		fmt.Fprintln(os.Stderr, "fsyncprobe:", err)
		os.Exit(1)
	}
}

// fileMax bounds the scratch file: an overwrite case that reaches it starts
// again from the beginning, an append or preallocated one stops there.
const fileMax = 64 << 20

type probeCase struct {
	name  string
	setup func(f *os.File) error
	pause time.Duration
	wrap  bool // overwrite from the start when fileMax is reached
}

// cases are the probe's cases, in the order they run.
func cases() []probeCase {
	return []probeCase{
		{name: "overwrite, back to back", setup: zeroFill, wrap: true},
		{name: "overwrite, paused", setup: zeroFill, pause: 100 * time.Microsecond, wrap: true},
		{name: "append, back to back", setup: func(*os.File) error { return nil }},
		{name: "preallocated, back to back", setup: func(f *os.File) error {
			return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, 0, fileMax)
		}},
	}
}

func run(dir string, duration time.Duration, record int) error {
	if record <= 0 || record > fileMax {
		return fmt.Errorf("-record %d: want 1..%d", record, fileMax)
	}
	if duration <= 0 {
		return errors.New("-duration must be positive")
	}
	fmt.Printf("fdatasync after each %d-byte write, %s per case, in %s\n\n", record, duration, dir)
	fmt.Println("| case | syncs | syncs/s (wall) | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, c := range cases() {
		lat, elapsed, pause, err := probe(dir, c, duration, record)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		name := c.name
		if c.pause > 0 {
			name = fmt.Sprintf("%s (time.Sleep(%v) took %.0f µs)", name, c.pause, float64(pause.Nanoseconds())/1e3)
		}
		slices.Sort(lat)
		q := func(p float64) string {
			return fmt.Sprintf("%.0f", float64(lat[int(p*float64(len(lat)-1))].Nanoseconds())/1e3)
		}
		fmt.Printf("| %s | %d | %.0f | %s | %s | %s | %s | %s |\n", name, len(lat),
			float64(len(lat))/elapsed.Seconds(), q(0.5), q(0.9), q(0.99), q(0.999), q(1))
	}
	return nil
}

// probe runs one case on a fresh scratch file and returns each sync's
// latency, the time the case's writes, syncs and pauses took, and the
// median pause.
func probe(dir string, c probeCase, duration time.Duration, record int) (lat []time.Duration, elapsed, pause time.Duration, err error) {
	path := filepath.Join(dir, fmt.Sprintf(".fsyncprobe-%d", os.Getpid()))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, 0, 0, err
	}
	defer os.Remove(path)
	defer f.Close()
	if err := c.setup(f); err != nil {
		return nil, 0, 0, err
	}
	if err := f.Sync(); err != nil {
		return nil, 0, 0, err
	}
	buf := make([]byte, record)
	var pauses []time.Duration
	var off int64
	begin := time.Now()
	end := begin.Add(duration)
	for time.Now().Before(end) {
		if off+int64(record) > fileMax {
			if !c.wrap {
				break
			}
			off = 0
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			return nil, 0, 0, err
		}
		off += int64(record)
		start := time.Now()
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return nil, 0, 0, err
		}
		lat = append(lat, time.Since(start))
		if c.pause > 0 {
			slept := time.Now()
			time.Sleep(c.pause)
			pauses = append(pauses, time.Since(slept))
		}
	}
	if len(lat) == 0 {
		return nil, 0, 0, errors.New("no sync completed")
	}
	if len(pauses) > 0 {
		slices.Sort(pauses)
		pause = pauses[len(pauses)/2]
	}
	return lat, time.Since(begin), pause, nil
}

// zeroFill writes the whole scratch file once, so later writes overwrite
// written blocks.
func zeroFill(f *os.File) error {
	zero := make([]byte, 1<<20)
	for off := int64(0); off < fileMax; off += int64(len(zero)) {
		if _, err := f.WriteAt(zero, off); err != nil {
			return err
		}
	}
	return nil
}
