package tigerbeetle

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/tigerbeetle/tigerbeetle-go/pkg/types"

	"github.com/exchange/internal-transfer/ledger"
)

// TestLayout proves the zero-copy conversion is sound: every field of our
// types sits at the offset, with the size and name, of tigerbeetle-go's.
func TestLayout(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ours, tb any
	}{
		{"Account", ledger.Account{}, types.Account{}},
		{"Transfer", ledger.Transfer{}, types.Transfer{}},
		{"AccountEventResult", ledger.AccountEventResult{}, types.AccountEventResult{}},
		{"TransferEventResult", ledger.TransferEventResult{}, types.TransferEventResult{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, b := reflect.TypeOf(tc.ours), reflect.TypeOf(tc.tb)
			if o.Size() != b.Size() || o.Align() != b.Align() {
				t.Fatalf("size/align %d/%d, tigerbeetle-go %d/%d", o.Size(), o.Align(), b.Size(), b.Align())
			}
			if o.NumField() != b.NumField() {
				t.Fatalf("%d fields, tigerbeetle-go %d", o.NumField(), b.NumField())
			}
			for i := range o.NumField() {
				of, bf := o.Field(i), b.Field(i)
				if of.Name != bf.Name || of.Offset != bf.Offset || of.Type.Size() != bf.Type.Size() {
					t.Errorf("field %d: %s at %d size %d, tigerbeetle-go %s at %d size %d",
						i, of.Name, of.Offset, of.Type.Size(), bf.Name, bf.Offset, bf.Type.Size())
				}
			}
		})
	}
	if a, b := unsafe.Sizeof(ledger.Account{}), uintptr(128); a != b {
		t.Errorf("Account is %d bytes, TigerBeetle's is %d", a, b)
	}
}

// u128 returns a value whose 16 bytes are all different, seeded by n, so a
// field read from the wrong offset or in the wrong byte order shows.
func u128(n uint64) ledger.Uint128 {
	return ledger.Uint128{Lo: 0x0706050403020100 + n*0x1010101010101010, Hi: 0x0f0e0d0c0b0a0908 + n}
}

// hex128 is u as tigerbeetle-go prints it, computed independently of both
// packages' memory layout.
func hex128(u ledger.Uint128) string { return fmt.Sprintf("%x", u.BigInt()) }

func TestTransferRoundTrip(t *testing.T) {
	in := []ledger.Transfer{
		{ID: u128(1), DebitAccountID: u128(2), CreditAccountID: u128(3), Amount: u128(4),
			PendingID: u128(5), UserData128: u128(6), UserData64: 0x1122334455667788,
			UserData32: 0x99aabbcc, Timeout: 3600, Ledger: 7, Code: 8, Flags: ledger.TransferPending | ledger.TransferLinked,
			Timestamp: 1 << 60},
		{ID: ledger.AmountMax, Amount: ledger.AmountMax, Flags: ledger.TransferPostPendingTransfer},
	}
	want := append([]ledger.Transfer(nil), in...)
	got := tbTransfers(in)
	if &got[0] != (*types.Transfer)(unsafe.Pointer(&in[0])) {
		t.Fatal("tbTransfers copied the batch")
	}
	for i, g := range got {
		w := want[i]
		for _, f := range []struct {
			name string
			tb   types.Uint128
			want ledger.Uint128
		}{
			{"ID", g.ID, w.ID}, {"DebitAccountID", g.DebitAccountID, w.DebitAccountID},
			{"CreditAccountID", g.CreditAccountID, w.CreditAccountID}, {"Amount", g.Amount, w.Amount},
			{"PendingID", g.PendingID, w.PendingID}, {"UserData128", g.UserData128, w.UserData128},
		} {
			if f.tb.String() != hex128(f.want) {
				t.Errorf("[%d].%s = %s, want %s", i, f.name, f.tb.String(), hex128(f.want))
			}
		}
		if g.UserData64 != w.UserData64 || g.UserData32 != w.UserData32 || g.Timeout != w.Timeout ||
			g.Ledger != w.Ledger || g.Code != w.Code || g.Flags != w.Flags || g.Timestamp != w.Timestamp {
			t.Errorf("[%d] scalar fields differ: %+v vs %+v", i, g, w)
		}
		if g.TransferFlags().Pending != (w.Flags&ledger.TransferPending != 0) {
			t.Errorf("[%d] pending flag differs", i)
		}
	}
	if diff := cmp.Diff(want, fromTBTransfers(got)); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestAccountRoundTrip(t *testing.T) {
	in := []ledger.Account{{
		ID: u128(1), DebitsPending: u128(2), DebitsPosted: u128(3), CreditsPending: u128(4),
		CreditsPosted: u128(5), UserData128: u128(6), UserData64: 0x0102030405060708, UserData32: 0x0a0b0c0d,
		Ledger: 9, Code: 10, Flags: ledger.AccountDebitsMustNotExceedCredits | ledger.AccountHistory, Timestamp: 12345,
	}}
	want := append([]ledger.Account(nil), in...)
	got := tbAccounts(in)
	g, w := got[0], want[0]
	for _, f := range []struct {
		name string
		tb   types.Uint128
		want ledger.Uint128
	}{
		{"ID", g.ID, w.ID}, {"DebitsPending", g.DebitsPending, w.DebitsPending},
		{"DebitsPosted", g.DebitsPosted, w.DebitsPosted}, {"CreditsPending", g.CreditsPending, w.CreditsPending},
		{"CreditsPosted", g.CreditsPosted, w.CreditsPosted}, {"UserData128", g.UserData128, w.UserData128},
	} {
		if f.tb.String() != hex128(f.want) {
			t.Errorf("%s = %s, want %s", f.name, f.tb.String(), hex128(f.want))
		}
	}
	if fl := g.AccountFlags(); !fl.DebitsMustNotExceedCredits || !fl.History || fl.Linked {
		t.Errorf("flags decode as %+v", fl)
	}
	if g.UserData64 != w.UserData64 || g.UserData32 != w.UserData32 || g.Ledger != w.Ledger ||
		g.Code != w.Code || g.Timestamp != w.Timestamp {
		t.Errorf("scalar fields differ: %+v vs %+v", g, w)
	}
	if diff := cmp.Diff(want, fromTBAccounts(got)); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	ids := tbIDs([]ledger.Uint128{u128(3)})
	if ids[0].String() != hex128(u128(3)) {
		t.Errorf("id %s, want %s", ids[0].String(), hex128(u128(3)))
	}
}

func TestResultsConversion(t *testing.T) {
	tr := fromTBTransferResults([]types.TransferEventResult{{Index: 7, Result: types.TransferExceedsCredits}})
	if want := []ledger.TransferEventResult{{Index: 7, Result: ledger.TransferExceedsCredits}}; !reflect.DeepEqual(tr, want) {
		t.Errorf("transfer results %v, want %v", tr, want)
	}
	ar := fromTBAccountResults([]types.AccountEventResult{{Index: 8190, Result: types.AccountExists}})
	if want := []ledger.AccountEventResult{{Index: 8190, Result: ledger.AccountExists}}; !reflect.DeepEqual(ar, want) {
		t.Errorf("account results %v, want %v", ar, want)
	}
	if fromTBTransfers(nil) != nil || fromTBAccountResults([]types.AccountEventResult{}) != nil {
		t.Error("empty results should be nil, as the embedded ledger returns them")
	}
}

// TestResultNumbering compares every result code 0..127 by name: our
// snake_case names against tigerbeetle-go's CamelCase ones.
func TestResultNumbering(t *testing.T) {
	norm := func(s, prefix string) string {
		return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(s, prefix), "_", ""))
	}
	for n := range uint32(128) {
		ours := norm(ledger.CreateTransferResult(n).String(), "")
		theirs := norm(types.CreateTransferResult(n).String(), "Transfer")
		if strings.HasPrefix(ours, "unknown") != strings.HasPrefix(theirs, "createtransferresult(") ||
			!strings.HasPrefix(ours, "unknown") && ours != theirs {
			t.Errorf("transfer result %d: ours %q, tigerbeetle-go %q", n, ours, theirs)
		}
		ours = norm(ledger.CreateAccountResult(n).String(), "")
		theirs = norm(types.CreateAccountResult(n).String(), "Account")
		if strings.HasPrefix(ours, "unknown") != strings.HasPrefix(theirs, "createaccountresult(") ||
			!strings.HasPrefix(ours, "unknown") && ours != theirs {
			t.Errorf("account result %d: ours %q, tigerbeetle-go %q", n, ours, theirs)
		}
	}
}

func TestFlagBits(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ours, tb64 uint64
	}{
		{"account linked", uint64(ledger.AccountLinked), uint64(types.AccountFlags{Linked: true}.ToUint16())},
		{"account debits<=credits", uint64(ledger.AccountDebitsMustNotExceedCredits), uint64(types.AccountFlags{DebitsMustNotExceedCredits: true}.ToUint16())},
		{"account credits<=debits", uint64(ledger.AccountCreditsMustNotExceedDebits), uint64(types.AccountFlags{CreditsMustNotExceedDebits: true}.ToUint16())},
		{"account history", uint64(ledger.AccountHistory), uint64(types.AccountFlags{History: true}.ToUint16())},
		{"account imported", uint64(ledger.AccountImported), uint64(types.AccountFlags{Imported: true}.ToUint16())},
		{"account closed", uint64(ledger.AccountClosed), uint64(types.AccountFlags{Closed: true}.ToUint16())},
		{"transfer linked", uint64(ledger.TransferLinked), uint64(types.TransferFlags{Linked: true}.ToUint16())},
		{"transfer pending", uint64(ledger.TransferPending), uint64(types.TransferFlags{Pending: true}.ToUint16())},
		{"transfer post", uint64(ledger.TransferPostPendingTransfer), uint64(types.TransferFlags{PostPendingTransfer: true}.ToUint16())},
		{"transfer void", uint64(ledger.TransferVoidPendingTransfer), uint64(types.TransferFlags{VoidPendingTransfer: true}.ToUint16())},
		{"transfer balancing debit", uint64(ledger.TransferBalancingDebit), uint64(types.TransferFlags{BalancingDebit: true}.ToUint16())},
		{"transfer balancing credit", uint64(ledger.TransferBalancingCredit), uint64(types.TransferFlags{BalancingCredit: true}.ToUint16())},
		{"transfer closing debit", uint64(ledger.TransferClosingDebit), uint64(types.TransferFlags{ClosingDebit: true}.ToUint16())},
		{"transfer closing credit", uint64(ledger.TransferClosingCredit), uint64(types.TransferFlags{ClosingCredit: true}.ToUint16())},
		{"transfer imported", uint64(ledger.TransferImported), uint64(types.TransferFlags{Imported: true}.ToUint16())},
		{"filter debits", uint64(ledger.FilterDebits), uint64(types.AccountFilterFlags{Debits: true}.ToUint32())},
		{"filter credits", uint64(ledger.FilterCredits), uint64(types.AccountFilterFlags{Credits: true}.ToUint32())},
		{"filter reversed", uint64(ledger.FilterReversed), uint64(types.AccountFilterFlags{Reversed: true}.ToUint32())},
	} {
		if tc.ours != tc.tb64 {
			t.Errorf("%s: ours %#x, tigerbeetle-go %#x", tc.name, tc.ours, tc.tb64)
		}
	}
}

func TestFilter(t *testing.T) {
	valid := ledger.AccountFilter{AccountID: u128(1), TimestampMin: 10, TimestampMax: 20, Limit: 100,
		Flags: ledger.FilterDebits | ledger.FilterReversed}
	f, err := tbFilter(valid)
	if err != nil {
		t.Fatalf("valid filter refused: %v", err)
	}
	fl := f.AccountFilterFlags()
	if f.AccountID.String() != hex128(valid.AccountID) || f.TimestampMin != 10 || f.TimestampMax != 20 ||
		f.Limit != 100 || !fl.Debits || fl.Credits || !fl.Reversed || f.Code != 0 || f.UserData64 != 0 {
		t.Errorf("converted filter %+v", f)
	}
	for _, tc := range []struct {
		name string
		edit func(*ledger.AccountFilter)
	}{
		{"zero account", func(f *ledger.AccountFilter) { f.AccountID = ledger.Uint128{} }},
		{"max account", func(f *ledger.AccountFilter) { f.AccountID = ledger.AmountMax }},
		{"min max", func(f *ledger.AccountFilter) { f.TimestampMin = ^uint64(0) }},
		{"max max", func(f *ledger.AccountFilter) { f.TimestampMax = ^uint64(0) }},
		{"min past 2^63-1", func(f *ledger.AccountFilter) { f.TimestampMin, f.TimestampMax = 1<<63, 0 }},
		{"max past 2^63-1", func(f *ledger.AccountFilter) { f.TimestampMax = 1 << 63 }},
		{"min after max", func(f *ledger.AccountFilter) { f.TimestampMin, f.TimestampMax = 21, 20 }},
		{"zero limit", func(f *ledger.AccountFilter) { f.Limit = 0 }},
		{"limit too large", func(f *ledger.AccountFilter) { f.Limit = ledger.BatchEventsMax + 1 }},
		{"neither side", func(f *ledger.AccountFilter) { f.Flags = ledger.FilterReversed }},
		{"unknown flag", func(f *ledger.AccountFilter) { f.Flags |= 1 << 3 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := valid
			tc.edit(&f)
			if _, err := tbFilter(f); !errors.Is(err, ledger.ErrInvalidFilter) {
				t.Errorf("got %v, want ErrInvalidFilter", err)
			}
		})
	}
	open := valid
	open.TimestampMin, open.TimestampMax = 30, 0 // max 0 means unbounded
	if _, err := tbFilter(open); err != nil {
		t.Errorf("unbounded max refused: %v", err)
	}
	top := valid
	top.TimestampMin, top.TimestampMax = 1<<63-1, 1<<63-1 // TimestampRange's top
	if _, err := tbFilter(top); err != nil {
		t.Errorf("timestamps of 2^63-1 refused: %v", err)
	}
}
