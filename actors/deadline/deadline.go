// Package deadline hands out shared deadline contexts.
//
// Every step of a transfer bounds its call with a deadline, and
// context.WithTimeout makes a context, a timer and (on the first Done) a
// channel for each: about a quarter of the bytes the service allocated per
// transfer in a 5K/s run (the allocation profile in docs/benchmark-notes.md,
// session 13), and so a quarter of its garbage collections. Here every
// caller whose deadline falls in the same millisecond gets the same
// context, made once: a standard context.WithDeadline of
// context.Background, so contexts derived from it register with it as
// with any other, and it ends by its own timer.
//
// The price is the cancel function: a shared context cannot be cancelled
// by one of its holders, so the one returned is a no-op, and work started
// under it ends at its deadline or when it returns, not at cancel. Use it
// only where cancel merely releases the context (a deferred cancel after a
// call that waits for its own result), never where cancel is how running
// work is stopped.
package deadline

import (
	"context"
	"sync/atomic"
	"time"
)

// Grain is the rounding of a shared context's deadline: the deadline asked
// for, rounded down to a multiple of Grain (so never later than asked).
const Grain = time.Millisecond

// MinShared is the shortest wait a shared context serves; a deadline
// nearer than that gets a context of its own, exact to the nanosecond (a
// millisecond matters to a short wait, and few callers share one).
const MinShared = 100 * Grain

// slots bounds the shared contexts findable at once: one per millisecond
// of deadline, so about 16 s of distinct deadlines; a context whose slot
// a later deadline took stays valid for its holders and is no longer
// handed out.
const slots = 1 << 14

type shared struct {
	context.Context
	key    int64              // deadline in Grains since base
	cancel context.CancelFunc // kept for vet; the context's timer ends it
}

var ring [slots]atomic.Pointer[shared]

// base is the origin of the keys. Keys and deadlines are measured from it
// on the monotonic clock, as context.WithTimeout measures: a step of the
// wall clock (NTP, a resumed VM) neither ends shared contexts early nor
// lets them run past the deadline asked for.
var base = time.Now()

func noop() {}

// At returns a context that ends at t (rounded down to Grain when shared)
// and carries no values. Its cancel function releases nothing and must
// not be relied on to stop work; see the package comment.
func At(t time.Time) (context.Context, context.CancelFunc) {
	if time.Until(t) < MinShared {
		return context.WithDeadline(context.Background(), t)
	}
	key := int64(t.Sub(base)) / int64(Grain) // t is past base: rounds down
	slot := &ring[key&(slots-1)]
	for {
		cur := slot.Load()
		if cur != nil && cur.key == key {
			return cur, noop
		}
		ctx, cancel := context.WithDeadline(context.Background(), base.Add(time.Duration(key)*Grain))
		s := &shared{Context: ctx, key: key, cancel: cancel}
		if slot.CompareAndSwap(cur, s) {
			return s, noop
		}
		// Another caller filled the slot first; use theirs if it is this
		// deadline's. This one's timer ends it.
		cancel()
	}
}

// After returns a context that ends d from now; see At.
func After(d time.Duration) (context.Context, context.CancelFunc) {
	return At(time.Now().Add(d))
}

// Within bounds parent by d from now: parent itself when its own deadline
// comes first (nothing is made), a shared context when parent can only end
// by a later deadline and carries no values (context.Background or a
// shared context), and otherwise context.WithTimeout(parent, d), whose
// cancel does release it.
func Within(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	at := time.Now().Add(d)
	if pd, ok := parent.Deadline(); ok && !pd.After(at) {
		return parent, noop
	}
	if _, ok := parent.(*shared); ok || parent == context.Background() {
		return At(at)
	}
	return context.WithDeadline(parent, at)
}
