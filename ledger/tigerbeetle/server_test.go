package tigerbeetle

import (
	"context"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/ledger"
)

// TestServerRoundTrip checks, against the cluster in TB_ADDRESSES, what the
// adapter itself adds on the wire: events and results survive the zero-copy
// conversion in both directions, a full BatchEventsMax batch fits, and the
// TigerBeetle 0.16 rules this service leans on hold (AmountMax posts the
// whole hold, a transiently failed id stays failed). The shared conformance
// suite covers the ledger rules in general.
func TestServerRoundTrip(t *testing.T) {
	l := openEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	user, op := randomID(t), randomID(t)
	accounts := []ledger.Account{
		{ID: user, Ledger: 1, Code: ledger.CodeUserAccount, Flags: ledger.AccountDebitsMustNotExceedCredits,
			UserData64: 42},
		{ID: op, Ledger: 1, Code: ledger.CodeOperatorAccount},
	}
	mustCreateAccounts(ctx, t, l, accounts, nil)
	mustCreateAccounts(ctx, t, l, accounts, []ledger.AccountEventResult{
		{Index: 0, Result: ledger.AccountExists}, {Index: 1, Result: ledger.AccountExists}})

	deposit := ledger.Transfer{ID: randomID(t), DebitAccountID: op, CreditAccountID: user,
		Amount: ledger.U128(100), Ledger: 1, Code: ledger.CodeDeposit, UserData128: randomID(t)}
	hold := ledger.Transfer{ID: randomID(t), DebitAccountID: user, CreditAccountID: op,
		Amount: ledger.U128(30), Ledger: 1, Code: ledger.CodeInternalTransfer, Flags: ledger.TransferPending}
	tooMuch := ledger.Transfer{ID: randomID(t), DebitAccountID: user, CreditAccountID: op,
		Amount: ledger.U128(80), Ledger: 1, Code: ledger.CodeInternalTransfer, Flags: ledger.TransferPending}
	mustCreateTransfers(ctx, t, l, []ledger.Transfer{deposit, hold, tooMuch},
		[]ledger.TransferEventResult{{Index: 2, Result: ledger.TransferExceedsCredits}})
	// exceeds_credits is transient: TigerBeetle remembers the id as failed.
	mustCreateTransfers(ctx, t, l, []ledger.Transfer{tooMuch},
		[]ledger.TransferEventResult{{Index: 0, Result: ledger.TransferIDAlreadyFailed}})

	post := ledger.Transfer{ID: ledger.PostID(hold.ID), PendingID: hold.ID, Amount: ledger.AmountMax,
		Flags: ledger.TransferPostPendingTransfer}
	mustCreateTransfers(ctx, t, l, []ledger.Transfer{post}, nil)
	mustCreateTransfers(ctx, t, l, []ledger.Transfer{post},
		[]ledger.TransferEventResult{{Index: 0, Result: ledger.TransferExists}})

	got, err := l.LookupTransfers(ctx, []ledger.Uint128{deposit.ID, randomID(t), post.ID})
	if err != nil || len(got) != 2 {
		t.Fatalf("lookup transfers: %d found, %v", len(got), err)
	}
	if got[0].UserData128 != deposit.UserData128 || got[0].Amount != deposit.Amount || got[0].Timestamp == 0 {
		t.Errorf("deposit read back as %+v", got[0])
	}
	if got[1].Amount != hold.Amount || got[1].DebitAccountID != user || got[1].Code != hold.Code {
		t.Errorf("post read back as %+v; AmountMax should post the whole %v", got[1], hold.Amount)
	}
	acc, err := l.LookupAccounts(ctx, []ledger.Uint128{user})
	if err != nil || len(acc) != 1 {
		t.Fatalf("lookup accounts: %v %v", acc, err)
	}
	if a := acc[0]; a.CreditsPosted != ledger.U128(100) || a.DebitsPosted != ledger.U128(30) ||
		!a.DebitsPending.IsZero() || a.UserData64 != 42 || a.Flags != ledger.AccountDebitsMustNotExceedCredits {
		t.Errorf("user account read back as %+v", a)
	}

	filter := ledger.AccountFilter{AccountID: user, Limit: 10, Flags: ledger.FilterDebits | ledger.FilterCredits}
	history, err := l.GetAccountTransfers(ctx, filter)
	if err != nil || len(history) != 3 || history[0].ID != deposit.ID || history[2].ID != post.ID {
		t.Fatalf("account transfers: %d, %v", len(history), err)
	}
	filter.Flags |= ledger.FilterReversed
	filter.Limit = 1
	if newest, err := l.GetAccountTransfers(ctx, filter); err != nil || len(newest) != 1 || newest[0].ID != post.ID {
		t.Errorf("newest transfer: %v %v", newest, err)
	}

	full := make([]ledger.Transfer, BatchEventsMax)
	base := randomID(t)
	for i := range full {
		full[i] = ledger.Transfer{ID: ledger.Uint128{Lo: base.Lo + uint64(i), Hi: base.Hi},
			DebitAccountID: op, CreditAccountID: user, Amount: ledger.U128(1), Ledger: 1, Code: ledger.CodeDeposit}
	}
	mustCreateTransfers(ctx, t, l, full, nil)
}

func mustCreateAccounts(ctx context.Context, t *testing.T, l *Ledger, a []ledger.Account, want []ledger.AccountEventResult) {
	t.Helper()
	res, err := l.CreateAccounts(ctx, a)
	if err != nil {
		t.Fatalf("create accounts: %v", err)
	}
	if len(res) != len(want) {
		t.Fatalf("create accounts: results %v, want %v", res, want)
	}
	for i := range want {
		if res[i] != want[i] {
			t.Fatalf("create accounts: results %v, want %v", res, want)
		}
	}
}

func mustCreateTransfers(ctx context.Context, t *testing.T, l *Ledger, tr []ledger.Transfer, want []ledger.TransferEventResult) {
	t.Helper()
	res, err := l.CreateTransfers(ctx, tr)
	if err != nil {
		t.Fatalf("create transfers: %v", err)
	}
	if len(res) != len(want) {
		t.Fatalf("create transfers: results %v, want %v", res, want)
	}
	for i := range want {
		if res[i] != want[i] {
			t.Fatalf("create transfers: results %v, want %v", res, want)
		}
	}
}
