package embedded

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/ledger/embedded/filtersnap"
)

// filterIDs returns n distinct ids shaped like real ones: sequential (as
// time-ordered client ids are) or spread over both halves.
func filterIDs(n int, sequential bool) []ledger.Uint128 {
	ids := make([]ledger.Uint128, n)
	for i := range ids {
		if sequential {
			ids[i] = ledger.Uint128{Hi: 0x0190_0000_0000_0000, Lo: uint64(i + 1)}
		} else {
			ids[i] = ledger.Uint128{Hi: uint64(i) * 0x9e3779b97f4a7c15, Lo: uint64(i) ^ 0x5555}
		}
	}
	return ids
}

// TestIDFilter: no added id is ever reported absent (a false negative would
// let a duplicate id be created twice), and the false-positive rate stays
// near the documented figures for the bits each id gets.
func TestIDFilter(t *testing.T) {
	const filterBytes = 1 << 20 // 8 Mbit
	for _, tc := range []struct {
		bitsPerID  int
		fpRateMax  float64
		sequential bool
	}{
		{bitsPerID: 16, fpRateMax: 0.004, sequential: true},
		{bitsPerID: 16, fpRateMax: 0.004},
		{bitsPerID: 10, fpRateMax: 0.02},
		{bitsPerID: 5, fpRateMax: 0.22},
	} {
		t.Run(fmt.Sprintf("bits=%d/sequential=%v", tc.bitsPerID, tc.sequential), func(t *testing.T) {
			f := newIDFilter(filterBytes)
			defer f.release()
			n := filterBytes * 8 / tc.bitsPerID
			all := filterIDs(2*n, tc.sequential)
			added, others := all[:n], all[n:]
			for _, id := range added {
				f.testAndAdd(id)
			}
			for _, id := range added {
				if !f.mayContain(id) || !f.testAndAdd(id) {
					t.Fatalf("id %s was added but reads as absent", id)
				}
			}
			fp := 0
			for _, id := range others {
				if f.mayContain(id) {
					fp++
				}
			}
			rate := float64(fp) / float64(len(others))
			t.Logf("%d bits per id: false-positive rate %.4f", tc.bitsPerID, rate)
			if rate > tc.fpRateMax {
				t.Errorf("false-positive rate %.4f, want at most %.4f", rate, tc.fpRateMax)
			}
		})
	}
}

// TestIDFilterSizing: the filter never exceeds the bytes it is given.
func TestIDFilterSizing(t *testing.T) {
	for _, tc := range []struct{ give, want int64 }{
		{give: 1, want: idFilterBlockBytes},
		{give: 100, want: 64},
		{give: 64 << 20, want: 64 << 20},
		{give: 64<<20 + 1, want: 64 << 20},
	} {
		f := newIDFilter(tc.give)
		if got := int64(len(f.blocks)) * idFilterBlockBytes; got != tc.want {
			t.Errorf("newIDFilter(%d): %d bytes, want %d", tc.give, got, tc.want)
		}
		f.release()
	}
}

// TestIDFilterRebuiltAtOpen: after a restart, resubmitting stored transfers
// and orphaned ids must still find them. If Open did not refill the filter,
// the applier would take the ids for new ones and create them a second
// time. A filter of one block (every id a false positive) must give the
// same answers, only slower.
//
// A clean Close saves the filter and Open reads it back (snapshot); a
// snapshot Open must not trust (its token gone, as after a crash: Open
// consumes it; or the file torn) is ignored and every id read (scan).
func TestIDFilterRebuiltAtOpen(t *testing.T) {
	snapshotAlways(t)
	for _, c := range []struct {
		filterBytes int64
		restart     string // snapshot, no token, torn file
	}{{0, "snapshot"}, {0, "no token"}, {0, "torn file"}, {1, "snapshot"}, {1, "no token"}} {
		filterBytes := c.filterBytes
		t.Run(fmt.Sprintf("bytes=%d/%s", filterBytes, c.restart), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ledger")
			open := func() *Ledger {
				l, err := Open(Options{Dir: dir, CacheBytes: 8 << 20, MemTableBytes: 1 << 20, TransferFilterBytes: filterBytes})
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
			l := open()
			createAB(t, l)
			stored := ledger.Transfer{ID: ledger.Uint128{Hi: 3, Lo: 1}, DebitAccountID: acctA, CreditAccountID: acctB, Amount: ledger.U128(5), Ledger: 1, Code: 1}
			orphan := ledger.Transfer{ID: ledger.Uint128{Hi: 3, Lo: 2}, DebitAccountID: acctA, CreditAccountID: ledger.Uint128{Hi: 0xdead}, Amount: ledger.U128(5), Ledger: 1, Code: 1}
			res, err := l.CreateTransfers(testCtx(t), []ledger.Transfer{stored, orphan})
			if err != nil || len(res) != 1 || res[0].Result != ledger.TransferCreditAccountNotFound {
				t.Fatalf("first create: %v %v", res, err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			snap := dir + ".idfilter"
			spoilSnapshot(t, dir, c.restart)

			l = open()
			defer l.Close()
			if want := c.restart == "snapshot"; l.idsFromSnapshot != want {
				t.Fatalf("filter read from its snapshot: %v, want %v", l.idsFromSnapshot, want)
			}
			if _, err := os.Stat(snap); !os.IsNotExist(err) {
				t.Fatalf("the snapshot is still there after Open (%v): a crash now would leave it to the next Open", err)
			}
			orphan.CreditAccountID = acctB // would now succeed, were the id not pinned
			fresh := stored
			fresh.ID = ledger.Uint128{Hi: 3, Lo: 3}
			res, err = l.CreateTransfers(testCtx(t), []ledger.Transfer{stored, orphan, fresh})
			want := []ledger.TransferEventResult{{Index: 0, Result: ledger.TransferExists}, {Index: 1, Result: ledger.TransferIDAlreadyFailed}}
			if err != nil || fmt.Sprint(res) != fmt.Sprint(want) {
				t.Fatalf("after restart: got %v %v, want %v", res, err, want)
			}
			got, err := l.LookupAccounts(testCtx(t), []ledger.Uint128{acctA})
			if err != nil || len(got) != 1 || got[0].DebitsPosted != ledger.U128(10) {
				t.Fatalf("account A after restart: %+v %v, want debits posted 10", got, err)
			}
		})
	}
}

// BenchmarkIDFilter measures one test-and-add of a new id in a 64 MiB filter.
func BenchmarkIDFilter(b *testing.B) {
	f := newIDFilter(DefaultTransferFilterBytes)
	defer f.release()
	ids := filterIDs(1<<20, false)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		f.testAndAdd(ids[i&(len(ids)-1)])
	}
}

// A post or void reads the pending transfer's status through the filter's
// status tag, and the pending transfer itself from the recent-pending cache:
// a status stored before a restart must still refuse a second post or a
// void (the rebuilt filter must hold its tag), and answers must not depend
// on whether the cache holds the transfer.
//
// Both ways Open fills the filter: from the snapshot a clean Close saved,
// and by reading every stored id (here: the snapshot's token removed).
func TestPendingStatusAcrossRestart(t *testing.T) {
	snapshotAlways(t)
	for _, c := range []struct {
		recent  int
		restart string
	}{{0, "snapshot"}, {-1, "snapshot"}, {0, "no token"}, {-1, "no token"}} {
		recent := c.recent
		t.Run(fmt.Sprintf("recent=%d/%s", recent, c.restart), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ledger")
			open := func() *Ledger {
				l, err := Open(Options{Dir: dir, CacheBytes: 8 << 20, MemTableBytes: 1 << 20, RecentPendingMax: recent})
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
			l := open()
			createAB(t, l)
			hold := func(lo uint64) ledger.Transfer {
				return ledger.Transfer{ID: ledger.Uint128{Hi: 4, Lo: lo}, DebitAccountID: acctA, CreditAccountID: acctB,
					Amount: ledger.U128(3), Ledger: 1, Code: 1, Flags: ledger.TransferPending}
			}
			resolve := func(lo uint64, pending ledger.Uint128, flags uint16) ledger.Transfer {
				t := ledger.Transfer{ID: ledger.Uint128{Hi: 5, Lo: lo}, PendingID: pending, Flags: flags}
				if flags&ledger.TransferPostPendingTransfer != 0 {
					t.Amount = ledger.AmountMax // the full hold
				}
				return t
			}
			posted, open1 := hold(1), hold(2)
			res, err := l.CreateTransfers(testCtx(t), []ledger.Transfer{posted, open1})
			if err != nil || len(res) != 0 {
				t.Fatalf("holds: %v %v", res, err)
			}
			// Posted in a later group, while the hold is fresh.
			if res, err = l.CreateTransfers(testCtx(t), []ledger.Transfer{resolve(1, posted.ID, ledger.TransferPostPendingTransfer)}); err != nil || len(res) != 0 {
				t.Fatalf("post: %v %v", res, err)
			}
			if res, err = l.CreateTransfers(testCtx(t), []ledger.Transfer{resolve(2, posted.ID, ledger.TransferVoidPendingTransfer)}); err != nil ||
				len(res) != 1 || res[0].Result != ledger.TransferPendingTransferAlreadyPosted {
				t.Fatalf("void of a posted hold before restart: %v %v", res, err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			snap := dir + ".idfilter"
			spoilSnapshot(t, dir, c.restart)

			l = open()
			defer l.Close()
			if want := c.restart == "snapshot"; l.idsFromSnapshot != want {
				t.Fatalf("filter read from its snapshot: %v, want %v", l.idsFromSnapshot, want)
			}
			if _, err := os.Stat(snap); !os.IsNotExist(err) {
				t.Fatalf("the snapshot is still there after Open (%v): a crash now would leave it to the next Open", err)
			}
			res, err = l.CreateTransfers(testCtx(t), []ledger.Transfer{
				resolve(3, posted.ID, ledger.TransferVoidPendingTransfer),
				resolve(4, open1.ID, ledger.TransferVoidPendingTransfer),
			})
			want := []ledger.TransferEventResult{{Index: 0, Result: ledger.TransferPendingTransferAlreadyPosted}}
			if err != nil || fmt.Sprint(res) != fmt.Sprint(want) {
				t.Fatalf("after restart: got %v %v, want %v", res, err, want)
			}
			got, err := l.LookupAccounts(testCtx(t), []ledger.Uint128{acctA})
			if err != nil || len(got) != 1 || got[0].DebitsPosted != ledger.U128(3) || got[0].DebitsPending != ledger.U128(0) {
				t.Fatalf("account A after restart: %+v %v, want 3 posted and nothing pending", got, err)
			}
		})
	}
}

// snapshotAlways makes Close save a filter snapshot however few entries it
// holds, until t ends.
func snapshotAlways(t *testing.T) {
	old := filtersnap.MinEntries
	filtersnap.MinEntries = 0
	t.Cleanup(func() { filtersnap.MinEntries = old })
}

// A filter of few ids is not saved: reading them at Open costs less.
func TestFewIDsAreNotSnapshot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ledger")
	l, err := Open(Options{Dir: dir, CacheBytes: 8 << 20, MemTableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	createAB(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir + ".idfilter"); !os.IsNotExist(err) {
		t.Fatalf("a filter of two accounts' ledger was saved (%v)", err)
	}
}

// spoilSnapshot readies the ledger closed in dir for a restart of kind how:
// "snapshot" leaves the snapshot Close saved, "no token" deletes its token
// (as a crash after Open consumed it would leave it), "torn file" cuts the
// file short.
func spoilSnapshot(t *testing.T, dir, how string) {
	t.Helper()
	snap := dir + ".idfilter"
	if _, err := os.Stat(snap); err != nil {
		t.Fatalf("no filter snapshot after Close: %v", err)
	}
	switch how {
	case "no token":
		db, err := pebble.Open(dir, &pebble.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Delete(idFilterTokenKey, pebble.Sync); err != nil {
			t.Fatal(err)
		}
		_ = db.Close()
	case "torn file":
		if err := os.Truncate(snap, 1000); err != nil {
			t.Fatal(err)
		}
	}
}

// Every group that writes changes the id filter's snapshot stamp, even one
// that only expires a hold (it assigns no timestamp): a stamp that stayed
// would let a snapshot taken before such writes be restored after them.
func TestExpiryChangesTheFilterStamp(t *testing.T) {
	clock := &fakeClock{}
	clock.ns.Store(1_000_000_000_000)
	l := openAt(t, t.TempDir(), clock)
	defer l.Close()
	createAB(t, l)
	p := ledger.Transfer{ID: ledger.U128(7), DebitAccountID: acctA, CreditAccountID: acctB, Amount: ledger.U128(9),
		Ledger: 1, Code: 1, Flags: ledger.TransferPending, Timeout: 60}
	if res, err := l.CreateTransfers(testCtx(t), []ledger.Transfer{p}); err != nil || len(res) != 0 {
		t.Fatalf("create: %v %v", res, err)
	}
	before, err := l.idFilterStamp()
	if err != nil {
		t.Fatal(err)
	}
	clock.ns.Add(uint64(61 * time.Second))
	waitHoldsReleased(t, l)
	after, err := l.idFilterStamp()
	if err != nil {
		t.Fatal(err)
	}
	if string(after) == string(before) {
		t.Fatalf("stamp %x unchanged by a group that expired a hold", after)
	}
}
