package store_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/exchange/internal-transfer/store"
)

// TestCanAdvance checks every (from, to) pair, invalid statuses included,
// against the lifecycle requesting → pending → success | failed.
func TestCanAdvance(t *testing.T) {
	const (
		r = store.StatusRequesting
		p = store.StatusPending
		s = store.StatusSuccess
		f = store.StatusFailed
	)
	legal := map[[2]store.Status]bool{
		{r, r}: true, {r, p}: true, {r, s}: true, {r, f}: true,
		{p, p}: true, {p, s}: true, {p, f}: true,
		{s, s}: true,
		{f, f}: true,
	}
	all := []store.Status{0, r, p, s, f, 5, 255}
	for _, from := range all {
		for _, to := range all {
			t.Run(fmt.Sprintf("%s to %s", from, to), func(t *testing.T) {
				want := legal[[2]store.Status{from, to}]
				if got := store.CanAdvance(from, to); got != want {
					t.Errorf("CanAdvance(%s, %s) = %v, want %v", from, to, got, want)
				}
			})
		}
	}
}

// TestStatusString checks String and ParseStatus are inverses on the four
// statuses and that anything else is refused or marked.
func TestStatusString(t *testing.T) {
	cases := []struct {
		status       store.Status
		text         string
		valid, final bool
	}{
		{store.StatusRequesting, "requesting", true, false},
		{store.StatusPending, "pending", true, false},
		{store.StatusSuccess, "success", true, true},
		{store.StatusFailed, "failed", true, true},
	}
	for _, c := range cases {
		t.Run(c.text, func(t *testing.T) {
			if got := c.status.String(); got != c.text {
				t.Errorf("String() = %q, want %q", got, c.text)
			}
			got, err := store.ParseStatus(c.text)
			if err != nil || got != c.status {
				t.Errorf("ParseStatus(%q) = %v, %v; want %v", c.text, got, err, c.status)
			}
			if c.status.Valid() != c.valid || c.status.Final() != c.final {
				t.Errorf("Valid, Final = %v, %v; want %v, %v", c.status.Valid(), c.status.Final(), c.valid, c.final)
			}
		})
	}
	for _, bad := range []string{"", "Success", "PENDING", "done", "status(3)"} {
		if got, err := store.ParseStatus(bad); err == nil {
			t.Errorf("ParseStatus(%q) = %v, want an error", bad, got)
		}
	}
	for _, s := range []store.Status{0, 5, 255} {
		if s.Valid() || s.Final() {
			t.Errorf("status %d: Valid %v Final %v, want false", s, s.Valid(), s.Final())
		}
		if got, want := s.String(), fmt.Sprintf("status(%d)", uint8(s)); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}

// TestTransitionError checks the refused move matches ErrIllegalTransition
// and nothing else, and names the request and both statuses.
func TestTransitionError(t *testing.T) {
	err := error(&store.TransitionError{RequestID: 42, From: store.StatusSuccess, To: store.StatusPending})
	if !errors.Is(err, store.ErrIllegalTransition) {
		t.Error("errors.Is(err, ErrIllegalTransition) = false")
	}
	if errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrNotFound) {
		t.Error("TransitionError matches an unrelated sentinel")
	}
	if got, want := err.Error(), "store: request 42 cannot move from success to pending"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
