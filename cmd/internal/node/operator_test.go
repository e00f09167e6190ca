package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/exchange/internal-transfer/actors/settlement"
	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/store"
	storeembedded "github.com/exchange/internal-transfer/store/embedded"
)

// The operator API answers what retrying cannot change as a refusal with
// its reason, and only what may change (a backend down) as "retry later".
func TestOperatorErrorsTranslate(t *testing.T) {
	for _, c := range []struct {
		err       error
		want      error
		retryable bool
	}{
		{store.ErrNotFound, transfers.ErrNotFound, false},
		{settlement.ErrFinal, transfers.ErrInvalid, false},
		{settlement.ErrLedgerDisagrees, transfers.ErrInvalid, false},
		{&settlement.ResultError{RequestID: 1, Op: "void", Result: ledger.TransferIDAlreadyFailed}, transfers.ErrInvalid, false},
		{settlement.ErrUnsettleable, transfers.ErrInvalid, false},
		{errors.New("ledger call timed out"), transfers.ErrUnavailable, true},
	} {
		got := translate(c.err)
		var re *transfers.RetryableError
		if !errors.Is(got, c.want) || errors.As(got, &re) != c.retryable {
			t.Errorf("translate(%v) = %v (retryable %v); want %v (retryable %v)", c.err, got, errors.As(got, &re), c.want, c.retryable)
		}
	}
}

// A manual post or void of a request younger than the stuck threshold is
// refused without force, naming it; an older one, a forced one and a final
// one (the settler answers that) pass this check.
func TestManualActionsNeedAStuckRequestOrForce(t *testing.T) {
	st, err := storeembedded.Open(storeembedded.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	mk := func(id uint64, age time.Duration) {
		if _, _, err := st.Create(ctx, store.Request{ID: id, UserID: 1, ToUserID: 1, Asset: "USDT", Amount: 1,
			FromAccountType: "funding", ToAccountType: "spot", CreatedAt: time.Now().Add(-age)}); err != nil {
			t.Fatal(err)
		}
	}
	mk(1, time.Minute)
	mk(2, 2*time.Hour)
	mk(3, time.Minute)
	if _, err := st.Advance(ctx, 3, store.StatusFailed, store.Outcome{ErrorCode: "X"}); err != nil {
		t.Fatal(err)
	}
	o := operatorTools{store: st, minAge: time.Hour}
	if err := o.stuckEnough(ctx, 1, "void", false); !errors.Is(err, transfers.ErrInvalid) || !strings.Contains(err.Error(), "force") {
		t.Fatalf("a minute-old request without force: %v; want a refusal naming force", err)
	}
	for _, c := range []struct {
		id    uint64
		force bool
	}{{1, true}, {2, false}, {3, false}} {
		if err := o.stuckEnough(ctx, c.id, "post", c.force); err != nil {
			t.Fatalf("request %d (force %v): %v", c.id, c.force, err)
		}
	}
	if err := o.stuckEnough(ctx, 99, "post", false); !errors.Is(err, transfers.ErrNotFound) {
		t.Fatalf("an unknown request: %v, want not found", err)
	}
}
