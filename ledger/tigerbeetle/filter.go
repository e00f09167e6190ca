package tigerbeetle

import (
	"fmt"
	"math"

	"github.com/tigerbeetle/tigerbeetle-go/pkg/types"

	"github.com/exchange/internal-transfer/ledger"
)

// filterFlagsKnown are the AccountFilter flag bits TigerBeetle 0.16.78 defines;
// ledger.Filter* use the same bits, so flags pass through unchanged.
const filterFlagsKnown = ledger.FilterDebits | ledger.FilterCredits | ledger.FilterReversed

// tbFilter checks f the way TigerBeetle's state machine does and returns it as
// a types.AccountFilter with the user-data and code filters left zero (match
// any), which is all package ledger exposes.
//
// TigerBeetle does not report an invalid filter: it answers with no transfers,
// which a caller cannot tell from an account without transfers. Checking here
// turns that silent empty answer into ledger.ErrInvalidFilter.
func tbFilter(f ledger.AccountFilter) (types.AccountFilter, error) {
	var problem string
	switch {
	case f.AccountID.IsZero():
		problem = "account id is zero"
	case f.AccountID.IsMax():
		problem = "account id is 2^128-1"
	case f.TimestampMin > math.MaxInt64:
		problem = fmt.Sprintf("timestamp_min %d is past 2^63-1", f.TimestampMin)
	case f.TimestampMax > math.MaxInt64:
		problem = fmt.Sprintf("timestamp_max %d is past 2^63-1", f.TimestampMax)
	case f.TimestampMax != 0 && f.TimestampMin > f.TimestampMax:
		problem = fmt.Sprintf("timestamp_min %d is after timestamp_max %d", f.TimestampMin, f.TimestampMax)
	case f.Limit == 0:
		problem = "limit is zero"
	case f.Limit > ledger.BatchEventsMax:
		problem = fmt.Sprintf("limit %d exceeds %d", f.Limit, ledger.BatchEventsMax)
	case f.Flags&(ledger.FilterDebits|ledger.FilterCredits) == 0:
		problem = "flags select neither debits nor credits"
	case f.Flags&^filterFlagsKnown != 0:
		problem = fmt.Sprintf("unknown flag bits %#x", f.Flags&^filterFlagsKnown)
	}
	if problem != "" {
		return types.AccountFilter{}, fmt.Errorf("%w: %s", ledger.ErrInvalidFilter, problem)
	}
	return types.AccountFilter{
		AccountID:    tbUint128(f.AccountID),
		TimestampMin: f.TimestampMin,
		TimestampMax: f.TimestampMax,
		Limit:        f.Limit,
		Flags:        f.Flags,
	}, nil
}

// tbUint128 returns u as TigerBeetle's little-endian u128.
func tbUint128(u ledger.Uint128) types.Uint128 {
	var b [16]byte
	for i := range 8 {
		b[i] = byte(u.Lo >> (8 * i))
		b[8+i] = byte(u.Hi >> (8 * i))
	}
	return types.BytesToUint128(b)
}
