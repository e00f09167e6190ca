package settlement

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/store"
)

// slowReads is a store whose Get takes d (or until ctx ends): a remote
// store that slowed down.
type slowReads struct {
	store.Store
	d time.Duration
}

func (s slowReads) Get(ctx context.Context, id uint64) (store.Request, error) {
	select {
	case <-time.After(s.d):
	case <-ctx.Done():
		return store.Request{}, ctx.Err()
	}
	return s.Store.Get(ctx, id)
}

// settleQueued publishes n transfers, starts a service on a store whose
// reads take read, and returns the requests and the restarts of partition
// actors so far.
func settleQueued(t *testing.T, n int, read, recordTimeout time.Duration, stepMax int) (*env, []store.Request, uint64) {
	e := newEnv(t, "", 1)
	e.fund(1, 1_000_000)
	var reqs []store.Request
	for range n {
		reqs = append(reqs, e.transfer(1, 1, 10))
	}
	opts := e.options(time.Hour)
	opts.Settler.Store = slowReads{Store: e.store, d: read}
	opts.Consumer.RecordTimeout = recordTimeout
	opts.Consumer.StepRecordsMax = stepMax
	restarts := restartsTotal.Get()
	e.startService(opts)
	return e, reqs, restarts
}

func ids(reqs []store.Request) []uint64 {
	out := make([]uint64, len(reqs))
	for i, r := range reqs {
		out[i] = r.ID
	}
	return out
}

// A batch's requests are read a few at once: 60 reads of 20 ms one after
// another (1.2 s) outlast the batch's 500 ms deadline every time; the first
// alone and the rest 16 at once take about 100 ms, and the batch settles at
// the first attempt.
func TestBatchReadsRequestsAtOnce(t *testing.T) {
	e, reqs, restarts := settleQueued(t, 60, 20*time.Millisecond, 500*time.Millisecond, 256)
	e.waitFinal(waitMax, ids(reqs)...)
	if n := restartsTotal.Get() - restarts; n != 0 {
		t.Fatalf("%d partition actor restarts, want the batch settled at the first attempt", n)
	}
}

// A batch too large to settle within RecordTimeout (400 reads of 50 ms, 16
// at once: 1.25 s, against 600 ms) halves the next attempt until one fits,
// instead of failing whole for ever.
func TestFailedBatchesShrink(t *testing.T) {
	e, reqs, restarts := settleQueued(t, 400, 50*time.Millisecond, 600*time.Millisecond, 400)
	e.waitFinal(waitMax, ids(reqs)...)
	if restartsTotal.Get() == restarts {
		t.Fatal("no partition actor restart: the first batch of 400 should not fit in its deadline")
	}
}

// A panic in one of a batch's reads or writes becomes that record's error;
// the other records are still done, and the process lives on.
func TestEachAtOnceRecoversAPanic(t *testing.T) {
	done := make([]bool, 40)
	errs := make([]error, 40)
	eachAtOnce(len(done), func(i int) {
		if i == 7 {
			panic("store bug")
		}
		done[i] = true
	}, func(i int, err error) { errs[i] = err })
	for i := range done {
		switch {
		case i == 7 && (errs[i] == nil || !strings.Contains(errs[i].Error(), "store bug")):
			t.Fatalf("record 7 panicked and got error %v", errs[i])
		case i != 7 && (!done[i] || errs[i] != nil):
			t.Fatalf("record %d: done %v, error %v", i, done[i], errs[i])
		}
	}
}
