package embedded

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/ledger"
)

const benchAccounts = 1000

var benchCacheBytes int64 = 512 << 20

func benchMemTable() uint64 {
	if v, err := strconv.Atoi(os.Getenv("MEMTABLE_MB")); err == nil {
		return uint64(v) << 20
	}
	return 0
}

// benchLedger opens a ledger with benchAccounts funded accounts 1..n on ledger 1.
func benchLedger(b *testing.B) (*Ledger, []ledger.Uint128) {
	b.Helper()
	l, err := Open(Options{Dir: b.TempDir(), CacheBytes: benchCacheBytes, MemTableBytes: benchMemTable()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	ids := make([]ledger.Uint128, benchAccounts)
	accounts := make([]ledger.Account, benchAccounts)
	for i := range accounts {
		ids[i] = ledger.Uint128{Hi: 7, Lo: uint64(i + 1)}
		accounts[i] = ledger.Account{ID: ids[i], Ledger: 1, Code: 1}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if res, err := l.CreateAccounts(ctx, accounts); err != nil || len(res) != 0 {
		b.Fatalf("create accounts: %v %v", res, err)
	}
	return l, ids
}

// BenchmarkCreateTransfers measures durable single-phase transfers between
// random accounts; each iteration is one synced batch.
func BenchmarkCreateTransfers(b *testing.B) {
	for _, size := range []int{1, 100, ledger.BatchEventsMax} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			l, ids := benchLedger(b)
			batch := make([]ledger.Transfer, size)
			next := uint64(1)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for i := range batch {
					dr := ids[next%benchAccounts]
					cr := ids[(next*7+1)%benchAccounts]
					if dr == cr {
						cr = ids[(next*7+2)%benchAccounts]
					}
					batch[i] = ledger.Transfer{ID: ledger.Uint128{Hi: 9, Lo: next * 0x9e3779b97f4a7c15}, DebitAccountID: dr,
						CreditAccountID: cr, Amount: ledger.U128(1), Ledger: 1, Code: 1}
					next++
				}
				res, err := l.CreateTransfers(ctx, batch)
				if err != nil || len(res) != 0 {
					b.Fatalf("create transfers: %v %v", res, err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "transfers/s")
		})
	}
}
