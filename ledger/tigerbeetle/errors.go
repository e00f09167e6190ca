package tigerbeetle

import (
	"fmt"

	tberrors "github.com/tigerbeetle/tigerbeetle-go/pkg/errors"

	"github.com/exchange/internal-transfer/ledger"
)

// Sentinel errors of this adapter. Both wrap ledger.ErrOutcomeUnknown, so a
// caller that only knows package ledger treats them as "maybe applied, retry
// with the same ids" — always safe, because ids are deterministic.
var (
	// ErrUnavailable: no request slot could be had — every slot is held by a
	// call TigerBeetle has not answered (the cluster is unreachable or
	// stalled), or the wait for a free slot outlived the caller's deadline.
	// The refused call itself was never submitted.
	ErrUnavailable = fmt.Errorf("tigerbeetle: unavailable, request slots exhausted: %w", ledger.ErrOutcomeUnknown)
	// ErrEvicted: the cluster evicted this client's session (too many
	// clients). A request in flight at that moment may have been applied;
	// the client answers nothing more until it is replaced.
	ErrEvicted = fmt.Errorf("tigerbeetle: client session evicted: %w", ledger.ErrOutcomeUnknown)
	// ErrReleaseMismatch: the cluster does not accept this client's release
	// (the client is older than the oldest the cluster serves, or newer than
	// the cluster). Every call fails until the service is deployed with a
	// client the cluster accepts, or the cluster is upgraded; a new client of
	// the same release would be refused the same way, so none is made.
	ErrReleaseMismatch = fmt.Errorf("tigerbeetle: client release not accepted by the cluster: %w", ledger.ErrOutcomeUnknown)
)

// mapClientError turns an error of the tigerbeetle-go client into one of
// ours, wrapped with what was being done ("cannot create transfers: …").
func mapClientError(what string, err error) error {
	switch err.(type) {
	case tberrors.ErrClientClosed:
		// Close raced with this call. The packet may have reached the
		// cluster before the client shut down, so the outcome is unknown.
		return fmt.Errorf("cannot %s: %w (%w): %w", what, ledger.ErrClosed, ledger.ErrOutcomeUnknown, err)
	case tberrors.ErrMaximumBatchSizeExceeded:
		// Refused by the client before sending: nothing applied.
		return fmt.Errorf("cannot %s: %w: %w", what, ledger.ErrBatchTooLarge, err)
	case tberrors.ErrClientEvicted:
		return fmt.Errorf("cannot %s: %w: %w", what, ErrEvicted, err)
	case tberrors.ErrClientReleaseTooLow, tberrors.ErrClientReleaseTooHigh:
		return fmt.Errorf("cannot %s: %w: %w", what, ErrReleaseMismatch, err)
	}
	return fmt.Errorf("cannot %s: %w", what, err)
}

// mapInitError wraps an error of tigerbeetle-go's NewClient.
func mapInitError(addresses []string, err error) error {
	return fmt.Errorf("cannot create TigerBeetle client for %v: %w", addresses, err)
}
