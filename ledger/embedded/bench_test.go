package embedded

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/ledger"
)

const benchAccounts = 1000

// benchLedger opens a ledger with benchAccounts funded accounts 1..n on ledger 1.
func benchLedger(b *testing.B) (*Ledger, []ledger.Uint128) {
	b.Helper()
	l, err := Open(Options{Dir: b.TempDir()})
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

// fillTransfers fills batch with single-phase transfers between the bench
// accounts, with fresh well-spread ids, starting at sequence *next.
func fillTransfers(batch []ledger.Transfer, ids []ledger.Uint128, next *uint64) {
	for i := range batch {
		n := *next
		dr := ids[n%benchAccounts]
		cr := ids[(n*7+1)%benchAccounts]
		if dr == cr {
			cr = ids[(n*7+2)%benchAccounts]
		}
		batch[i] = ledger.Transfer{ID: ledger.Uint128{Hi: 9, Lo: n * 0x9e3779b97f4a7c15}, DebitAccountID: dr,
			CreditAccountID: cr, Amount: ledger.U128(1), Ledger: 1, Code: 1}
		*next = n + 1
	}
}

// BenchmarkCreateTransfers measures durable single-phase transfers between
// 1000 accounts from one caller; each iteration is one synced batch.
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
				fillTransfers(batch, ids, &next)
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

// BenchmarkCreateTransfersConcurrent measures full batches from 4 concurrent
// callers, as the service's batcher pool sends them: the applier executes one
// group while the previous one syncs.
func BenchmarkCreateTransfersConcurrent(b *testing.B) {
	const callers = 4
	l, ids := benchLedger(b)
	ctx := context.Background()
	var seq atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := make([]ledger.Transfer, ledger.BatchEventsMax)
			for seq.Add(1) <= uint64(b.N) {
				next := uint64(c+1)<<40 | seq.Load()<<16
				fillTransfers(batch, ids, &next)
				if res, err := l.CreateTransfers(ctx, batch); err != nil || len(res) != 0 {
					b.Errorf("create transfers: %v %v", len(res), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N*ledger.BatchEventsMax)/b.Elapsed().Seconds(), "transfers/s")
}

// BenchmarkLookupAccounts measures looking up 100 accounts per call.
func BenchmarkLookupAccounts(b *testing.B) {
	l, ids := benchLedger(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		got, err := l.LookupAccounts(ctx, ids[(i%10)*100:(i%10)*100+100])
		if err != nil || len(got) != 100 {
			b.Fatalf("lookup: %d %v", len(got), err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "accounts/s")
}

// BenchmarkLookupTransfers measures looking up 100 stored transfers per call
// among 100K, read from Pebble.
func BenchmarkLookupTransfers(b *testing.B) {
	l, ids := benchLedger(b)
	ctx := context.Background()
	const stored = 100_000
	batch := make([]ledger.Transfer, ledger.BatchEventsMax)
	all := make([]ledger.Uint128, 0, stored)
	next := uint64(1)
	for len(all) < stored {
		n := min(len(batch), stored-len(all))
		fillTransfers(batch[:n], ids, &next)
		if res, err := l.CreateTransfers(ctx, batch[:n]); err != nil || len(res) != 0 {
			b.Fatalf("create transfers: %v %v", res, err)
		}
		for _, t := range batch[:n] {
			all = append(all, t.ID)
		}
	}
	lookup := make([]ledger.Uint128, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for j := range lookup {
			lookup[j] = all[(i*7919+j*104729)%stored]
		}
		got, err := l.LookupTransfers(ctx, lookup)
		if err != nil || len(got) != len(lookup) {
			b.Fatalf("lookup: %d %v", len(got), err)
		}
	}
	b.ReportMetric(float64(b.N*len(lookup))/b.Elapsed().Seconds(), "transfers/s")
}

// BenchmarkServiceShape measures what the service sends: 64 concurrent
// callers, each placing one pending transfer per call and then posting it in
// another, so groups stay small and the per-group cost shows. It reports
// the ledger transfers (pending and post) per second and the process CPU per
// transfer.
func BenchmarkServiceShape(b *testing.B) {
	const callers = 64
	l, ids := benchLedger(b)
	ctx := context.Background()
	var seq atomic.Uint64
	b.ReportAllocs()
	cpu0 := processCPU(b)
	b.ResetTimer()
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := seq.Add(1); n <= uint64(b.N); n = seq.Add(1) {
				dr, cr := ids[n%benchAccounts], ids[(n*7+1)%benchAccounts]
				if dr == cr {
					cr = ids[(n*7+2)%benchAccounts]
				}
				id := ledger.Uint128{Hi: 11, Lo: n * 0x9e3779b97f4a7c15}
				hold := ledger.Transfer{ID: id, DebitAccountID: dr, CreditAccountID: cr, Amount: ledger.U128(1),
					Ledger: 1, Code: 1, Flags: ledger.TransferPending}
				post := ledger.Transfer{ID: ledger.Uint128{Hi: 12, Lo: id.Lo}, PendingID: id, Amount: ledger.AmountMax,
					Flags: ledger.TransferPostPendingTransfer}
				for _, t := range []ledger.Transfer{hold, post} {
					if res, err := l.CreateTransfers(ctx, []ledger.Transfer{t}); err != nil || len(res) != 0 {
						b.Errorf("create transfer: %v %v", res, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	cpu := processCPU(b) - cpu0
	b.ReportMetric(float64(2*b.N)/b.Elapsed().Seconds(), "transfers/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(2*b.N), "cpu-ns/transfer")
}

// processCPU returns the user+system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
