package embedded

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/go-cmp/cmp"

	"github.com/exchange/internal-transfer/ledger"
)

// fuzzStepsMax bounds the operations decoded from one input.
const fuzzStepsMax = 64

// FuzzLedgerModel decodes the input into a sequence of operations, applies
// each to the engine and to the reference model, and after every step checks
// that the results agree, that every account agrees, that debits equal
// credits per ledger (pending and posted apart), that no account with a
// limit is past it, and that replaying an event that succeeded says exists.
// Some steps close and reopen the engine, so state must survive restarts.
func FuzzLedgerModel(f *testing.F) {
	for _, seed := range fuzzSeeds {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// An in-memory filesystem: the fuzzer checks the rules, the crash
		// test checks the disk.
		fz := &fuzzer{t: t, in: data, m: newModel(), fs: vfs.NewMem()}
		fz.open()
		defer func() { _ = fz.l.Close() }()
		for step := 0; step < fuzzStepsMax && len(fz.in) > 0; step++ {
			fz.step()
			fz.check()
		}
	})
}

// fuzzSeeds are fixed inputs replayed by plain `go test`; each byte string is
// a program for fuzzer.step (see the op* constants).
var fuzzSeeds = [][]byte{
	{opAccounts, 4, 0, 1, 2, 3, opTransfers, 3, 0x00, 0, 1, 30, 0x01, 1, 2, 10, 0x02, 0, 3, 5},
	{opAccounts, 3, 1, 1, 0, opTransfers, 2, 0x00, 2, 0, 50, 0x01, 0, 1, 20, opTransfers, 2, 0x03, 0, 0, 0, 0x04, 0, 0, 0, opReopen, opTransfers, 1, 0x05, 0, 0, 0},
	{opAccounts, 4, 1, 0, 1, 0, opTransfers, 4, 0x80, 1, 0, 10, 0x80, 1, 2, 10, 0x00, 1, 3, 200, 0x00, 3, 1, 5, opTransfers, 2, 0x06, 0, 0, 0, 0x07, 1, 0, 0},
	{opAccounts, 2, 0, 0, opTransfers, 3, 0x01, 0, 1, 40, 0x03, 0, 0, 10, 0x05, 0, 0, 0, opReopen, opTransfers, 2, 0x04, 1, 0, 0, 0x05, 1, 0, 0},
	{opAccounts, 3, 1, 2, 0, opTransfers, 3, 0x00, 2, 0, 9, 0x08, 0, 2, 100, 0x06, 0, 0, 0, opTransfers, 2, 0x81, 0, 1, 1, 0x81, 1, 0, 1},
	{opAccounts, 5, 0, 1, 2, 1, 0, opTransfers, 6, 0x00, 0, 1, 12, 0x01, 1, 2, 8, 0x09, 0, 4, 3, 0x03, 1, 0, 0, 0x04, 1, 0, 0, 0x02, 2, 0, 7, opReopen, opTransfers, 3, 0x06, 0, 0, 0, 0x06, 1, 0, 0, 0x07, 2, 0, 0},
}

// Operations of the fuzz program.
const (
	opAccounts = iota
	opTransfers
	opReopen
	opCount
)

type fuzzer struct {
	t     *testing.T
	in    []byte
	m     *model
	l     *Ledger
	fs    vfs.FS
	ids   []ledger.Uint128  // accounts created (by model), in order
	done  []ledger.Transfer // events that succeeded, for replays
	pends []ledger.Transfer // pending transfers that succeeded
	next  uint64
}

func (fz *fuzzer) byte() byte {
	if len(fz.in) == 0 {
		return 0
	}
	b := fz.in[0]
	fz.in = fz.in[1:]
	return b
}

func (fz *fuzzer) open() {
	l, err := Open(Options{Dir: "ledger", FS: fz.fs, CacheBytes: 8 << 20, MemTableBytes: 1 << 20, TransferFilterBytes: 1 << 20})
	if err != nil {
		fz.t.Fatal(err)
	}
	fz.l = l
}

func (fz *fuzzer) newID() ledger.Uint128 {
	fz.next++
	return ledger.Uint128{Hi: 0xf0, Lo: fz.next}
}

func (fz *fuzzer) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	fz.t.Cleanup(cancel)
	return ctx
}

func (fz *fuzzer) step() {
	switch fz.byte() % opCount {
	case opAccounts:
		fz.accounts()
	case opTransfers:
		fz.transfers()
	case opReopen:
		if err := fz.l.Close(); err != nil {
			fz.t.Fatal(err)
		}
		fz.open()
	}
}

// accounts creates 1..4 accounts: each byte picks flags (none, debit limit,
// credit limit) and the ledger (1 or 2); a high byte replays an account.
func (fz *fuzzer) accounts() {
	n := 1 + int(fz.byte()%4)
	batch := make([]ledger.Account, n)
	for i := range batch {
		b := fz.byte()
		a := ledger.Account{ID: fz.newID(), Ledger: 1 + uint32(b>>2)%2, Code: 1}
		a.Flags = [3]uint16{0, ledger.AccountDebitsMustNotExceedCredits, ledger.AccountCreditsMustNotExceedDebits}[b%3]
		if b >= 0xf0 && len(fz.ids) > 0 {
			a = fz.m.accounts[fz.ids[int(b)%len(fz.ids)]]
			a.Timestamp, a.DebitsPending, a.DebitsPosted, a.CreditsPending, a.CreditsPosted =
				0, ledger.Uint128{}, ledger.Uint128{}, ledger.Uint128{}, ledger.Uint128{}
		}
		batch[i] = a
	}
	want := fz.m.createAccounts(batch)
	got, err := fz.l.CreateAccounts(fz.ctx(), batch)
	if err != nil {
		fz.t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		fz.t.Fatalf("create accounts %+v: results differ (-model +engine):\n%s", batch, diff)
	}
	for _, a := range batch {
		if _, ok := fz.m.accounts[a.ID]; ok && (len(fz.ids) == 0 || fz.ids[len(fz.ids)-1] != a.ID) && !contains(fz.ids, a.ID) {
			fz.ids = append(fz.ids, a.ID)
		}
	}
}

func contains(ids []ledger.Uint128, id ledger.Uint128) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// account picks a known account by b, or a missing one when there is none
// or b says so.
func (fz *fuzzer) account(b byte) ledger.Uint128 {
	if len(fz.ids) == 0 || b == 0xff {
		return ledger.Uint128{Hi: 0xdead, Lo: uint64(b)}
	}
	return fz.ids[int(b)%len(fz.ids)]
}

// transfers creates a batch of 1..6 transfers. Each event is 4 bytes: kind
// (low 4 bits; bit 7: linked), a, b, amount.
func (fz *fuzzer) transfers() {
	n := 1 + int(fz.byte()%6)
	batch := make([]ledger.Transfer, n)
	replays := map[int]bool{}
	for i := range batch {
		kind, a, b, amount := fz.byte(), fz.byte(), fz.byte(), uint64(fz.byte()%64)
		tr := fz.event(kind&0x0f, a, b, amount, &replays, i)
		if kind&0x80 != 0 && !replays[i] { // an exact replay keeps its own flags
			tr.Flags |= ledger.TransferLinked
		}
		batch[i] = tr
	}
	want := fz.m.createTransfers(batch)
	got, err := fz.l.CreateTransfers(fz.ctx(), batch)
	if err != nil {
		fz.t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		fz.t.Fatalf("create transfers %+v: results differ (-model +engine):\n%s", batch, diff)
	}
	failed := map[uint32]ledger.CreateTransferResult{}
	for _, r := range got {
		failed[r.Index] = r.Result
	}
	for i, tr := range batch {
		res, bad := failed[uint32(i)]
		if replays[i] && bad && res != ledger.TransferExists && res != ledger.TransferLinkedEventFailed &&
			res != ledger.TransferLinkedEventChainOpen {
			fz.t.Fatalf("replay of a successful event %+v: %v, want exists", tr, res)
		}
		if bad {
			continue
		}
		fz.done = append(fz.done, tr) // with its linked flag: the stored transfer keeps it
		if tr.Flags&ledger.TransferPending != 0 {
			fz.pends = append(fz.pends, tr)
		}
	}
}

// event builds one transfer of the given kind.
func (fz *fuzzer) event(kind, a, b byte, amount uint64, replays *map[int]bool, i int) ledger.Transfer {
	tr := ledger.Transfer{ID: fz.newID(), DebitAccountID: fz.account(a), CreditAccountID: fz.account(b),
		Amount: ledger.U128(amount), Ledger: 1, Code: 1}
	if acct, ok := fz.m.accounts[tr.DebitAccountID]; ok {
		tr.Ledger = acct.Ledger
	}
	pending := func() (ledger.Transfer, bool) {
		if len(fz.pends) == 0 {
			return ledger.Transfer{}, false
		}
		return fz.pends[int(a)%len(fz.pends)], true
	}
	switch kind % 10 {
	case 1:
		tr.Flags = ledger.TransferPending
	case 2:
		tr.Flags = ledger.TransferBalancingDebit
	case 3, 4, 5: // post full, post partial, void
		p, ok := pending()
		if !ok {
			p.ID = fz.newID() // pending_transfer_not_found
		}
		tr = ledger.Transfer{ID: fz.newID(), PendingID: p.ID, Flags: ledger.TransferPostPendingTransfer, Amount: ledger.AmountMax}
		if kind%10 == 4 {
			tr.Amount = ledger.U128(amount)
		} else if kind%10 == 5 {
			tr.Flags, tr.Amount = ledger.TransferVoidPendingTransfer, ledger.Uint128{}
		}
	case 6, 7: // exact replay of a successful event
		if len(fz.done) > 0 {
			tr = fz.done[int(a)%len(fz.done)]
			(*replays)[i] = true
		}
	case 8: // replay with another amount
		if len(fz.done) > 0 {
			tr = fz.done[int(a)%len(fz.done)]
			tr.Amount = ledger.U128(tr.Amount.Lo + 1 + amount)
		}
	case 9: // an id reused from anything earlier, successful or not
		tr.ID = ledger.Uint128{Hi: 0xf0, Lo: 1 + uint64(a)%max(fz.next, 1)}
	}
	return tr
}

// check compares every account with the model and checks the invariants.
func (fz *fuzzer) check() {
	if len(fz.ids) == 0 {
		return
	}
	got, err := fz.l.LookupAccounts(fz.ctx(), fz.ids)
	if err != nil {
		fz.t.Fatal(err)
	}
	if len(got) != len(fz.ids) {
		fz.t.Fatalf("lookup found %d of %d accounts", len(got), len(fz.ids))
	}
	type sums struct{ dp, dpo, cp, cpo uint64 }
	perLedger := map[uint32]*sums{}
	for _, a := range got {
		w := fz.m.accounts[a.ID]
		w.Timestamp = a.Timestamp
		if a != w {
			fz.t.Fatalf("account %v: engine %+v, model %+v", a.ID, a, w)
		}
		s := perLedger[a.Ledger]
		if s == nil {
			s = &sums{}
			perLedger[a.Ledger] = s
		}
		s.dp, s.dpo, s.cp, s.cpo = s.dp+a.DebitsPending.Lo, s.dpo+a.DebitsPosted.Lo, s.cp+a.CreditsPending.Lo, s.cpo+a.CreditsPosted.Lo
		if a.Flags&ledger.AccountDebitsMustNotExceedCredits != 0 && a.DebitsPending.Lo+a.DebitsPosted.Lo > a.CreditsPosted.Lo {
			fz.t.Fatalf("account %v past its debit limit: %+v", a.ID, a)
		}
		if a.Flags&ledger.AccountCreditsMustNotExceedDebits != 0 && a.CreditsPending.Lo+a.CreditsPosted.Lo > a.DebitsPosted.Lo {
			fz.t.Fatalf("account %v past its credit limit: %+v", a.ID, a)
		}
	}
	for l, s := range perLedger {
		if s.dp != s.cp || s.dpo != s.cpo {
			fz.t.Fatalf("ledger %d unbalanced: %s", l, fmt.Sprintf("%+v", *s))
		}
	}
}
