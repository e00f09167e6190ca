// Package storetest is the conformance suite every store.Store must pass.
//
// Both implementations call it from their own tests:
//
//	func Run(t *testing.T, open func(t *testing.T, opts storetest.Options) store.Store)
//
// Contract of open:
//   - It returns a ready store honouring opts (today only IdempotencyTTL).
//     It is called many times per Run (once per subtest, sometimes twice);
//     the suite closes every store it opened with t.Cleanup, so open must not
//     close it itself. It reports failures with t.Fatal.
//   - Stores opened within one Run may share one database (the Scylla test
//     uses one fresh keyspace per Run): the suite draws every user id and
//     request id at random (crypto/rand, 63 bits so they fit a CQL bigint)
//     and never assumes it sees only its own rows. Global queries (ListOpen,
//     CountOpen) are checked by what the suite's own rows must contribute.
//
// What the suite relies on, beyond the comments of store.Store:
//   - Times round-trip at millisecond precision (CQL timestamp); the suite
//     always writes CreatedAt truncated to the millisecond and set.
//   - Create ignores req.Status and stores StatusRequesting; it refuses an
//     ID of 0, a UserID of 0, and an ID that already exists under another
//     (or no) idempotency key, all with errors wrapping store.ErrInvalid
//     (the existing id also with store.ErrIDExists).
//   - Advance to an invalid status (0, >4) returns an error wrapping
//     store.ErrInvalid; ErrorCode/ErrorMessage are recorded when moving to
//     failed.
//   - History and ListOpen refuse a Limit outside 1..HistoryLimitMax /
//     1..OpenLimitMax and an undecodable cursor with store.ErrInvalid. Only
//     the last page has NextCursor "". A page may carry a cursor and fewer
//     than Limit requests (the ScyllaDB store stops a filtered History page
//     at HistoryScanRowsMax rows read), or a cursor whose next page is
//     empty: callers page on while there is a cursor.
//   - Idempotency keys expire after opts.IdempotencyTTL (the suite uses 1 s
//     and waits TTL+2 s): an expired key is absent, so a Create with it and a
//     new request id creates (created == true).
//   - RecordAction and Actions on an unknown request return store.ErrNotFound.
//   - A node claim lasts its ttl, give or take a second (the suite uses
//     3 s, counts on 1.5 s and waits 4.5 s for it to lapse); node ids are
//     drawn at random below 2^30.
package storetest

import "time"

// Options are the settings the suite needs a store opened with.
type Options struct {
	// IdempotencyTTL is how long an idempotency key stays live. The suite
	// passes 24 h except in the expiry test, which passes 1 s.
	IdempotencyTTL time.Duration
}
