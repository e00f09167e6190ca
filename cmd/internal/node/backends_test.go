package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/cockroachdb/pebble/v2"
	"github.com/exchange/internal-transfer/config"
	"github.com/exchange/internal-transfer/ledger"
	ledgerembedded "github.com/exchange/internal-transfer/ledger/embedded"
	"github.com/exchange/internal-transfer/ledger/ledgertest"
	"github.com/exchange/internal-transfer/store"
	storeembedded "github.com/exchange/internal-transfer/store/embedded"
	"github.com/exchange/internal-transfer/store/storetest"
)

func embeddedConfig(dir string) *config.Config {
	cfg := config.Defaults()
	cfg.Server.DataDir = dir
	cfg.Backends.Ledger, cfg.Backends.Store = "embedded", "embedded"
	return cfg
}

// openSharedDB opens the shared database as OpenBackends does, in a fresh
// data dir, and closes it when t ends (after every user registered later).
func openSharedDB(t *testing.T) *pebble.DB {
	t.Helper()
	db, err := openShared(embeddedConfig(t.TempDir()))
	if err != nil || db == nil {
		t.Fatalf("openShared: %v (db %v)", err, db)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close shared database: %v", err)
		}
	})
	return db
}

// sampleAccount is a ledger account the neighbour of a suite writes.
func sampleAccount(n uint64) ledger.Account {
	return ledger.Account{ID: ledger.U128(1_000_000 + n), Ledger: 7, Code: 1}
}

// sampleRequest is a store request the neighbour of a suite writes.
func sampleRequest(n uint64) store.Request {
	return store.Request{ID: 1_000_000 + n, UserID: 900_000 + n%7, ToUserID: 900_000 + n%5,
		FromAccountType: "funding", ToAccountType: "spot", Asset: "USDT", Amount: 5,
		Fingerprint: "f", IdempotencyKey: "k" + strconv.FormatUint(n, 10)}
}

// TestSharedDatabaseConformance runs the store and the ledger conformance
// suites, unchanged, each in a database shared with the other backend,
// which holds data of its own: the key spaces must not meet (a suite that
// counts, lists or pages would see the neighbour's keys), and the
// neighbour's data must come through every case untouched.
func TestSharedDatabaseConformance(t *testing.T) {
	ctx := context.Background()
	t.Run("store", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T, opts storetest.Options) store.Store {
			db := openSharedDB(t)
			l, err := ledgerembedded.Open(ledgerembedded.Options{DB: db})
			if err != nil {
				t.Fatalf("open ledger: %v", err)
			}
			accounts := []ledger.Account{sampleAccount(1), sampleAccount(2)}
			if res, err := l.CreateAccounts(ctx, accounts); err != nil || len(res) != 0 {
				t.Fatalf("neighbour ledger: CreateAccounts = %v, %v", res, err)
			}
			t.Cleanup(func() {
				got, err := l.LookupAccounts(ctx, []ledger.Uint128{accounts[0].ID, accounts[1].ID})
				if err != nil || len(got) != 2 {
					t.Errorf("neighbour ledger lost its accounts: %v, %v", got, err)
				}
				if err := l.Close(); err != nil {
					t.Errorf("close ledger: %v", err)
				}
			})
			s, err := storeembedded.Open(storeembedded.Options{DB: db, IdempotencyTTL: opts.IdempotencyTTL})
			if err != nil {
				t.Fatalf("open store: %v", err)
			}
			return s
		})
	})
	t.Run("ledger", func(t *testing.T) {
		ledgertest.Run(t, func(t *testing.T) ledger.Ledger {
			db := openSharedDB(t)
			s, err := storeembedded.Open(storeembedded.Options{DB: db})
			if err != nil {
				t.Fatalf("open store: %v", err)
			}
			for n := range uint64(20) {
				if _, created, err := s.Create(ctx, sampleRequest(n)); err != nil || !created {
					t.Fatalf("neighbour store: Create = %v, %v", created, err)
				}
			}
			t.Cleanup(func() {
				c, err := s.CountOpen(ctx, time.Now().Add(-time.Hour))
				if err != nil || c.Requesting != 20 || c.Pending != 0 {
					t.Errorf("neighbour store: open requests %+v, %v; want 20 requesting", c, err)
				}
				if err := s.Close(); err != nil {
					t.Errorf("close store: %v", err)
				}
			})
			l, err := ledgerembedded.Open(ledgerembedded.Options{DB: db})
			if err != nil {
				t.Fatalf("open ledger: %v", err)
			}
			t.Cleanup(func() {
				if err := l.Close(); err != nil {
					t.Errorf("close ledger: %v", err)
				}
			})
			return l
		})
	})
}

// writeSample leaves one account in l and one request in s.
func writeSample(t *testing.T, l ledger.Ledger, s store.Store) {
	t.Helper()
	ctx := context.Background()
	if res, err := l.CreateAccounts(ctx, []ledger.Account{sampleAccount(1)}); err != nil || len(res) != 0 {
		t.Fatalf("CreateAccounts = %v, %v", res, err)
	}
	if _, created, err := s.Create(ctx, sampleRequest(1)); err != nil || !created {
		t.Fatalf("Create = %v, %v", created, err)
	}
}

// requireSample fails unless b holds what writeSample left.
func requireSample(t *testing.T, b *Backends) {
	t.Helper()
	ctx := context.Background()
	got, err := b.Ledger.LookupAccounts(ctx, []ledger.Uint128{sampleAccount(1).ID})
	if err != nil || len(got) != 1 {
		t.Fatalf("account written before reopening: %v, %v", got, err)
	}
	if _, err := b.Store.Get(ctx, sampleRequest(1).ID); err != nil {
		t.Fatalf("request written before reopening: %v", err)
	}
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// TestBackendsLayout: a fresh data dir gets one shared database and keeps
// what was written across a reopen; a data dir with the separate databases
// of the earlier layout is opened as it is, its data intact; a data dir
// holding both layouts is refused with a message, not guessed at.
func TestBackendsLayout(t *testing.T) {
	ctx := context.Background()
	t.Run("fresh data dir: one shared database", func(t *testing.T) {
		dir := t.TempDir()
		b, err := OpenBackends(ctx, embeddedConfig(dir))
		if err != nil {
			t.Fatal(err)
		}
		writeSample(t, b.Ledger, b.Store)
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if !isDir(filepath.Join(dir, sharedDir)) || isDir(filepath.Join(dir, ledgerDir)) || isDir(filepath.Join(dir, storeDir)) {
			t.Fatalf("data dir layout: want only %s/", sharedDir)
		}
		b, err = OpenBackends(ctx, embeddedConfig(dir))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		requireSample(t, b)
	})
	t.Run("earlier layout: separate databases", func(t *testing.T) {
		dir := t.TempDir()
		l, err := ledgerembedded.Open(ledgerembedded.Options{Dir: filepath.Join(dir, ledgerDir)})
		if err != nil {
			t.Fatal(err)
		}
		s, err := storeembedded.Open(storeembedded.Options{Dir: filepath.Join(dir, storeDir)})
		if err != nil {
			t.Fatal(err)
		}
		writeSample(t, l, s)
		if err := errors.Join(l.Close(), s.Close()); err != nil {
			t.Fatal(err)
		}
		b, err := OpenBackends(ctx, embeddedConfig(dir))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		requireSample(t, b)
		if isDir(filepath.Join(dir, sharedDir)) {
			t.Fatalf("opened a shared database next to the separate ones")
		}
		// Each database's WAL fsyncs reach internal_transfer_embedded_wal_fsync_ms.
		before := walFsyncCount(t)
		if res, err := b.Ledger.CreateAccounts(ctx, []ledger.Account{sampleAccount(2)}); err != nil || len(res) != 0 {
			t.Fatalf("CreateAccounts = %v, %v", res, err)
		}
		afterLedger := walFsyncCount(t)
		if afterLedger <= before {
			t.Errorf("a durable ledger write in its own database: fsync count %v → %v, want it to grow", before, afterLedger)
		}
		if _, created, err := b.Store.Create(ctx, sampleRequest(2)); err != nil || !created {
			t.Fatalf("Create = %v, %v", created, err)
		}
		if after := walFsyncCount(t); after <= afterLedger {
			t.Errorf("a durable store write in its own database: fsync count %v → %v, want it to grow", afterLedger, after)
		}
	})
	t.Run("both layouts: refused", func(t *testing.T) {
		dir := t.TempDir()
		for _, d := range []string{sharedDir, storeDir} {
			if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		b, err := OpenBackends(ctx, embeddedConfig(dir))
		if err == nil {
			b.Close()
			t.Fatal("OpenBackends accepted a data dir with both layouts")
		}
		if !strings.Contains(err.Error(), "move the unused one away") {
			t.Fatalf("error %q does not say what to do", err)
		}
	})
}

// exported is the value of the unlabelled series name in this process's
// /metrics exposition, or -1 when it is absent.
func exported(name string) float64 {
	var b strings.Builder
	metrics.WritePrometheus(&b, false)
	return MetricValue(b.String(), name)
}

// walFsyncCount is internal_transfer_embedded_wal_fsync_ms_count as the
// node's /metrics would show it.
func walFsyncCount(t *testing.T) float64 {
	t.Helper()
	n := exported("internal_transfer_embedded_wal_fsync_ms_count")
	if n < 0 {
		t.Fatal("internal_transfer_embedded_wal_fsync_ms_count is not exported")
	}
	return n
}

// MetricValue returns the value of the unlabelled series name in a
// Prometheus exposition, or -1 when it is absent. (A test helper, exported
// for this package's external tests.)
func MetricValue(exposition, name string) float64 {
	for _, line := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				return f
			}
		}
	}
	return -1
}

// TestWriteStallListener: each write stall of the shared database (begin to
// end) is one observation of internal_transfer_embedded_write_stall_ms, of
// its duration; an end without a begin is none.
func TestWriteStallListener(t *testing.T) {
	count := func() float64 { return exported("internal_transfer_embedded_write_stall_ms_count") }
	sum := func() float64 { return exported("internal_transfer_embedded_write_stall_ms_sum") }
	l := backgroundListener()
	n0, s0 := count(), sum()
	l.WriteStallBegin(pebble.WriteStallBeginInfo{Reason: "memtable count limit reached"})
	time.Sleep(20 * time.Millisecond)
	l.WriteStallEnd()
	if n := count(); n != n0+1 {
		t.Fatalf("stall count %v → %v, want one more", n0, n)
	}
	if d := sum() - s0; d < 20 {
		t.Fatalf("stall of at least 20 ms recorded as %v ms", d)
	}
	l.WriteStallEnd()
	if n := count(); n != n0+1 {
		t.Fatalf("an end without a begin counted: %v → %v", n0, n)
	}
}
