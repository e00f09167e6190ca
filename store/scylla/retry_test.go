package scylla

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

// serverError is an error frame from a replica with code.
type serverError int

func (e serverError) Code() int       { return int(e) }
func (e serverError) Message() string { return fmt.Sprintf("code %#x", int(e)) }
func (e serverError) Error() string   { return e.Message() }

// TestRetryPolicyRetriesOnlyTransientErrors: timeouts, unavailable and
// overloaded replicas and broken connections are retried (on another host;
// a lightweight transaction on the same one); refusals, a cancelled or
// expired context, and a non-idempotent statement that may have run are not.
func TestRetryPolicyRetriesOnlyTransientErrors(t *testing.T) {
	p := retryPolicy{retries: 3, min: time.Millisecond, max: 10 * time.Millisecond}
	cases := map[string]struct {
		err   error
		retry bool
	}{
		"write timeout":     {serverError(gocql.ErrCodeWriteTimeout), true},
		"read timeout":      {serverError(gocql.ErrCodeReadTimeout), true},
		"unavailable":       {serverError(gocql.ErrCodeUnavailable), true},
		"overloaded":        {serverError(gocql.ErrCodeOverloaded), true},
		"bootstrapping":     {serverError(gocql.ErrCodeBootstrapping), true},
		"write failure":     {serverError(gocql.ErrCodeWriteFailure), true},
		"broken connection": {io.ErrUnexpectedEOF, true},
		"no response":       {gocql.ErrTimeoutNoResponse, true},
		"syntax":            {serverError(gocql.ErrCodeSyntax), false},
		"invalid":           {serverError(gocql.ErrCodeInvalid), false},
		"unauthorized":      {serverError(gocql.ErrCodeUnauthorized), false},
		"already exists":    {serverError(gocql.ErrCodeAlreadyExists), false},
		"deadline":          {context.DeadlineExceeded, false},
		"cancelled":         {fmt.Errorf("query: %w", context.Canceled), false},
	}
	for name, c := range cases {
		want, wantLWT := gocql.Rethrow, gocql.Rethrow
		if c.retry {
			want, wantLWT = gocql.RetryNextHost, gocql.Retry
		}
		if got := p.GetRetryType(c.err); got != want {
			t.Errorf("%s: GetRetryType = %v, want %v", name, got, want)
		}
		if got := p.GetRetryTypeLWT(c.err); got != wantLWT {
			t.Errorf("%s: GetRetryTypeLWT = %v, want %v", name, got, wantLWT)
		}
	}
}

// attempts is a gocql.RetryableQuery after n attempts, under ctx.
type attempts struct {
	n   int
	ctx context.Context
}

func (a attempts) Attempts() int                     { return a.n }
func (a attempts) SetConsistency(gocql.Consistency)  {}
func (a attempts) GetConsistency() gocql.Consistency { return gocql.Quorum }
func (a attempts) IsLWT() bool                       { return false }
func (a attempts) Context() context.Context          { return a.ctx }

// TestRetryPolicyBackoffEndsWithTheContext: the policy allows its retries,
// no more, and its backoff never outlasts the statement's context.
func TestRetryPolicyBackoffEndsWithTheContext(t *testing.T) {
	p := retryPolicy{retries: 3, min: time.Millisecond, max: time.Hour}
	ctx := context.Background()
	for n := 1; n <= 3; n++ {
		if !p.Attempt(attempts{n, ctx}) {
			t.Fatalf("attempt after %d refused, want up to 3 retries", n)
		}
	}
	if p.Attempt(attempts{4, ctx}) {
		t.Fatal("a fourth retry allowed")
	}
	slow := retryPolicy{retries: 3, min: time.Hour, max: time.Hour}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if slow.Attempt(attempts{1, ctx}) {
		t.Fatal("a retry allowed after the statement's context ended")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the backoff took %v past a 50 ms context", took)
	}
}
