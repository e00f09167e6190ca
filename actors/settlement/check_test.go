package settlement

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/store"
)

// waitFinal waits until every request is final and returns them by id.
func (e *env) waitFinal(within time.Duration, ids ...uint64) map[uint64]store.Request {
	e.t.Helper()
	deadline := time.Now().Add(within)
	out := make(map[uint64]store.Request, len(ids))
	for {
		for _, id := range ids {
			if _, ok := out[id]; ok {
				continue
			}
			req, err := e.store.Get(context.Background(), id)
			if err != nil {
				e.t.Fatalf("get %d: %v", id, err)
			}
			if req.Status.Final() {
				out[id] = req
			}
		}
		if len(out) == len(ids) {
			return out
		}
		if time.Now().After(deadline) {
			for _, id := range ids {
				if _, ok := out[id]; !ok {
					req, _ := e.store.Get(context.Background(), id)
					e.t.Fatalf("request %d still %s after %v (%d of %d final)", id, req.Status, within, len(out), len(ids))
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *env) get(id uint64) store.Request {
	e.t.Helper()
	req, err := e.store.Get(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return req
}

func (e *env) account(id ledger.Uint128) ledger.Account {
	e.t.Helper()
	got, err := e.ledger.LookupAccounts(context.Background(), []ledger.Uint128{id})
	if err != nil || len(got) != 1 {
		e.t.Fatalf("lookup account: %v (%d found)", err, len(got))
	}
	return got[0]
}

// balances returns debits/credits posted and pending of an account as u64.
func (e *env) balances(id ledger.Uint128) (debitsPosted, debitsPending, creditsPosted, creditsPending uint64) {
	a := e.account(id)
	return u64(a.DebitsPosted), u64(a.DebitsPending), u64(a.CreditsPosted), u64(a.CreditsPending)
}

func u64(v ledger.Uint128) uint64 {
	n, ok := v.Uint64()
	if !ok {
		panic("BUG: balance over 64 bits in a test")
	}
	return n
}

// postsAndVoids reports, per hold of reqs, whether its post and its void
// transfer exist (a hold can be posted or voided once: TigerBeetle answers
// already_posted / already_voided to any second attempt, whatever its id;
// balances catch any other double move).
func (e *env) postsAndVoids(reqs map[uint64]store.Request) (posts, voids map[ledger.Uint128]int) {
	e.t.Helper()
	posts, voids = map[ledger.Uint128]int{}, map[ledger.Uint128]int{}
	for _, r := range reqs {
		pid := ledger.Uint128FromBytes(r.PendingID)
		got, err := e.ledger.LookupTransfers(context.Background(), []ledger.Uint128{ledger.PostID(pid), ledger.VoidID(pid)})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, t := range got {
			if t.PendingID != pid {
				e.t.Fatalf("transfer %v settles hold %v, want %v", t.ID, t.PendingID, pid)
			}
			switch {
			case t.Flags&ledger.TransferPostPendingTransfer != 0:
				posts[pid]++
			case t.Flags&ledger.TransferVoidPendingTransfer != 0:
				voids[pid]++
			}
		}
	}
	return posts, voids
}

// checkAgrees asserts that every request is final, agrees with the ledger,
// and that each hold has exactly one post (success) or at most one void
// (failed) and never both.
func (e *env) checkAgrees(s *Settler, reqs map[uint64]store.Request) {
	e.t.Helper()
	posts, voids := e.postsAndVoids(reqs)
	for id, r := range reqs {
		rec, err := s.Reconcile(context.Background(), id)
		if err != nil {
			e.t.Fatalf("reconcile %d: %v", id, err)
		}
		if !rec.Request.Status.Final() || !rec.Agrees {
			e.t.Errorf("request %d: %+v does not agree with the ledger", id, rec)
		}
		pid := ledger.Uint128FromBytes(r.PendingID)
		switch rec.Request.Status {
		case store.StatusSuccess:
			if posts[pid] != 1 || voids[pid] != 0 {
				e.t.Errorf("request %d succeeded with %d posts and %d voids, want 1 and 0", id, posts[pid], voids[pid])
			}
		case store.StatusFailed:
			if posts[pid] != 0 || voids[pid] > 1 {
				e.t.Errorf("request %d failed with %d posts and %d voids, want 0 and ≤1", id, posts[pid], voids[pid])
			}
		}
	}
}

// faultLedger wraps the real ledger and fails chosen calls, to exercise
// retries: with applyFirst the batch is applied before the error, as a
// timed-out TigerBeetle request may have been.
type faultLedger struct {
	ledger.Ledger
	mu         sync.Mutex
	failCreate int  // CreateTransfers calls still to fail
	applyFirst bool // apply the batch, then report ErrOutcomeUnknown
	calls      int
}

func (f *faultLedger) CreateTransfers(ctx context.Context, ts []ledger.Transfer) ([]ledger.TransferEventResult, error) {
	f.mu.Lock()
	f.calls++
	fail := f.failCreate > 0
	if fail {
		f.failCreate--
	}
	apply := f.applyFirst
	f.mu.Unlock()
	if !fail {
		return f.Ledger.CreateTransfers(ctx, ts)
	}
	if apply {
		if _, err := f.Ledger.CreateTransfers(ctx, ts); err != nil {
			return nil, err
		}
	}
	return nil, ledger.ErrOutcomeUnknown
}

func (f *faultLedger) setFailures(n int, applyFirst bool) {
	f.mu.Lock()
	f.failCreate, f.applyFirst = n, applyFirst
	f.mu.Unlock()
}

func (f *faultLedger) remaining() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failCreate
}

func isErr(err, target error) bool { return errors.Is(err, target) }
