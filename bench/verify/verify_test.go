package verify

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/ledger"
	ledgerembedded "github.com/exchange/internal-transfer/ledger/embedded"
	"github.com/exchange/internal-transfer/store"
	storeembedded "github.com/exchange/internal-transfer/store/embedded"
)

const usdt = 1 // USDT's ledger number in the test catalog

// world is a small consistent state in an embedded ledger and store:
// user 1 got 1000 on funding, sent 100 to spot and 50 to user 2 (success),
// had 30 spot→funding voided (failed) and one hold refused for
// insufficient balance (failed, no hold).
type world struct {
	t       testing.TB
	ledger  *ledgerembedded.Ledger
	store   *storeembedded.Store
	catalog *transfers.Catalog
	now     time.Time
	nextID  uint64
	reqs    map[string]store.Request
	expect  *Expectations
}

func newWorld(t testing.TB) *world {
	t.Helper()
	dir := t.TempDir()
	l, err := ledgerembedded.Open(ledgerembedded.Options{Dir: filepath.Join(dir, "ledger")})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ledger: l, now: time.Now().Add(-time.Minute), nextID: 1000, reqs: map[string]store.Request{}}
	s, err := storeembedded.Open(storeembedded.Options{Dir: filepath.Join(dir, "store"), Now: func() time.Time { return w.now }})
	if err != nil {
		t.Fatal(err)
	}
	w.store = s
	t.Cleanup(func() { _ = s.Close(); _ = l.Close() })
	w.catalog, err = transfers.NewCatalog(
		[]transfers.Asset{{Name: "USDT", Ledger: usdt, Decimals: 8}},
		[]transfers.AccountType{{Name: "funding", Code: 1}, {Name: "spot", Code: 2}},
		[]transfers.Route{{From: "funding", To: "spot"}, {From: "spot", To: "funding"}, {From: "funding", To: "funding", CrossUser: true}})
	if err != nil {
		t.Fatal(err)
	}
	accounts := []ledger.Account{{ID: ledger.OperatorAccountID(usdt), Ledger: usdt, Code: ledger.CodeOperatorAccount}}
	for _, u := range []uint64{1, 2} {
		for _, typ := range []uint16{1, 2} {
			accounts = append(accounts, ledger.Account{ID: ledger.UserAccountID(u, typ, usdt), Ledger: usdt,
				Code: ledger.CodeUserAccount, Flags: ledger.AccountDebitsMustNotExceedCredits})
		}
	}
	w.createAccounts(accounts...)
	w.deposit(1, "funding", 1000)
	w.request("a", 1, 1, "funding", "spot", 100, "ka", store.StatusSuccess)
	w.request("b", 1, 2, "funding", "funding", 50, "kb", store.StatusSuccess)
	w.request("d", 1, 1, "spot", "funding", 30, "", store.StatusFailed)
	w.request("c", 1, 1, "funding", "spot", 1_000_000, "kc", store.StatusFailed)
	w.expect = &Expectations{Users: []uint64{1, 2},
		Balances: []ExpectedBalance{{1, "funding", "USDT", "850"}, {1, "spot", "USDT", "100"}, {2, "funding", "USDT", "50"}},
		Requests: []ExpectedRequest{{strconv.FormatUint(w.reqs["a"].ID, 10), 1, "success"}, {strconv.FormatUint(w.reqs["c"].ID, 10), 1, "failed"}}}
	return w
}

func (w *world) createAccounts(accounts ...ledger.Account) {
	res, err := w.ledger.CreateAccounts(context.Background(), accounts)
	if err != nil || len(res) > 0 {
		w.t.Fatalf("create accounts: %v %v", res, err)
	}
}

// transfer creates ts and returns the failures.
func (w *world) transfer(ts ...ledger.Transfer) []ledger.TransferEventResult {
	res, err := w.ledger.CreateTransfers(context.Background(), ts)
	if err != nil {
		w.t.Fatal(err)
	}
	return res
}

func (w *world) account(user uint64, typ string) ledger.Uint128 {
	id, err := w.catalog.AccountID(user, typ, "USDT")
	if err != nil {
		w.t.Fatal(err)
	}
	return id
}

func (w *world) deposit(user uint64, typ string, amount uint64) {
	w.nextID++
	if res := w.transfer(ledger.Transfer{ID: ledger.OperationID("deposit", strconv.FormatUint(w.nextID, 10)),
		DebitAccountID: ledger.OperatorAccountID(usdt), CreditAccountID: w.account(user, typ),
		Amount: ledger.U128(amount), Ledger: usdt, Code: ledger.CodeDeposit, UserData64: user}); len(res) > 0 {
		w.t.Fatalf("deposit: %v", res)
	}
}

// request runs one transfer request the way the service does and leaves it
// in status final: success posts the hold, failed voids it (or the hold is
// refused when the balance cannot cover it).
func (w *world) request(name string, from, to uint64, fromType, toType string, amount uint64, key string, final store.Status) store.Request {
	w.nextID++
	req := store.Request{ID: w.nextID, UserID: from, ToUserID: to, FromAccountType: fromType, ToAccountType: toType,
		Asset: "USDT", Amount: amount, IdempotencyKey: key, Fingerprint: "fp-" + name, CreatedAt: w.now}
	req.PendingID = transfers.PendingID(req).Bytes()
	ctx := context.Background()
	if _, _, err := w.store.Create(ctx, req); err != nil {
		w.t.Fatal(err)
	}
	hold, err := w.catalog.HoldTransfer(req)
	if err != nil {
		w.t.Fatal(err)
	}
	refused := len(w.transfer(hold)) > 0
	outcome := store.Outcome{}
	switch {
	case refused:
		outcome.ErrorCode = "INSUFFICIENT_BALANCE"
	case final == store.StatusSuccess:
		w.advance(req.ID, store.StatusPending)
		w.transfer(transfers.PostTransfer(req, usdt))
	case final == store.StatusFailed:
		w.advance(req.ID, store.StatusPending)
		w.transfer(transfers.VoidTransfer(req, usdt))
		outcome.ErrorCode = "ACCOUNT_FROZEN"
	}
	if final.Final() {
		if _, err := w.store.Advance(ctx, req.ID, final, outcome); err != nil {
			w.t.Fatal(err)
		}
	}
	w.reqs[name] = req
	return req
}

func (w *world) advance(id uint64, to store.Status) {
	if _, err := w.store.Advance(context.Background(), id, to, store.Outcome{}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) check(users []uint64, expect *Expectations) *Report {
	w.t.Helper()
	rep, err := Check(context.Background(), Options{Ledger: w.ledger, Store: w.store, Catalog: w.catalog,
		Users: users, Expect: expect, Now: func() time.Time { return w.now.Add(2 * time.Minute) }, Grace: 10 * time.Second})
	if err != nil {
		w.t.Fatalf("check: %v", err)
	}
	return rep
}

func ledgerPendingID(r store.Request) [16]byte { return transfers.PendingID(r).Bytes() }

func t0() context.Context { return context.Background() }
