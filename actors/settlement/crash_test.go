package settlement

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/exchange/internal-transfer/store"
)

// Crash points, each run in a child process that SIGKILLs itself there. The
// broker runs in the parent, as a separate Kafka would; the child owns the
// ledger and store directories. After the kill the parent restarts
// settlement on the same directories and every request must end final and
// agree with the ledger.
const (
	crashAfterPost  = "after-ledger-post"  // post applied, store not updated
	crashAfterStore = "after-store-update" // store updated, offset not committed
	crashAfterHold  = "after-hold"         // hold and pending written, never published
	envCrashPoint   = "SETTLEMENT_CRASH_POINT"
	envCrashDir     = "SETTLEMENT_CRASH_DIR"
)

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("child-process crash tests skipped in -short mode")
	}
	for _, point := range []string{crashAfterPost, crashAfterStore, crashAfterHold} {
		t.Run(point, func(t *testing.T) {
			dir := t.TempDir()
			setup := openEnv(t, dir, 2, true)
			setup.fund(1, 1_000)
			broker := setup.broker
			setup.broker = nil
			setup.close() // the child opens the ledger and store
			t.Cleanup(broker.Close)

			runCrashChild(t, dir, point)
			ids := readIDs(t, dir)
			if len(ids) == 0 {
				t.Fatal("child recorded no request")
			}

			e := openEnv(t, dir, 2, false)
			opts := e.options(200 * time.Millisecond)
			opts.Consumer.InstanceID = "crash-member"
			svc := e.startService(opts)
			final := e.waitFinal(waitMax, ids...)
			var want uint64
			for id, r := range final {
				if r.Status != store.StatusSuccess {
					t.Errorf("request %d ended %s %s", id, r.Status, r.ErrorCode)
				}
				want += r.Amount
			}
			e.checkAgrees(svc.Settler(), final)
			if dp, dpend, _, _ := e.balances(e.accountID(1, "funding")); dp != want || dpend != 0 {
				t.Fatalf("debits posted %d pending %d, want %d 0", dp, dpend, want)
			}
			if point != crashAfterHold {
				// The unacknowledged record came back and was settled again.
				for deadline := time.Now().Add(waitMax); svc.consumer.settled.Load() == 0; time.Sleep(10 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatal("the uncommitted record was never delivered again")
					}
				}
			}
		})
	}
}

func runCrashChild(t *testing.T, dir, point string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), envCrashPoint+"="+point, envCrashDir+"="+dir)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("child ended without being killed: %v\n%s", err, out)
	}
	status, ok := exit.Sys().(syscall.WaitStatus)
	if !ok || !status.Signaled() || status.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL\n%s", err, out)
	}
}

// TestCrashChild is the child process of TestCrashRecovery; it does nothing
// unless started by it.
func TestCrashChild(t *testing.T) {
	point, dir := os.Getenv(envCrashPoint), os.Getenv(envCrashDir)
	if point == "" || dir == "" {
		t.Skip("runs only as TestCrashRecovery's child process")
	}
	e := openEnv(t, dir, 2, false)
	kill := func() {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	if point == crashAfterHold {
		req := e.create(e.request(1, 1, 70, 0))
		writeID(t, dir, req.ID)
		e.hold(req)
		e.markPending(req)
		kill() // the gateway dies before producing the record
	}
	opts := e.options(time.Hour)
	opts.Consumer.InstanceID = "crash-member"
	svc := NewService(opts)
	switch point {
	case crashAfterPost:
		svc.settler.afterLedger = func(store.Request) { kill() }
	case crashAfterStore:
		svc.consumer.afterSettle = func(*kgo.Record) { kill() }
	default:
		t.Fatalf("unknown crash point %q", point)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		req := e.create(e.request(1, 1, uint64(50+i), 0))
		writeID(t, dir, req.ID)
		e.hold(req)
		e.publish(e.markPending(req))
	}
	time.Sleep(30 * time.Second)
	t.Fatal("crash point never reached")
}

func writeID(t *testing.T, dir string, id uint64) {
	f, err := os.OpenFile(filepath.Join(dir, "ids"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := fmt.Fprintln(f, id); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func readIDs(t *testing.T, dir string) []uint64 {
	f, err := os.Open(filepath.Join(dir, "ids"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ids []uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		id, err := strconv.ParseUint(sc.Text(), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}
