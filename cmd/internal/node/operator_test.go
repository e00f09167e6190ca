package node

import (
	"errors"
	"testing"

	"github.com/exchange/internal-transfer/actors/settlement"
	"github.com/exchange/internal-transfer/actors/transfers"
	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/store"
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
