package ledgertest

import (
	"errors"
	"sync"
	"testing"

	"github.com/exchange/internal-transfer/ledger"
)

// testConcurrentOverdraw races many callers to overdraw one account: the
// ledger alone must refuse, so what was debited never exceeds the credits.
func testConcurrentOverdraw(t *testing.T, h *harness) {
	const (
		funds     = 1000
		amount    = 7
		callers   = 16
		perCaller = 20 // 16×20×7 = 2240 asked, 1000 available
	)
	user := h.newAccounts(1, ledger.AccountDebitsMustNotExceedCredits)[0]
	sinks := h.newAccounts(callers, 0)
	h.fund(funds, user)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, fail int
	)
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perCaller {
				tr := h.transfer(user, sinks[c], amount)
				if c%2 == 1 {
					tr.Flags = ledger.TransferPending // holds count against the limit too
				}
				res, err := h.l.CreateTransfers(h.ctx(), []ledger.Transfer{tr})
				mu.Lock()
				switch {
				case err != nil:
					t.Errorf("CreateTransfers: %v", err)
				case len(res) == 0:
					ok++
				case res[0].Result == ledger.TransferExceedsCredits:
					fail++
				default:
					t.Errorf("unexpected result %v", res[0].Result)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	b := h.balances(user)
	if b.debitsPending+b.debitsPosted > funds {
		t.Errorf("overdrawn: %+v", b)
	}
	if got := uint64(ok * amount); got != b.debitsPending+b.debitsPosted {
		t.Errorf("%d successes of %d, but debits %+v", ok, amount, b)
	}
	if ok != funds/amount || ok+fail != callers*perCaller {
		t.Errorf("%d succeeded and %d failed, want %d and %d", ok, fail, funds/amount, callers*perCaller-funds/amount)
	}
}

func testLookups(t *testing.T, h *harness) {
	ids := h.newAccounts(3, 0)
	missing := ID()
	got, err := h.l.LookupAccounts(h.ctx(), []ledger.Uint128{ids[2], missing, ids[0], ids[2]})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].ID != ids[2] || got[1].ID != ids[0] || got[2].ID != ids[2] {
		t.Errorf("LookupAccounts order: %v", got)
	}
	t1, t2 := h.transfer(ids[0], ids[1], 1), h.transfer(ids[1], ids[2], 2)
	h.createTransfers(t1, t2)
	tr, err := h.l.LookupTransfers(h.ctx(), []ledger.Uint128{t2.ID, missing, t1.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr) != 2 || tr[0].ID != t2.ID || tr[1].ID != t1.ID {
		t.Errorf("LookupTransfers order: %v", tr)
	}
	if got, err := h.l.LookupAccounts(h.ctx(), nil); err != nil || len(got) != 0 {
		t.Errorf("empty lookup: %v %v", got, err)
	}
	// A transfer id is not an account id.
	if got, err := h.l.LookupAccounts(h.ctx(), []ledger.Uint128{t1.ID}); err != nil || len(got) != 0 {
		t.Errorf("transfer id found as account: %v %v", got, err)
	}
}

func testGetAccountTransfers(t *testing.T, h *harness) {
	ids := h.newAccounts(3, 0)
	a, b, c := ids[0], ids[1], ids[2]
	// a's transfers, oldest first: debit, credit, debit, (b→c, not a's), credit, debit.
	trs := []ledger.Transfer{h.transfer(a, b, 1), h.transfer(b, a, 2), h.transfer(a, c, 3), h.transfer(b, c, 4)}
	h.createTransfers(trs...)
	more := []ledger.Transfer{h.transfer(c, a, 5), h.transfer(a, b, 6)}
	h.createTransfers(more...)
	all := []ledger.Transfer{trs[0], trs[1], trs[2], more[0], more[1]}
	for i := range all {
		all[i] = h.lookupTransfer(all[i].ID)
	}
	amounts := func(ts []ledger.Transfer) []uint64 {
		out := make([]uint64, len(ts))
		for i, tr := range ts {
			out[i] = tr.Amount.Lo
		}
		return out
	}
	both := ledger.FilterDebits | ledger.FilterCredits
	cases := []struct {
		name   string
		filter ledger.AccountFilter
		want   []uint64
	}{
		{"both", ledger.AccountFilter{AccountID: a, Limit: 10, Flags: both}, []uint64{1, 2, 3, 5, 6}},
		{"debits", ledger.AccountFilter{AccountID: a, Limit: 10, Flags: ledger.FilterDebits}, []uint64{1, 3, 6}},
		{"credits", ledger.AccountFilter{AccountID: a, Limit: 10, Flags: ledger.FilterCredits}, []uint64{2, 5}},
		{"reversed", ledger.AccountFilter{AccountID: a, Limit: 10, Flags: both | ledger.FilterReversed}, []uint64{6, 5, 3, 2, 1}},
		{"limit", ledger.AccountFilter{AccountID: a, Limit: 2, Flags: both}, []uint64{1, 2}},
		{"reversed limit", ledger.AccountFilter{AccountID: a, Limit: 2, Flags: both | ledger.FilterReversed}, []uint64{6, 5}},
		{"range", ledger.AccountFilter{AccountID: a, TimestampMin: all[1].Timestamp, TimestampMax: all[3].Timestamp, Limit: 10, Flags: both}, []uint64{2, 3, 5}},
		{"range reversed debits", ledger.AccountFilter{AccountID: a, TimestampMin: all[1].Timestamp, TimestampMax: all[4].Timestamp, Limit: 10, Flags: ledger.FilterDebits | ledger.FilterReversed}, []uint64{6, 3}},
		{"min only", ledger.AccountFilter{AccountID: a, TimestampMin: all[3].Timestamp, Limit: 10, Flags: both}, []uint64{5, 6}},
		{"max only", ledger.AccountFilter{AccountID: a, TimestampMax: all[0].Timestamp, Limit: 10, Flags: both}, []uint64{1}},
		{"other account", ledger.AccountFilter{AccountID: c, Limit: 10, Flags: both}, []uint64{3, 4, 5}},
		{"unknown account", ledger.AccountFilter{AccountID: ID(), Limit: 10, Flags: both}, []uint64{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := h.with(t)
			got, err := h.l.GetAccountTransfers(h.ctx(), tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			if g := amounts(got); !equalU64(g, tc.want) {
				t.Errorf("got amounts %v, want %v", g, tc.want)
			}
		})
	}
	t.Run("full records", func(t *testing.T) {
		h := h.with(t)
		got, err := h.l.GetAccountTransfers(h.ctx(), ledger.AccountFilter{AccountID: a, Limit: 10, Flags: both})
		if err != nil || len(got) != len(all) {
			t.Fatalf("got %v %v", got, err)
		}
		for i := range all {
			if got[i] != all[i] {
				t.Errorf("transfer %d: %+v, want %+v", i, got[i], all[i])
			}
		}
	})
	testInvalidFilters(t, h, a)
}

// testInvalidFilters checks filters TigerBeetle rejects.
func testInvalidFilters(t *testing.T, h *harness, a ledger.Uint128) {
	both := ledger.FilterDebits | ledger.FilterCredits
	invalid := []struct {
		name   string
		filter ledger.AccountFilter
	}{
		{"no direction", ledger.AccountFilter{AccountID: a, Limit: 10}},
		{"limit zero", ledger.AccountFilter{AccountID: a, Flags: both}},
		{"account zero", ledger.AccountFilter{Limit: 10, Flags: both}},
		{"min after max", ledger.AccountFilter{AccountID: a, TimestampMin: 10, TimestampMax: 9, Limit: 10, Flags: both}},
		{"reserved flag", ledger.AccountFilter{AccountID: a, Limit: 10, Flags: both | 1<<10}},
		// Timestamps are 0 (no bound) or 1..2^63-1 (TigerBeetle's TimestampRange).
		{"min past 2^63-1", ledger.AccountFilter{AccountID: a, TimestampMin: 1 << 63, Limit: 10, Flags: both}},
		{"max past 2^63-1", ledger.AccountFilter{AccountID: a, TimestampMax: 1<<64 - 2, Limit: 10, Flags: both}},
	}
	for _, tc := range invalid {
		t.Run("invalid "+tc.name, func(t *testing.T) {
			h := h.with(t)
			// TigerBeetle answers an invalid filter with nothing; adapters may
			// report it as ErrInvalidFilter instead.
			got, err := h.l.GetAccountTransfers(h.ctx(), tc.filter)
			if err != nil && !errors.Is(err, ledger.ErrInvalidFilter) || len(got) != 0 {
				t.Errorf("got %v, %v; want nothing or ErrInvalidFilter", got, err)
			}
		})
	}
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func testBatchLimits(t *testing.T, h *harness) {
	ids := h.newAccounts(2, 0)
	big := make([]ledger.Transfer, ledger.BatchEventsMax+1)
	for i := range big {
		big[i] = h.transfer(ids[0], ids[1], 1)
	}
	if _, err := h.l.CreateTransfers(h.ctx(), big); !errors.Is(err, ledger.ErrBatchTooLarge) {
		t.Errorf("CreateTransfers(%d): %v, want ErrBatchTooLarge", len(big), err)
	}
	accounts := make([]ledger.Account, ledger.BatchEventsMax+1)
	for i := range accounts {
		accounts[i] = h.account(0)
	}
	if _, err := h.l.CreateAccounts(h.ctx(), accounts); !errors.Is(err, ledger.ErrBatchTooLarge) {
		t.Errorf("CreateAccounts(%d): %v, want ErrBatchTooLarge", len(accounts), err)
	}
	h.expectBalances(ids[0], balances{})
	// A full batch is fine.
	h.createTransfers(big[:ledger.BatchEventsMax]...)
	h.expectBalances(ids[0], balances{debitsPosted: ledger.BatchEventsMax})
}

func testTimestamps(t *testing.T, h *harness) {
	ids := h.newAccounts(2, 0)
	var last uint64
	for range 3 {
		batch := []ledger.Transfer{h.transfer(ids[0], ids[1], 1), h.transfer(ids[0], ids[1], 1), h.transfer(ids[0], ids[1], 1)}
		h.createTransfers(batch...)
		for _, tr := range batch {
			got := h.lookupTransfer(tr.ID)
			if got.Timestamp <= last {
				t.Errorf("timestamp %d not after %d", got.Timestamp, last)
			}
			last = got.Timestamp
		}
	}
	if a := h.lookupAccount(ids[0]); a.Timestamp >= last {
		t.Errorf("account timestamp %d not before its transfers (%d)", a.Timestamp, last)
	}
}
