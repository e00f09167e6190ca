package scylla

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gocql/gocql"
)

// TestOutcomeUnknown pins which claim errors are resolved by reading the key
// (a timed-out LWT may have been applied) and which are returned.
func TestOutcomeUnknown(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&gocql.RequestErrWriteTimeout{WriteType: "CAS"}, true},
		{fmt.Errorf("wrapped: %w", &gocql.RequestErrCASWriteUnknown{}), true},
		{gocql.ErrTimeoutNoResponse, true},
		{&gocql.RequestErrReadTimeout{}, false},
		{gocql.ErrNoConnections, false},
		{errors.New("syntax error"), false},
	} {
		if got := outcomeUnknown(tc.err); got != tc.want {
			t.Errorf("outcomeUnknown(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
