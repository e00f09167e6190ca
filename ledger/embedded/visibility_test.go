package embedded

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/exchange/internal-transfer/ledger"
)

// gatedFS holds every WAL sync while the gate is closed.
type gatedFS struct {
	vfs.FS
	gate *syncGate
}

type syncGate struct {
	mu     sync.Mutex
	closed bool
	open   chan struct{}
}

func (g *syncGate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed, g.open = true, make(chan struct{})
}

func (g *syncGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		g.closed = false
		close(g.open)
	}
}

func (g *syncGate) wait() {
	g.mu.Lock()
	closed, open := g.closed, g.open
	g.mu.Unlock()
	if closed {
		<-open
	}
}

func (fs gatedFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return gatedFile{File: f, gate: fs.gate}, nil
}

func (fs gatedFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	return fs.wrap(name, f, err)
}

func (fs gatedFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, c)
	return fs.wrap(newname, f, err)
}

type gatedFile struct {
	vfs.File
	gate *syncGate
}

func (f gatedFile) Sync() error     { f.gate.wait(); return f.File.Sync() }
func (f gatedFile) SyncData() error { f.gate.wait(); return f.File.SyncData() }
func (f gatedFile) SyncTo(length int64) (bool, error) {
	f.gate.wait()
	return f.File.SyncTo(length)
}

// Pebble makes a committed batch readable before its WAL fsync returns. The
// ledger must not: a transfer still syncing is unknown to every query until
// CreateTransfers has answered (a settler that saw it could record a request
// final before the post is durable, or before the balances show it).
func TestQueriesIgnoreTransfersStillSyncing(t *testing.T) {
	gate := &syncGate{}
	l, err := Open(Options{Dir: t.TempDir(), FS: gatedFS{FS: vfs.Default, gate: gate}, CacheBytes: 8 << 20, MemTableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		gate.release()
		l.Close()
	}()
	createAB(t, l)
	tr := ledger.Transfer{ID: ledger.U128(7), DebitAccountID: acctA, CreditAccountID: acctB, Amount: ledger.U128(3), Ledger: 1, Code: 1}

	gate.close()
	done := make(chan error, 1)
	go func() {
		res, err := l.CreateTransfers(testCtx(t), []ledger.Transfer{tr})
		if err == nil && len(res) != 0 {
			t.Errorf("create: %v", res)
		}
		done <- err
	}()
	// Pebble has the batch readable well within this while its sync waits;
	// the test is only worth something once it does.
	deadline := time.Now().Add(300 * time.Millisecond)
	pebbleShows := false
	for time.Now().Before(deadline) {
		if v, closer, err := l.db.Get(idKey(make([]byte, keyIDSize), prefixTransfer, tr.ID)); err == nil {
			pebbleShows = pebbleShows || len(v) > 0
			closer.Close()
		}
		select {
		case err := <-done:
			t.Fatalf("CreateTransfers returned (%v) while its WAL sync was held", err)
		default:
		}
		if got, err := l.LookupTransfers(testCtx(t), []ledger.Uint128{tr.ID}); err != nil || len(got) != 0 {
			t.Fatalf("LookupTransfers while the transfer syncs: %v %v, want nothing", got, err)
		}
		got, err := l.GetAccountTransfers(testCtx(t), ledger.AccountFilter{AccountID: acctA, Limit: 10, Flags: ledger.FilterDebits | ledger.FilterCredits})
		if err != nil || len(got) != 0 {
			t.Fatalf("GetAccountTransfers while the transfer syncs: %v %v, want nothing", got, err)
		}
		expectPosted(t, l, 0, "while the transfer syncs")
		time.Sleep(5 * time.Millisecond)
	}
	if !pebbleShows {
		t.Fatal("Pebble never showed the transfer while its sync was held: the test proves nothing")
	}

	gate.release()
	if err := <-done; err != nil {
		t.Fatalf("create: %v", err)
	}
	if got, err := l.LookupTransfers(testCtx(t), []ledger.Uint128{tr.ID}); err != nil || len(got) != 1 {
		t.Fatalf("LookupTransfers after the sync: %v %v", got, err)
	}
	got, err := l.GetAccountTransfers(testCtx(t), ledger.AccountFilter{AccountID: acctA, Limit: 10, Flags: ledger.FilterDebits | ledger.FilterCredits})
	if err != nil || len(got) != 1 || got[0].ID != tr.ID {
		t.Fatalf("GetAccountTransfers after the sync: %v %v", got, err)
	}
	expectPosted(t, l, 3, "after the sync")
}

// expectPosted checks that LookupAccounts shows amount posted from acctA to
// acctB.
func expectPosted(t *testing.T, l *Ledger, amount uint64, when string) {
	t.Helper()
	accts, err := l.LookupAccounts(testCtx(t), []ledger.Uint128{acctA, acctB})
	if err != nil || len(accts) != 2 {
		t.Fatalf("LookupAccounts %s: %v %v", when, accts, err)
	}
	if accts[0].DebitsPosted != ledger.U128(amount) || accts[1].CreditsPosted != ledger.U128(amount) {
		t.Fatalf("LookupAccounts %s: debits posted %v, credits posted %v; want %d", when, accts[0].DebitsPosted, accts[1].CreditsPosted, amount)
	}
}
