// Package scylla is store.Store on ScyllaDB, through gocqlx/v2, on the
// tables of schema/internal_transfer.cql.
//
// # Creating the schema
//
// The operator command (make schema, itctl schema) runs:
//
//	sess, err := scylla.Connect(ctx, scylla.Options{Hosts: cfg.Database.ContactPoints, Timeout: scylla.SchemaTimeout})
//	defer sess.Close()
//	err = scylla.ApplySchema(ctx, sess, cfg.Database.Keyspace, "")
//
// which executes schema/create_keyspace_prod.cql and
// schema/internal_transfer.cql statement by statement with the keyspace
// renamed. Tests pass a throwaway keyspace and SimpleStrategy RF 1 instead.
//
// # Tables
//
// A request lives in balance_transfer_requests (by id), in the history of
// each user it involves (transfer_history_by_user, one partition per user
// and UTC day, with transfer_history_days listing a user's active days), and,
// while it is not final, in open_transfer_requests (sixteen partitions per
// UTC minute, by a hash of the request id, so a busy minute's writes spread
// over the cluster; open_transfer_buckets lists the minutes that may hold
// open requests). Every read names a full partition key; no query filters.
//
// # Monotone status without lightweight transactions
//
// The ledger decides every outcome; the store records it. Settlement and the
// scanner may finalise one request at the same time, but they write the
// same final status. So status writes need convergence, not
// compare-and-set: every cell a status change writes, in every table, is
// written USING TIMESTAMP created_at + rank(status) (microseconds; rank is
// the Status value, requesting 1 < pending 2 < success 3 < failed 4, and a
// failure adds 0..995 by its error code, so two failures with different
// codes never share a timestamp and mix their cells: requestTimestamp).
// Last-write-wins then means highest-status-wins whatever order writes
// arrive in, and a delayed or replayed write of an earlier status (a
// retried Create, a slow pending write) cannot regress a final one — nor
// resurrect the open row that the final status deleted. Writes of one
// status by different writers carry the same timestamp and the same values
// (but updated_at), so they are idempotent. Advance still reads first, to
// refuse illegal moves with *store.TransitionError and to return repeats
// without writing. The writes of one change go in one logged batch, so the
// tables cannot be left disagreeing by a crash between them.
//
// # Idempotency keys
//
// Create claims (user, key) with INSERT ... IF NOT EXISTS USING TTL on
// transfer_idempotency_keys, a lightweight transaction on the key alone:
// across all nodes exactly one request holds a live key, and the ledger
// transfer id derived from the key makes a lost race harmless anyway. The
// key row carries a copy of the request, which lets a losing or retrying
// Create return — and if need be restore — the holder.
//
// # Node claims
//
// Request ids are unique per gateway node id, so each running gateway
// claims its id in node_claims (INSERT ... IF NOT EXISTS USING TTL),
// renews it (UPDATE ... USING TTL ... IF owner = ?) and releases it when it
// stops (DELETE ... IF owner = ?): a second node started with the same id
// is refused at start (Store.ClaimNode, Store.ReleaseNode).
//
// # Paging
//
// Cursors are opaque base64url strings: the bucket (day or minute) and the
// clustering key (created_at, request_id) of the last row returned. History
// visits only the user's active days and reads at most
// Options.HistoryScanRowsMax rows per call (see Store.History); ListOpen and
// CountOpen visit only the minutes listed as possibly open, reading a
// minute's shards at once (ListOpen merges them in key order).
package scylla
