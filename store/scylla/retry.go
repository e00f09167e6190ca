package scylla

import (
	"context"
	"errors"
	"time"

	"github.com/gocql/gocql"
)

// retryPolicy retries a failed statement only when another attempt can
// succeed: a timeout, an unavailable, overloaded or bootstrapping replica,
// a replica's read or write failure, or a connection that broke. A refusal
// (syntax, invalid request, unauthorised, already exists, …) is returned at
// once. Like gocql's own policies it never retries a statement that is not
// idempotent and may have run. Its backoff ends with the statement's
// context, so a retry never outlasts the caller's deadline.
type retryPolicy struct {
	retries  int
	min, max time.Duration
}

var (
	_ gocql.RetryPolicy    = retryPolicy{}
	_ gocql.LWTRetryPolicy = retryPolicy{}
)

// Attempt waits the backoff before attempt q.Attempts()+1 and reports
// whether to make it.
func (p retryPolicy) Attempt(q gocql.RetryableQuery) bool {
	n := q.Attempts()
	if n > p.retries {
		return false
	}
	wait := p.min << min(max(n-1, 0), 16)
	if wait > p.max || wait <= 0 {
		wait = p.max
	}
	ctx := q.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// GetRetryType retries a transient error on another host.
func (p retryPolicy) GetRetryType(err error) gocql.RetryType {
	if !retryable(err) {
		return gocql.Rethrow
	}
	return gocql.RetryNextHost
}

// AttemptLWT is Attempt.
func (p retryPolicy) AttemptLWT(q gocql.RetryableQuery) bool { return p.Attempt(q) }

// GetRetryTypeLWT retries a transient error of a lightweight transaction on
// the same host: another coordinator would contend with it in Paxos.
func (p retryPolicy) GetRetryTypeLWT(err error) gocql.RetryType {
	if !retryable(err) {
		return gocql.Rethrow
	}
	return gocql.Retry
}

// retryable reports whether another attempt of the statement that failed
// with err may succeed and is safe.
func retryable(err error) bool {
	var qe *gocql.QueryError
	if errors.As(err, &qe) && qe.PotentiallyExecuted() && !qe.IsIdempotent() {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var re gocql.RequestError
	if !errors.As(err, &re) {
		return true // no answer from the server: a broken connection, a client-side timeout
	}
	switch re.Code() {
	case gocql.ErrCodeUnavailable, gocql.ErrCodeOverloaded, gocql.ErrCodeBootstrapping,
		gocql.ErrCodeWriteTimeout, gocql.ErrCodeReadTimeout, gocql.ErrCodeReadFailure,
		gocql.ErrCodeWriteFailure, gocql.ErrCodeServer:
		return true
	}
	return false
}
