package embedded

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/ledger"
)

// The crash test re-executes the test binary as a child writer (selected by
// these variables in TestMain).
const (
	envCrashDir   = "EMBEDDED_CRASH_DIR"
	envCrashStart = "EMBEDDED_CRASH_START"
)

const (
	crashKills          = 24
	crashBatchTransfers = 64
)

var (
	crashSource = ledger.Uint128{Hi: 0xc0, Lo: 1}
	crashSink   = ledger.Uint128{Hi: 0xc0, Lo: 2}
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(envCrashDir); dir != "" {
		start, err := strconv.ParseUint(os.Getenv(envCrashStart), 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bad", envCrashStart, err)
			os.Exit(2)
		}
		crashChild(dir, start)
		return
	}
	os.Exit(m.Run())
}

// crashBatch is batch k of the crash test: a pending transfer, its post, and
// single-phase transfers, all with ids derived from k.
func crashBatch(k uint64) []ledger.Transfer {
	batch := make([]ledger.Transfer, crashBatchTransfers)
	for i := range batch {
		batch[i] = ledger.Transfer{ID: ledger.Uint128{Hi: k, Lo: uint64(i + 1)}, DebitAccountID: crashSource,
			CreditAccountID: crashSink, Amount: ledger.U128(1), Ledger: 1, Code: 1}
	}
	batch[0].Flags = ledger.TransferPending
	batch[1] = ledger.Transfer{ID: batch[1].ID, PendingID: batch[0].ID, Amount: ledger.AmountMax, Flags: ledger.TransferPostPendingTransfer}
	return batch
}

// crashChild applies batches start, start+1, … forever, printing "ack k"
// after batch k returned. It never returns: the parent kills it.
func crashChild(dir string, start uint64) {
	l, err := Open(Options{Dir: dir, CacheBytes: 16 << 20, MemTableBytes: 1 << 20})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	res, err := l.CreateAccounts(ctx, []ledger.Account{{ID: crashSource, Ledger: 1, Code: 1}, {ID: crashSink, Ledger: 1, Code: 1}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "accounts:", err)
		os.Exit(2)
	}
	for _, r := range res {
		if r.Result != ledger.AccountExists {
			fmt.Fprintln(os.Stderr, "accounts:", r.Result)
			os.Exit(2)
		}
	}
	fmt.Fprintln(os.Stdout, "ready")
	for k := start; ; k++ {
		res, err := l.CreateTransfers(ctx, crashBatch(k))
		if err != nil || len(res) != 0 {
			fmt.Fprintln(os.Stderr, "batch", k, res, err)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stdout, "ack %d\n", k)
	}
}

// TestCrashRecovery kills a writer with SIGKILL at random moments and checks,
// after each kill, that every acknowledged batch is there in full, that the
// batch in flight is there entirely or not at all, and that nothing else is.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: skipped in -short mode")
	}
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	next := uint64(1)
	for kill := range crashKills {
		// Every fourth kill counts its delay from the start, so it may come
		// while the child opens and recovers.
		duringOpen := kill%4 == 3
		acked := runChildUntilKilled(t, dir, next, time.Duration(30+r.IntN(300))*time.Millisecond, duringOpen)
		if acked != 0 && acked < next {
			t.Fatalf("kill %d: child acked %d before its start %d", kill, acked, next)
		}
		present := checkRecovered(t, dir, next, acked)
		t.Logf("kill %d: started at %d, acked up to %d, recovered up to %d", kill, next, acked, present)
		next = present + 1
	}
	if next < 10 {
		t.Errorf("only %d batches were written over %d kills: the child made no progress", next-1, crashKills)
	}
}

// runChildUntilKilled starts the writer at batch start, kills it delay after
// it is ready to write (or after its start, with duringOpen), and returns
// the last batch it acknowledged (0: none).
func runChildUntilKilled(t *testing.T, dir string, start uint64, delay time.Duration, duringOpen bool) uint64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envCrashDir+"="+dir, envCrashStart+"="+strconv.FormatUint(start, 10))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acks, ready := make(chan uint64, 1), make(chan struct{})
	go func() {
		var last uint64
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if k, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
				last, _ = strconv.ParseUint(k, 10, 64)
			} else if sc.Text() == "ready" {
				close(ready)
			}
		}
		acks <- last
	}()
	if !duringOpen {
		// The delay counts from the first write, so a slow start (open and
		// recovery) does not eat it and every such kill lands among writes.
		select {
		case <-ready:
		case <-acks:
			t.Fatal("child's stdout closed before it was ready")
		case <-time.After(30 * time.Second):
			t.Fatal("child not ready within 30 s")
		}
	}
	time.Sleep(delay)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("child ended before the kill: %v", err)
	}
	select {
	case last := <-acks:
		return last
	case <-time.After(10 * time.Second):
		t.Fatal("child's stdout did not close after the kill")
		return 0
	}
}

// checkRecovered reopens dir and checks batches start..acked are complete,
// acked+1 is all or nothing, and acked+2 is absent. It returns the last
// batch present.
func checkRecovered(t *testing.T, dir string, start, acked uint64) uint64 {
	t.Helper()
	l, err := Open(Options{Dir: dir, CacheBytes: 16 << 20, MemTableBytes: 1 << 20})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer func() {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	count := func(k uint64) int {
		batch := crashBatch(k)
		ids := make([]ledger.Uint128, len(batch))
		for i := range batch {
			ids[i] = batch[i].ID
		}
		got, err := l.LookupTransfers(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		return len(got)
	}
	last := start - 1
	if acked >= start {
		last = acked
	}
	for k := start; k <= last; k++ {
		if n := count(k); n != crashBatchTransfers {
			t.Fatalf("acknowledged batch %d has %d of %d transfers", k, n, crashBatchTransfers)
		}
	}
	switch n := count(last + 1); n {
	case 0:
	case crashBatchTransfers:
		last++
	default:
		t.Fatalf("in-flight batch %d is partial: %d of %d transfers", last+1, n, crashBatchTransfers)
	}
	if n := count(last + 1); n != 0 {
		t.Fatalf("batch %d, never sent, has %d transfers", last+1, n)
	}
	// Every present batch moved exactly crashBatchTransfers-1 units (the
	// pending and its post move one).
	if last > 0 {
		accts, err := l.LookupAccounts(ctx, []ledger.Uint128{crashSource})
		if err != nil || len(accts) != 1 {
			t.Fatalf("source account: %v %v", accts, err)
		}
		want := last * (crashBatchTransfers - 1)
		if a := accts[0]; a.DebitsPosted != ledger.U128(want) || !a.DebitsPending.IsZero() {
			t.Fatalf("source account after %d batches: posted %v pending %v, want %d and 0", last, a.DebitsPosted, a.DebitsPending, want)
		}
	}
	return last
}
