package tigerbeetle

import (
	"unsafe"

	"github.com/tigerbeetle/tigerbeetle-go/pkg/types"

	"github.com/exchange/internal-transfer/ledger"
)

// Zero-copy conversion between package ledger's types and tigerbeetle-go's.
//
// ledger.Account and ledger.Transfer are declared with TigerBeetle's field
// order, so a []ledger.Transfer already is the byte image the client sends;
// reinterpreting the slice header saves a 1 MiB copy per full batch. The
// assertions below make that reinterpretation a compile error, not silent
// corruption, the day either side changes a field: each array index is the
// difference of two offsets or sizes, which must be the constant 0 (a
// negative difference overflows uintptr, a positive one is out of range).
//
// types.Uint128 is cgo's [16]byte for __uint128_t while ledger.Uint128 is
// {Lo, Hi uint64}; they share bytes only on a little-endian machine, which
// init checks (the native library exists only for little-endian targets).

var (
	zeroAccount      ledger.Account
	zeroTBAccount    types.Account
	zeroTransfer     ledger.Transfer
	zeroTBTransfer   types.Transfer
	zeroAccountRes   ledger.AccountEventResult
	zeroTBAccountRes types.AccountEventResult
	zeroTransferRes  ledger.TransferEventResult
	zeroTBTransRes   types.TransferEventResult
)

// Account: size, alignment and every field offset.
var _ = [1]struct{}{}[unsafe.Sizeof(zeroAccount)-unsafe.Sizeof(zeroTBAccount)]
var _ = [1]struct{}{}[unsafe.Sizeof(zeroTBAccount)-128]
var _ = [1]struct{}{}[unsafe.Alignof(zeroAccount)-unsafe.Alignof(zeroTBAccount)]
var _ = [1]struct{}{}[unsafe.Sizeof(ledger.Uint128{})-unsafe.Sizeof(types.Uint128{})]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroAccount.ID)-unsafe.Offsetof(zeroTBAccount.ID)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroAccount.DebitsPending)-unsafe.Offsetof(zeroTBAccount.DebitsPending)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroAccount.DebitsPosted)-unsafe.Offsetof(zeroTBAccount.DebitsPosted)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroAccount.CreditsPending)-unsafe.Offsetof(zeroTBAccount.CreditsPending)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroAccount.CreditsPosted)-unsafe.Offsetof(zeroTBAccount.CreditsPosted)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroAccount.UserData128)-unsafe.Offsetof(zeroTBAccount.UserData128)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroAccount.UserData64)-unsafe.Offsetof(zeroTBAccount.UserData64)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroAccount.UserData32)-unsafe.Offsetof(zeroTBAccount.UserData32)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroAccount.Reserved)-unsafe.Offsetof(zeroTBAccount.Reserved)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroAccount.Ledger)-unsafe.Offsetof(zeroTBAccount.Ledger)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroAccount.Code)-unsafe.Offsetof(zeroTBAccount.Code)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroAccount.Flags)-unsafe.Offsetof(zeroTBAccount.Flags)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroAccount.Timestamp)-unsafe.Offsetof(zeroTBAccount.Timestamp)]

// Transfer: size, alignment and every field offset.
var _ = [1]struct{}{}[unsafe.Sizeof(zeroTransfer)-unsafe.Sizeof(zeroTBTransfer)]
var _ = [1]struct{}{}[unsafe.Sizeof(zeroTBTransfer)-128]
var _ = [1]struct{}{}[unsafe.Alignof(zeroTransfer)-unsafe.Alignof(zeroTBTransfer)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroTransfer.ID)-unsafe.Offsetof(zeroTBTransfer.ID)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroTransfer.DebitAccountID)-unsafe.Offsetof(zeroTBTransfer.DebitAccountID)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroTransfer.CreditAccountID)-unsafe.Offsetof(zeroTBTransfer.CreditAccountID)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroTransfer.Amount)-unsafe.Offsetof(zeroTBTransfer.Amount)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroTransfer.PendingID)-unsafe.Offsetof(zeroTBTransfer.PendingID)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroTransfer.UserData128)-unsafe.Offsetof(zeroTBTransfer.UserData128)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroTransfer.UserData64)-unsafe.Offsetof(zeroTBTransfer.UserData64)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroTransfer.UserData32)-unsafe.Offsetof(zeroTBTransfer.UserData32)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroTransfer.Timeout)-unsafe.Offsetof(zeroTBTransfer.Timeout)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroTransfer.Ledger)-unsafe.Offsetof(zeroTBTransfer.Ledger)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroTransfer.Code)-unsafe.Offsetof(zeroTBTransfer.Code)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroTransfer.Flags)-unsafe.Offsetof(zeroTBTransfer.Flags)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroTransfer.Timestamp)-unsafe.Offsetof(zeroTBTransfer.Timestamp)]

// Event results: {Index uint32; Result uint32} on both sides.
var _ = [1]struct{}{}[unsafe.Sizeof(zeroAccountRes)-unsafe.Sizeof(zeroTBAccountRes)]
var _ = [1]struct{}{}[unsafe.Sizeof(zeroTBAccountRes)-8]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroAccountRes.Index)-unsafe.Offsetof(zeroTBAccountRes.Index)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroAccountRes.Result)-unsafe.Offsetof(zeroTBAccountRes.Result)]
var _ = [1]struct{}{}[unsafe.Sizeof(zeroAccountRes.Result)-unsafe.Sizeof(zeroTBAccountRes.Result)]
var _ = [1]struct{}{}[unsafe.Sizeof(zeroTransferRes)-unsafe.Sizeof(zeroTBTransRes)]
var _ = [1]struct{}{}[unsafe.Sizeof(zeroTBTransRes)-8]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroTransferRes.Index)-unsafe.Offsetof(zeroTBTransRes.Index)]
var _ = [1]struct{}{}[unsafe.Offsetof(zeroTransferRes.Result)-unsafe.Offsetof(zeroTBTransRes.Result)]
var _ = [1]struct{}{}[unsafe.Sizeof(zeroTransferRes.Result)-unsafe.Sizeof(zeroTBTransRes.Result)]

func init() {
	// ledger.Uint128{Lo: 1} must be TigerBeetle's little-endian u128 1.
	one := ledger.U128(1)
	if *(*types.Uint128)(unsafe.Pointer(&one)) != types.ToUint128(1) {
		panic("BUG: ledger.Uint128 does not share types.Uint128's byte order (big-endian machine?)")
	}
	// Result codes travel as numbers: spot-check both ends of each range.
	if ledger.TransferExceedsCredits != ledger.CreateTransferResult(types.TransferExceedsCredits) ||
		ledger.TransferIDAlreadyFailed != ledger.CreateTransferResult(types.TransferIDAlreadyFailed) ||
		ledger.AccountExists != ledger.CreateAccountResult(types.AccountExists) ||
		ledger.AccountImportedEventTimestampMustNotRegress != ledger.CreateAccountResult(types.AccountImportedEventTimestampMustNotRegress) {
		panic("BUG: ledger result numbering differs from tigerbeetle-go's")
	}
}

// The conversions below reinterpret slice headers; the element layouts are
// identical (asserted above), and the returned slice aliases the argument.
// Empty slices become nil, as the embedded ledger returns them.

func tbAccounts(s []ledger.Account) []types.Account {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*types.Account)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

func tbTransfers(s []ledger.Transfer) []types.Transfer {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*types.Transfer)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

func tbIDs(s []ledger.Uint128) []types.Uint128 {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*types.Uint128)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

func fromTBAccounts(s []types.Account) []ledger.Account {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*ledger.Account)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

func fromTBTransfers(s []types.Transfer) []ledger.Transfer {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*ledger.Transfer)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

func fromTBAccountResults(s []types.AccountEventResult) []ledger.AccountEventResult {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*ledger.AccountEventResult)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

func fromTBTransferResults(s []types.TransferEventResult) []ledger.TransferEventResult {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*ledger.TransferEventResult)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}
