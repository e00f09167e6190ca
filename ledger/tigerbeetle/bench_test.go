package tigerbeetle

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/ledger"
)

// BenchmarkCreateTransfers measures create_transfers against the cluster in
// TB_ADDRESSES at batch sizes 1, 100 and the largest batch (skipped without
// it). The largest is BatchEventsMax, 8189: 8190 does not fit in TigerBeetle
// 0.16.78's message. Each op is one call; transfers/s is the rate of events.
func BenchmarkCreateTransfers(b *testing.B) {
	l := openEnv(b)
	ctx := context.Background()
	debit, credit := randomID(b), randomID(b)
	res, err := l.CreateAccounts(ctx, []ledger.Account{
		{ID: debit, Ledger: 1, Code: ledger.CodeOperatorAccount},
		{ID: credit, Ledger: 1, Code: ledger.CodeOperatorAccount},
	})
	if err != nil || len(res) != 0 {
		b.Fatalf("cannot create accounts: %v %v", res, err)
	}
	for _, size := range []int{1, 100, BatchEventsMax} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			batch := make([]ledger.Transfer, size)
			base := randomID(b)
			next := uint64(0)
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				for i := range batch {
					next++
					batch[i] = ledger.Transfer{ID: ledger.Uint128{Lo: base.Lo + next, Hi: base.Hi},
						DebitAccountID: debit, CreditAccountID: credit, Amount: ledger.U128(1),
						Ledger: 1, Code: ledger.CodeDeposit}
				}
				res, err := l.CreateTransfers(ctx, batch)
				if err != nil || len(res) != 0 {
					b.Fatalf("create transfers: %v (first of %d results: %v)", err, len(res), first(res))
				}
			}
			b.ReportMetric(float64(next)/time.Since(start).Seconds(), "transfers/s")
		})
	}
}

func first(r []ledger.TransferEventResult) any {
	if len(r) == 0 {
		return nil
	}
	return r[0]
}

// BenchmarkCallOverhead measures what the adapter adds to a call — slot,
// goroutine, deadline, zero-copy conversion — with a client that answers
// at once. It runs without a server.
func BenchmarkCallOverhead(b *testing.B) {
	for _, size := range []int{1, BatchEventsMax} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			d := &scriptedDial{clients: []*scriptedClient{{}}}
			l, err := newLedger(Options{Addresses: []string{"3000"}}, d.dial)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			batch := make([]ledger.Transfer, size)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.CreateTransfers(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
