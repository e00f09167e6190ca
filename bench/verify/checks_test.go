package verify

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/store"
)

func TestConsistentStatePasses(t *testing.T) {
	w := newWorld(t)
	rep := w.check(nil, w.expect)
	if !rep.OK() {
		t.Fatalf("consistent state reported violations: %v", rep.Violations)
	}
	if rep.Requests != 4 || rep.Users != 2 || rep.ExpectedRequests != 2 {
		t.Fatalf("report %s: want 4 requests of 2 users, 2 expected", rep.Summary())
	}
	// hold+post ×2, hold+void, the deposit; the refused hold is not stored.
	if rep.LedgerTransfers != 7 {
		t.Fatalf("ledger transfers = %d, want 7", rep.LedgerTransfers)
	}
}

// TestBrokenStatesFire breaks the consistent state one way at a time and
// requires the check that guards against it to fire.
func TestBrokenStatesFire(t *testing.T) {
	cases := []struct {
		name   string
		users  []uint64 // nil: the expectations' users
		break_ func(w *world) *Expectations
		want   []string // checks that must fire (others may fire too)
	}{
		{name: "stray transfer between users", want: []string{"stray-transfer", "expected-balance"},
			break_: func(w *world) *Expectations {
				w.transfer(ledger.Transfer{ID: ledger.U128(777), DebitAccountID: w.account(1, "funding"),
					CreditAccountID: w.account(2, "funding"), Amount: ledger.U128(5), Ledger: usdt, Code: ledger.CodeInternalTransfer})
				return w.expect
			}},
		{name: "money created for an unlisted user", want: []string{"sum-posted"},
			break_: func(w *world) *Expectations {
				w.createAccounts(ledger.Account{ID: w.account(3, "funding"), Ledger: usdt, Code: ledger.CodeUserAccount,
					Flags: ledger.AccountDebitsMustNotExceedCredits})
				w.deposit(3, "funding", 7)
				return w.expect
			}},
		{name: "hold left pending", want: []string{"stray-transfer", "expected-balance"},
			break_: func(w *world) *Expectations {
				w.transfer(ledger.Transfer{ID: ledger.U128(778), DebitAccountID: w.account(1, "funding"),
					CreditAccountID: ledger.OperatorAccountID(usdt), Amount: ledger.U128(5), Ledger: usdt,
					Code: ledger.CodeInternalTransfer, Flags: ledger.TransferPending})
				return w.expect
			}},
		{name: "negative balance", users: []uint64{1, 2, 4}, want: []string{"negative-balance", "account-flags"},
			break_: func(w *world) *Expectations {
				w.createAccounts(ledger.Account{ID: w.account(4, "spot"), Ledger: usdt, Code: ledger.CodeUserAccount})
				w.transfer(ledger.Transfer{ID: ledger.OperationID("withdrawal", "x"), DebitAccountID: w.account(4, "spot"),
					CreditAccountID: ledger.OperatorAccountID(usdt), Amount: ledger.U128(9), Ledger: usdt, Code: ledger.CodeWithdrawal})
				return nil
			}},
		{name: "success whose hold is missing", want: []string{"success-mismatch"},
			break_: func(w *world) *Expectations {
				w.storeOnly(2, "funding", "spot", 5, "ghost", store.StatusSuccess)
				return nil
			}},
		{name: "deposit for one user credited to another", want: []string{"stray-transfer"},
			break_: func(w *world) *Expectations {
				w.transfer(ledger.Transfer{ID: ledger.OperationID("deposit", "misdirected"), DebitAccountID: ledger.OperatorAccountID(usdt),
					CreditAccountID: w.account(2, "funding"), Amount: ledger.U128(5), Ledger: usdt, Code: ledger.CodeDeposit, UserData64: 1})
				return nil
			}},
		{name: "request never final", want: []string{"not-final"},
			break_: func(w *world) *Expectations {
				w.request("e", 2, 2, "funding", "spot", 5, "ke", store.StatusPending)
				return nil
			}},
		{name: "failed but posted", want: []string{"failed-mismatch"},
			break_: func(w *world) *Expectations {
				r := w.storeOnly(2, "funding", "spot", 5, "fp", store.StatusFailed)
				hold, _ := w.catalog.HoldTransfer(r)
				w.transfer(hold)
				w.transfer(ledger.Transfer{ID: ledger.PostID(hold.ID), PendingID: hold.ID, Amount: ledger.AmountMax,
					Ledger: usdt, Code: ledger.CodeInternalTransfer, Flags: ledger.TransferPostPendingTransfer})
				return nil
			}},
		// Without expectations (itctl verify --users) nothing but the
		// flag tells what a transfer under a deterministic id did.
		{name: "success whose hold was voided under the post id", want: []string{"post-mismatch", "success-mismatch", "stray-transfer"},
			break_: func(w *world) *Expectations {
				r := w.storeOnly(1, "funding", "spot", 5, "vp", store.StatusSuccess)
				hold, _ := w.catalog.HoldTransfer(r)
				w.transfer(hold)
				w.transfer(ledger.Transfer{ID: ledger.PostID(hold.ID), PendingID: hold.ID, UserData64: r.ID,
					Ledger: usdt, Code: ledger.CodeInternalTransfer, Flags: ledger.TransferVoidPendingTransfer})
				return nil
			}},
		{name: "failed whose hold was posted under the void id", want: []string{"void-mismatch", "failed-mismatch", "stray-transfer"},
			break_: func(w *world) *Expectations {
				r := w.storeOnly(1, "funding", "spot", 5, "pv", store.StatusFailed)
				hold, _ := w.catalog.HoldTransfer(r)
				w.transfer(hold)
				w.transfer(ledger.Transfer{ID: ledger.VoidID(hold.ID), PendingID: hold.ID, Amount: ledger.AmountMax, UserData64: r.ID,
					Ledger: usdt, Code: ledger.CodeInternalTransfer, Flags: ledger.TransferPostPendingTransfer})
				return nil
			}},
		{name: "pending withdrawal never resolved", want: []string{"stray-transfer"},
			break_: func(w *world) *Expectations {
				w.transfer(ledger.Transfer{ID: ledger.OperationID("withdraw", "1/p"), DebitAccountID: w.account(1, "funding"),
					CreditAccountID: ledger.OperatorAccountID(usdt), Amount: ledger.U128(500), Ledger: usdt, Code: ledger.CodeWithdrawal,
					UserData64: 1, Flags: ledger.TransferPending})
				return nil
			}},
		{name: "pending deposit never resolved", want: []string{"stray-transfer"},
			break_: func(w *world) *Expectations {
				w.transfer(ledger.Transfer{ID: ledger.OperationID("deposit", "1/p"), DebitAccountID: ledger.OperatorAccountID(usdt),
					CreditAccountID: w.account(1, "funding"), Amount: ledger.U128(500), Ledger: usdt, Code: ledger.CodeDeposit,
					UserData64: 1, Flags: ledger.TransferPending})
				return nil
			}},
		{name: "freeze that holds funds without closing the account", want: []string{"stray-transfer"},
			break_: func(w *world) *Expectations {
				w.transfer(ledger.Transfer{ID: ledger.OperationID("freeze", "1/p"), DebitAccountID: w.account(1, "funding"),
					CreditAccountID: ledger.OperatorAccountID(usdt), Amount: ledger.U128(500), Ledger: usdt, Code: ledger.CodeFreeze,
					UserData64: 1, Flags: ledger.TransferPending})
				return nil
			}},
		{name: "hold of another amount", want: []string{"hold-mismatch"},
			break_: func(w *world) *Expectations {
				r := w.storeOnly(2, "funding", "spot", 5, "hm", store.StatusFailed)
				hold, _ := w.catalog.HoldTransfer(r)
				hold.Amount = ledger.U128(6)
				w.transfer(hold)
				w.transfer(ledger.Transfer{ID: ledger.VoidID(hold.ID), PendingID: hold.ID,
					Ledger: usdt, Code: ledger.CodeInternalTransfer, Flags: ledger.TransferVoidPendingTransfer})
				return nil
			}},
		{name: "partial post", want: []string{"post-mismatch"},
			break_: func(w *world) *Expectations {
				r := w.storeOnly(2, "funding", "spot", 5, "pp", store.StatusSuccess)
				hold, _ := w.catalog.HoldTransfer(r)
				w.transfer(hold)
				w.transfer(ledger.Transfer{ID: ledger.PostID(hold.ID), PendingID: hold.ID, Amount: ledger.U128(2),
					Ledger: usdt, Code: ledger.CodeInternalTransfer, Flags: ledger.TransferPostPendingTransfer})
				return nil
			}},
		{name: "open request dated ahead of the clock", want: []string{"not-final"},
			break_: func(w *world) *Expectations {
				w.now = w.now.Add(time.Hour) // a node whose clock runs an hour fast
				w.storeOnly(2, "funding", "spot", 5, "ahead", store.StatusRequesting)
				w.now = w.now.Add(-time.Hour)
				return nil
			}},
		{name: "open request of an unlisted user", want: []string{"not-final"},
			break_: func(w *world) *Expectations {
				w.storeOnly(5, "funding", "spot", 5, "unlisted", store.StatusPending)
				return nil
			}},
		{name: "two requests for one key", want: []string{"shared-key", "shared-pending-id"},
			break_: func(w *world) *Expectations {
				w.now = w.now.Add(48 * time.Hour) // the key's record expired; a store bug lets it be reused
				w.request("a2", 1, 1, "funding", "spot", 100, "ka", store.StatusSuccess)
				w.now = w.now.Add(-48 * time.Hour)
				return nil
			}},
		{name: "pending id not deterministic", want: []string{"pending-id"},
			break_: func(w *world) *Expectations {
				w.nextID++
				r := store.Request{ID: w.nextID, UserID: 2, ToUserID: 2, FromAccountType: "funding", ToAccountType: "spot",
					Asset: "USDT", Amount: 1, Fingerprint: "x", CreatedAt: w.now, PendingID: ledger.U128(99).Bytes()}
				w.createRequest(r, store.StatusFailed)
				return nil
			}},
		{name: "status other than expected", want: []string{"expected-status"},
			break_: func(w *world) *Expectations {
				e := *w.expect
				e.Requests = append([]ExpectedRequest(nil), e.Requests...)
				e.Requests[1].Status = "success"
				return &e
			}},
		{name: "balance other than expected", want: []string{"expected-balance"},
			break_: func(w *world) *Expectations {
				e := *w.expect
				e.Balances = append([]ExpectedBalance(nil), e.Balances...)
				e.Balances[0].Balance = "851"
				return &e
			}},
		{name: "deposit between users", want: []string{"stray-transfer", "expected-balance"},
			break_: func(w *world) *Expectations {
				w.transfer(ledger.Transfer{ID: ledger.OperationID("deposit", "between-users"), DebitAccountID: w.account(2, "funding"),
					CreditAccountID: w.account(1, "funding"), Amount: ledger.U128(5), Ledger: usdt, Code: ledger.CodeDeposit})
				return w.expect
			}},
		{name: "withdrawal to a user", want: []string{"stray-transfer", "expected-balance"},
			break_: func(w *world) *Expectations {
				w.transfer(ledger.Transfer{ID: ledger.OperationID("withdrawal", "to-a-user"), DebitAccountID: w.account(1, "funding"),
					CreditAccountID: w.account(2, "funding"), Amount: ledger.U128(5), Ledger: usdt, Code: ledger.CodeWithdrawal})
				return w.expect
			}},
		{name: "freeze held for a user", want: []string{"stray-transfer"},
			break_: func(w *world) *Expectations {
				w.transfer(ledger.Transfer{ID: ledger.OperationID("freeze", "to-a-user"), DebitAccountID: w.account(1, "funding"),
					CreditAccountID: w.account(2, "funding"), Amount: ledger.U128(5), Ledger: usdt, Code: ledger.CodeFreeze,
					Flags: ledger.TransferPending})
				return nil
			}},
		{name: "request given to another user", want: []string{"expected-request"},
			break_: func(w *world) *Expectations {
				e := *w.expect
				e.Requests = append([]ExpectedRequest(nil), e.Requests...)
				other := map[uint64]uint64{1: 2, 2: 1}
				e.Requests[0].User = other[e.Requests[0].User]
				return &e
			}},
		{name: "request the client was given is missing", want: []string{"expected-request"},
			break_: func(w *world) *Expectations {
				e := *w.expect
				e.Requests = append(e.Requests, ExpectedRequest{RequestID: "123456789", User: 1, Status: "success"})
				return &e
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			expect := tc.break_(w)
			users := tc.users
			if users == nil {
				users = w.expect.Users
			}
			rep := w.check(users, expect)
			for _, check := range tc.want {
				if rep.ByCheck[check] == 0 {
					t.Errorf("check %s did not fire; report: %s %v", check, rep.Summary(), rep.Violations)
				}
			}
			if rep.OK() {
				t.Fatal("broken state passed")
			}
		})
	}
}

// A freeze and its void are operator operations the walk accepts.
func TestFreezeAndItsVoidPass(t *testing.T) {
	w := newWorld(t)
	freeze := ledger.Transfer{ID: ledger.OperationID("freeze", "f1"), DebitAccountID: w.account(1, "spot"),
		CreditAccountID: ledger.OperatorAccountID(usdt), Ledger: usdt, Code: ledger.CodeFreeze, UserData64: 1,
		Flags: ledger.TransferPending | ledger.TransferClosingDebit}
	w.transfer(freeze)
	w.transfer(ledger.Transfer{ID: ledger.VoidID(freeze.ID), PendingID: freeze.ID, Ledger: usdt, Code: ledger.CodeFreeze,
		Flags: ledger.TransferVoidPendingTransfer})
	if rep := w.check(nil, w.expect); !rep.OK() {
		t.Fatalf("a freeze and its void reported: %v", rep.Violations)
	}
}

// Against a live ledger a transfer younger than the grace may be the hold
// of a request created after the histories were read: it is not judged;
// without a grace, or once it is older, it is.
func TestYoungTransfersAreNotJudged(t *testing.T) {
	w := newWorld(t)
	w.transfer(ledger.Transfer{ID: ledger.U128(779), DebitAccountID: w.account(1, "funding"),
		CreditAccountID: w.account(2, "funding"), Amount: ledger.U128(5), Ledger: usdt, Code: ledger.CodeInternalTransfer})
	check := func(now time.Time, grace time.Duration) *Report {
		rep, err := Check(context.Background(), Options{Ledger: w.ledger, Store: w.store, Catalog: w.catalog,
			Users: w.expect.Users, Now: func() time.Time { return now }, Grace: grace})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := check(time.Now(), 30*time.Second); !rep.OK() {
		t.Fatalf("a transfer made within the grace was judged: %v", rep.Violations)
	}
	for _, c := range []struct {
		now   time.Time
		grace time.Duration
	}{{time.Now(), 0}, {time.Now().Add(time.Minute), 30 * time.Second}} {
		if rep := check(c.now, c.grace); rep.ByCheck["stray-transfer"] != 1 {
			t.Fatalf("grace %s, %s later: %s %v; want the stray transfer", c.grace, time.Until(c.now).Round(time.Second), rep.Summary(), rep.Violations)
		}
	}
}

// Users of whom nothing is found (a wrong data dir, cluster or user list)
// do not pass as OK.
func TestNothingFoundFails(t *testing.T) {
	w := newWorld(t)
	rep := w.check([]uint64{40, 41}, nil)
	if rep.OK() || rep.ByCheck["nothing-found"] != 1 {
		t.Fatalf("users with nothing found: %s %v; want nothing-found", rep.Summary(), rep.Violations)
	}
}

// storeOnly records a request in the store in status final without
// touching the ledger.
func (w *world) storeOnly(user uint64, from, to string, amount uint64, key string, final store.Status) store.Request {
	w.nextID++
	r := store.Request{ID: w.nextID, UserID: user, ToUserID: user, FromAccountType: from, ToAccountType: to,
		Asset: "USDT", Amount: amount, IdempotencyKey: key, Fingerprint: key, CreatedAt: w.now}
	r.PendingID = ledgerPendingID(r)
	w.createRequest(r, final)
	return r
}

func (w *world) createRequest(r store.Request, final store.Status) {
	if _, _, err := w.store.Create(t0(), r); err != nil {
		w.t.Fatal(err)
	}
	if final != store.StatusRequesting {
		if _, err := w.store.Advance(t0(), r.ID, final, store.Outcome{}); err != nil {
			w.t.Fatal(err)
		}
	}
}

func TestParseExpectationsRoundTrip(t *testing.T) {
	w := newWorld(t)
	path := t.TempDir() + "/e.json"
	if err := w.expect.Write(path); err != nil {
		t.Fatal(err)
	}
	got, err := ReadExpectations(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Balances) != 3 || got.Balances[0].Balance != "850" || got.Requests[0].RequestID != strconv.FormatUint(w.reqs["a"].ID, 10) {
		t.Fatalf("round trip lost data: %+v", got)
	}
	if err := (&Expectations{}).Write(path); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadExpectations(path); err == nil {
		t.Fatal("expectations without users accepted")
	}
}

func TestReportKeepsViolationsBounded(t *testing.T) {
	var r Report
	for i := 0; i < ViolationsKeptMax+5; i++ {
		r.add(Violation{Check: "x"})
	}
	if len(r.Violations) != ViolationsKeptMax || r.ViolationsTotal != ViolationsKeptMax+5 || r.OK() {
		t.Fatalf("kept %d of %d", len(r.Violations), r.ViolationsTotal)
	}
	checks := []string{}
	for c := range r.ByCheck {
		checks = append(checks, c)
	}
	sort.Strings(checks)
	if len(checks) != 1 || r.ByCheck["x"] != ViolationsKeptMax+5 {
		t.Fatalf("by check %v", r.ByCheck)
	}
}

// BenchmarkCheck is one full check of the small consistent world (4
// requests, 2 users): the fixed cost of every check pass.
func BenchmarkCheck(b *testing.B) {
	w := newWorld(b)
	b.ReportAllocs()
	for b.Loop() {
		rep, err := Check(t0(), Options{Ledger: w.ledger, Store: w.store, Catalog: w.catalog, Expect: w.expect})
		if err != nil || !rep.OK() {
			b.Fatalf("check: %v %v", err, rep.Violations)
		}
	}
}

// createsDuringWalk is a store in which a request appears after the
// histories were read: its first ListOpen creates it first.
type createsDuringWalk struct {
	store.Store
	create func()
}

func (s *createsDuringWalk) ListOpen(ctx context.Context, q store.OpenQuery) (store.OpenPage, error) {
	if s.create != nil {
		s.create()
		s.create = nil
	}
	return s.Store.ListOpen(ctx, q)
}

// A request created while the check walks the histories (after it
// started, after its user's history was read) is young, not "missing"
// from that history nor "dated ahead": the check reads the clock at its
// start for what it judges, and again at judging time for what is dated
// ahead.
func TestRequestCreatedDuringTheWalkIsYoung(t *testing.T) {
	w := newWorld(t)
	late := &createsDuringWalk{Store: w.store, create: func() {
		w.now = w.now.Add(30 * time.Second)
		w.storeOnly(2, "funding", "spot", 5, "during", store.StatusPending)
		w.now = w.now.Add(-30 * time.Second)
	}}
	calls := 0
	clock := func() time.Time {
		calls++
		if calls == 1 {
			return w.now.Add(20 * time.Second) // the check starts before the request exists
		}
		return w.now.Add(5 * time.Minute) // the walk took minutes
	}
	rep, err := Check(context.Background(), Options{Ledger: w.ledger, Store: late, Catalog: w.catalog,
		Users: w.expect.Users, Now: clock, Grace: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("report %s %v: want no violation for a request created during the walk", rep.Summary(), rep.Violations)
	}
}

// skewedHistory is a store whose history copies (separate rows on
// ScyllaDB) went wrong for one user: alter changes or drops (false) the
// requests that user's history returns.
type skewedHistory struct {
	store.Store
	user  uint64
	alter func(*store.Request) bool
}

func (s skewedHistory) History(ctx context.Context, q store.HistoryQuery) (store.HistoryPage, error) {
	p, err := s.Store.History(ctx, q)
	if q.UserID != s.user {
		return p, err
	}
	kept := p.Requests[:0]
	for _, r := range p.Requests {
		if s.alter(&r) {
			kept = append(kept, r)
		}
	}
	p.Requests = kept
	return p, err
}

// A request's copies in its two users' histories must agree, and both users
// must see it; the checker reads them apart.
func TestHistoryCopiesAreCompared(t *testing.T) {
	cases := map[string]struct {
		alter func(*store.Request) bool
		want  string
	}{
		"receiver's copy says failed":   {func(r *store.Request) bool { r.Status, r.ErrorCode = store.StatusFailed, "X"; return true }, "copy-mismatch"},
		"receiver's copy, other amount": {func(r *store.Request) bool { r.Amount++; return true }, "copy-mismatch"},
		"missing from the receiver's":   {func(r *store.Request) bool { return r.UserID == r.ToUserID }, "missing-history"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			w.request("x", 1, 2, "funding", "funding", 5, "kx", store.StatusSuccess)
			rep, err := Check(context.Background(), Options{Ledger: w.ledger, Store: skewedHistory{w.store, 2, c.alter}, Catalog: w.catalog,
				Users: []uint64{1, 2}, Now: func() time.Time { return w.now.Add(2 * time.Minute) }, Grace: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if rep.ByCheck[c.want] == 0 {
				t.Fatalf("want %s, got %v", c.want, rep.Violations)
			}
		})
	}
}

// shortPages answers at most n transfers a page, as a TigerBeetle cluster run
// with a smaller --limit-request does whatever the filter's limit.
type shortPages struct {
	ledger.Ledger
	n int
}

func (s shortPages) GetAccountTransfers(ctx context.Context, f ledger.AccountFilter) ([]ledger.Transfer, error) {
	ts, err := s.Ledger.GetAccountTransfers(ctx, f)
	return ts[:min(len(ts), s.n)], err
}

// A page shorter than asked for does not end an account's walk: the stray
// transfer after the first one of each account is still found, and a
// consistent state still passes with every transfer counted.
func TestShortPagesDoNotEndTheWalk(t *testing.T) {
	w := newWorld(t)
	check := func() *Report {
		rep, err := Check(context.Background(), Options{Ledger: shortPages{w.ledger, 1}, Store: w.store, Catalog: w.catalog,
			Expect: w.expect, Now: func() time.Time { return w.now.Add(2 * time.Minute) }, Grace: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := check(); !rep.OK() || rep.LedgerTransfers != 7 {
		t.Fatalf("consistent state with one-transfer pages: %s %v; want OK with 7 ledger transfers", rep.Summary(), rep.Violations)
	}
	w.transfer(ledger.Transfer{ID: ledger.U128(777), DebitAccountID: w.account(1, "funding"),
		CreditAccountID: w.account(2, "funding"), Amount: ledger.U128(5), Ledger: usdt, Code: ledger.CodeInternalTransfer})
	if rep := check(); rep.ByCheck["stray-transfer"] == 0 {
		t.Fatalf("stray transfer behind a short page not found: %v", rep.Violations)
	}
}

// unreadableOpen is a store whose open index names one request it cannot
// read (its row damaged), as store.OpenPage.Unreadable reports it.
type unreadableOpen struct {
	store.Store
	id uint64
}

func (s unreadableOpen) ListOpen(ctx context.Context, q store.OpenQuery) (store.OpenPage, error) {
	p, err := s.Store.ListOpen(ctx, q)
	if q.Cursor == "" {
		p.Unreadable = append(p.Unreadable, s.id)
	}
	return p, err
}

// An open request the store cannot read is a violation, named by its id.
func TestUnreadableOpenRequestIsAViolation(t *testing.T) {
	w := newWorld(t)
	rep, err := Check(context.Background(), Options{Ledger: w.ledger, Store: unreadableOpen{w.store, 4242}, Catalog: w.catalog,
		Users: w.expect.Users, Now: func() time.Time { return w.now.Add(2 * time.Minute) }, Grace: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.Violations) != 1 || rep.Violations[0].Check != "unreadable" || rep.Violations[0].RequestID != 4242 {
		t.Fatalf("report %s %v: want one unreadable violation for request 4242", rep.Summary(), rep.Violations)
	}
}

// An expectation the check would not compare, or would compare with only
// one of two rows, is refused rather than passed over: a generator that
// forgot a user or wrote an account twice would let a wrong balance pass.
func TestUnusableExpectationsAreRefused(t *testing.T) {
	cases := []struct {
		name   string
		change func(e *Expectations)
		want   string
	}{
		{"balance of a user not in users", func(e *Expectations) {
			e.Balances = append(e.Balances, ExpectedBalance{User: 9, AccountType: "funding", Asset: "USDT", Balance: "12345"})
		}, "user 9, who is not in users"},
		{"two balances of one account", func(e *Expectations) {
			b := e.Balances[0]
			b.Balance = "1"
			e.Balances = append(e.Balances, b)
		}, "two balances of user"},
		{"unknown status", func(e *Expectations) { e.Requests[0].Status = "pending" }, `status "pending"`},
		{"request of no user", func(e *Expectations) { e.Requests[0].User = 0 }, "names no user"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			e := *w.expect
			e.Balances = append([]ExpectedBalance(nil), e.Balances...)
			e.Requests = append([]ExpectedRequest(nil), e.Requests...)
			tc.change(&e)
			_, err := Check(context.Background(), Options{Ledger: w.ledger, Store: w.store, Catalog: w.catalog,
				Expect: &e, Now: func() time.Time { return w.now.Add(2 * time.Minute) }, Grace: 10 * time.Second})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("check error %v, want one naming %q", err, tc.want)
			}
		})
	}
}
