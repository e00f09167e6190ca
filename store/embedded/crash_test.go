package embedded

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/exchange/internal-transfer/store"
)

// The crash test re-executes the test binary as a child that writes to a
// store until the parent SIGKILLs it; the child prints a line for every write
// the store acknowledged. After each kill the parent reopens the store and
// checks every acknowledged write is there and every request present is
// whole (request, history, open and idempotency entries together).
const (
	crashChildEnv  = "EMBEDDED_CRASH_CHILD_DIR"
	crashRoundEnv  = "EMBEDDED_CRASH_ROUND"
	crashRoundsEnv = "EMBEDDED_CRASH_ROUNDS" // default crashRounds
	crashRounds    = 24
	crashRoundsMin = 20 // rounds that must fit in crashBudget
	crashWriters   = 16
	crashBudget    = 3 * time.Minute // about 30 s here; room for a slow CI disk
	// Under -race a round took 6–20 s instead of about 1 s (each round
	// re-reads everything stored so far), so a race-enabled run does
	// crashRoundsRace rounds by default.
	crashRoundsRace = 5
	crashBudgetRace = 3 * time.Minute
	crashReadyAfter = 10 * time.Second
)

func TestCrash(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(t, dir)
		return
	}
	if testing.Short() {
		t.Skip("crash test re-executes the binary 20+ times; skipped in -short")
	}
	rounds, roundsMin, budget := crashRounds, crashRoundsMin, crashBudget
	if raceEnabled { // fewer, slower rounds: -race is there to find races
		rounds, roundsMin, budget = crashRoundsRace, crashRoundsRace, crashBudgetRace
	}
	if v, err := strconv.Atoi(os.Getenv(crashRoundsEnv)); err == nil && v > 0 {
		rounds = v
	}
	dir := t.TempDir()
	acked := map[uint64]store.Status{} // every acknowledged status per request
	deadline := time.Now().Add(budget)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	ran, acking := 0, 0
	for round := range rounds {
		if time.Now().After(deadline) {
			if round < roundsMin {
				t.Fatalf("only %d rounds within %s, want at least %d", round, budget, roundsMin)
			}
			t.Logf("stopping after %d rounds: %s budget spent", round, budget)
			break
		}
		n := crashRound(t, dir, round, time.Duration(20+rng.IntN(280))*time.Millisecond, acked)
		verifyCrashed(t, dir, acked)
		t.Logf("round %d: %d acknowledged writes, %d requests so far", round, n, len(acked))
		ran++
		if n > 0 {
			acking++
		}
	}
	// A kill may land before the child's first acknowledgement (a slow
	// first fsync on a busy machine); that is a crash point too. Most
	// rounds must have acknowledged writes for the test to check them.
	if acking < (ran+1)/2 {
		t.Errorf("only %d of %d rounds acknowledged a write before the kill", acking, ran)
	}
}

// crashRound runs one child for about runFor after it is ready, kills it and
// records what it acknowledged; it returns the number of acknowledgements.
func crashRound(t *testing.T, dir string, round int, runFor time.Duration, acked map[uint64]store.Status) int {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashRoundEnv+"="+strconv.Itoa(round))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("stdout pipe: %v", err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	ready := make(chan struct{})
	var lines []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "READY" {
				close(ready)
				continue
			}
			lines = append(lines, sc.Text())
		}
	}()
	select {
	case <-ready:
	case <-time.After(crashReadyAfter):
		_ = cmd.Process.Kill()
		t.Fatalf("round %d: child not ready within %s", round, crashReadyAfter)
	}
	time.Sleep(runFor)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill child: %v", err)
	}
	wg.Wait()
	_ = cmd.Wait()
	n := 0
	for _, l := range lines {
		var id uint64
		var st store.Status
		if _, err := fmt.Sscanf(l, "ACK %d %d", &id, &st); err != nil {
			continue // test framework output
		}
		if st > acked[id] {
			acked[id] = st
		}
		n++
	}
	return n
}

// crashChild writes transfers (create with key, pending, final) from several
// goroutines until killed, acknowledging each write on stdout.
func crashChild(t *testing.T, dir string) {
	round, _ := strconv.Atoi(os.Getenv(crashRoundEnv))
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("child open: %v", err)
	}
	fmt.Println("READY")
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range crashWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := uint64(0); ; i++ {
				id := uint64(round+1)<<40 | uint64(w)<<32 | i
				crashTransfer(ctx, s, id)
			}
		}()
	}
	wg.Wait()
}

func crashTransfer(ctx context.Context, s *Store, id uint64) {
	user := id%97 + 1
	r := store.Request{ID: id, UserID: user, ToUserID: id%89 + 1, Asset: "BTC", Amount: id,
		IdempotencyKey: "k" + strconv.FormatUint(id, 36), CreatedAt: time.Now()}
	if _, created, err := s.Create(ctx, r); err != nil || !created {
		panic(fmt.Sprintf("child create %d: created %v, err %v", id, created, err))
	}
	fmt.Printf("ACK %d %d\n", id, store.StatusRequesting)
	for _, to := range []store.Status{store.StatusPending, store.Status(3 + id%2)} {
		if _, err := s.Advance(ctx, id, to, store.Outcome{ErrorCode: "X"}); err != nil {
			panic(fmt.Sprintf("child advance %d: %v", id, err))
		}
		fmt.Printf("ACK %d %d\n", id, to)
	}
}

// verifyCrashed reopens the store and checks it against what was
// acknowledged and against itself.
func verifyCrashed(t *testing.T, dir string, acked map[uint64]store.Status) {
	t.Helper()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	for id, st := range acked {
		r, err := s.Get(ctx, id)
		if err != nil {
			t.Fatalf("acknowledged request %d: %v", id, err)
		}
		if r.Status < st {
			t.Fatalf("request %d is %s, acknowledged %s", id, r.Status, st)
		}
	}
	verifyWhole(t, s)
}

// verifyWhole checks every request has exactly its index entries, every
// index entry has its request, and the open counters match the open index.
func verifyWhole(t *testing.T, s *Store) {
	t.Helper()
	want := map[string]bool{} // index keys the requests imply
	var open store.OpenCounts
	forEach(t, s.db, prefixRequest, func(k, v []byte) {
		r, err := decodeRequest(v)
		if err != nil {
			t.Fatalf("request %x: %v", k, err)
		}
		for _, user := range []uint64{r.UserID, r.ToUserID} {
			hk := historyKey(user, r.CreatedAt, r.ID)
			want[string(hk)] = true
			entry, found, err := get(s.db, hk)
			if err != nil || !found || len(entry) != 0 { // entries name their request; they hold nothing
				t.Fatalf("request %d (%s): history entry for user %d found %v, %d bytes, err %v: missing or damaged",
					r.ID, r.Status, user, found, len(entry), err)
			}
		}
		if !r.Status.Final() {
			want[string(openKey(r.CreatedAt, r.ID))] = true
		}
		switch r.Status {
		case store.StatusRequesting:
			open.Requesting++
		case store.StatusPending:
			open.Pending++
		}
		idv, found, err := get(s.db, idemKey(r.UserID, r.IdempotencyKey))
		if id, _, ok := decodeIdemValue(idv); err != nil || !found || !ok || id != r.ID {
			t.Fatalf("request %d: idempotency key found %v, err %v", r.ID, found, err)
		}
	})
	got := map[string]bool{}
	for _, p := range []byte{prefixHistory, prefixOpen} {
		forEach(t, s.db, p, func(k, _ []byte) { got[string(k)] = true })
	}
	for k := range want {
		if !got[k] {
			t.Fatalf("index entry %x missing for its request", k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Fatalf("index entry %x without its request", k)
		}
	}
	forEach(t, s.db, prefixIdemKey, func(k, v []byte) {
		id, _, ok := decodeIdemValue(v)
		if _, found, err := get(s.db, requestKey(id)); !ok || !found || err != nil {
			t.Fatalf("idempotency key %x points to missing request %d", k, id)
		}
	})
	if r, p, ok := s.counts.get(); !ok || r != open.Requesting || p != open.Pending {
		t.Fatalf("counters %d/%d (trusted %v), requests say %d/%d", r, p, ok, open.Requesting, open.Pending)
	}
}

// forEach calls fn for every key with the one-byte prefix p.
func forEach(t *testing.T, db *pebble.DB, p byte, fn func(k, v []byte)) {
	t.Helper()
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{p}, UpperBound: []byte{p + 1}})
	if err != nil {
		t.Fatalf("iter: %v", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		fn(it.Key(), it.Value())
	}
	if err := it.Error(); err != nil {
		t.Fatalf("iter: %v", err)
	}
}
