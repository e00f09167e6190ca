package tigerbeetle

import (
	"context"
	"fmt"
	"sync/atomic"

	tb "github.com/tigerbeetle/tigerbeetle-go"
	tberrors "github.com/tigerbeetle/tigerbeetle-go/pkg/errors"

	"github.com/exchange/internal-transfer/ledger"
)

// Every request runs on its own goroutine, because tigerbeetle-go blocks until
// the cluster answers and has no deadline or cancellation. The caller waits on
// that goroutine under its deadline; if the deadline wins, the goroutine is
// abandoned — it keeps its request slot until the client completes the packet
// (an answer arrives, the session is evicted, or Close shuts the client down)
// — and the caller gets ledger.ErrOutcomeUnknown. Because an abandoned call
// keeps its slot, at most Options.Concurrency requests, stuck or not, exist at
// any moment: nothing grows without bound while the cluster is unreachable.

// Call states: the caller and the call's goroutine race to move a call out
// of callRunning; whoever loses learns what the winner did.
const (
	callRunning int32 = iota
	callFinished
	callAbandoned
)

// pending is one request in flight.
type pending[T any] struct {
	state atomic.Int32
	done  chan struct{} // closed when val and err are set
	val   T
	err   error
}

// acquire takes a request slot, waiting at most until ctx is done. When every
// slot is held by a call TigerBeetle has not answered, waiting is pointless
// (those slots come back only when the cluster does), so it refuses at once.
func (l *Ledger) acquire(ctx context.Context) error {
	select {
	case l.slots <- struct{}{}:
		return nil
	default:
	}
	if n := l.abandoned.Load(); n >= int64(cap(l.slots)) {
		return fmt.Errorf("%w: all %d slots held by calls without an answer", ErrUnavailable, n)
	}
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: no free slot within the deadline: %w", ErrUnavailable, ctx.Err())
	}
}

// call runs fn on the current client under ctx's deadline (Options.Timeout
// when ctx has none) and maps what comes back. what names the operation for
// error messages ("create transfers").
func call[T any](l *Ledger, ctx context.Context, what string, fn func(tb.Client) (T, error)) (T, error) {
	var zero T
	if l.closed.Load() {
		return zero, fmt.Errorf("cannot %s: %w", what, ledger.ErrClosed)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.timeout)
		defer cancel()
	}
	if err := ctx.Err(); err != nil {
		return zero, fmt.Errorf("cannot %s: not submitted: %w", what, err)
	}
	if err := l.acquire(ctx); err != nil {
		return zero, fmt.Errorf("cannot %s: %w", what, err)
	}
	s := l.current()
	if s.evicted.Load() {
		// A call saw the eviction but could not replace the session: its
		// caller had given up, or the last replacement was too recent.
		l.replace(s)
		s = l.current()
	}
	p := &pending[T]{done: make(chan struct{})}
	go runCall(l, s, p, fn)

	select {
	case <-p.done:
	case <-ctx.Done():
		if p.state.CompareAndSwap(callRunning, callAbandoned) {
			l.abandoned.Add(1)
			return zero, fmt.Errorf("cannot %s: %w: %w", what, ledger.ErrOutcomeUnknown, ctx.Err())
		}
		<-p.done // the answer arrived as the deadline passed: use it
	}
	if p.err != nil {
		return zero, l.clientError(what, s, p.err)
	}
	return p.val, nil
}

// runCall is the goroutine of one request. It gives the slot back only when
// the client has completed the packet, abandoned or not, and marks the
// session evicted when the packet says so, even if no caller waits for it.
func runCall[T any](l *Ledger, s *session, p *pending[T], fn func(tb.Client) (T, error)) {
	p.val, p.err = callRecovering(s.client, fn)
	if sessionEnded(l, p.err) {
		s.evicted.Store(true)
	}
	<-l.slots
	if !p.state.CompareAndSwap(callRunning, callFinished) {
		l.abandoned.Add(-1) // the caller gave up on this one
	}
	close(p.done)
}

// callRecovering runs fn, turning a panic of the client (tigerbeetle-go
// panics on a reply it cannot read) into an error: the packet may have been
// applied, so the outcome is unknown. A panic on the client's own thread,
// in its completion callback, cannot be caught from Go.
func callRecovering[T any](c tb.Client, fn func(tb.Client) (T, error)) (val T, err error) {
	defer func() {
		if r := recover(); r != nil {
			var zero T
			val, err = zero, fmt.Errorf("tigerbeetle client panicked: %v: %w", r, ledger.ErrOutcomeUnknown)
		}
	}()
	return fn(c)
}

// sessionEnded reports whether err says the session can serve no more
// calls: the cluster evicted it, or the client closed while the Ledger is
// open (a client that terminated itself on eviction answers every later
// call that way; or this Ledger replaced it).
func sessionEnded(l *Ledger, err error) bool {
	switch err.(type) {
	case tberrors.ErrClientEvicted:
		return true
	case tberrors.ErrClientClosed:
		return !l.closed.Load()
	}
	return false
}

// clientError maps err from session s, replacing s if it ended (replace
// does nothing when s was replaced already).
func (l *Ledger) clientError(what string, s *session, err error) error {
	if !sessionEnded(l, err) {
		return mapClientError(what, err)
	}
	l.replace(s)
	if _, closed := err.(tberrors.ErrClientClosed); closed {
		return fmt.Errorf("cannot %s: %w: %w", what, ErrEvicted, err)
	}
	return mapClientError(what, err)
}
