// Package tigerbeetle implements ledger.Ledger on a TigerBeetle cluster with
// tigerbeetle-go v0.16.78 (cgo; the client library is linked statically).
//
// What it adds to the bare client:
//
//   - Deadlines. The client has neither timeout nor cancellation and waits
//     forever for an unreachable cluster. Every call here runs under its ctx's
//     deadline (Options.Timeout when ctx has none); past it the call returns
//     an error wrapping ledger.ErrOutcomeUnknown — the request may still be
//     applied later — and the caller retries with the same ids.
//   - Bounded waiting. At most Options.Concurrency requests exist at once,
//     abandoned ones included (they hold their slot until the client
//     completes them). When every slot is held by an unanswered request, new
//     calls fail at once with ErrUnavailable instead of queuing behind them.
//   - Zero-copy batches. ledger.Account and ledger.Transfer have TigerBeetle's
//     128-byte layout, asserted at compile time field by field, so batches and
//     results are reinterpreted, never converted.
//   - Checks the cluster would answer without a per-event result: batches over
//     BatchEventsMax (8189, the same as ledger.BatchEventsMax) refused
//     with ledger.ErrBatchTooLarge, and invalid account filters
//     (ledger.ErrInvalidFilter). The limit assumes the replicas' default
//     message size (tigerbeetle start without --limit-request): a smaller
//     one makes the server refuse full batches, and the batcher merges
//     callers' events into full batches under load.
//   - Host names. The client accepts only IP addresses; New resolves names,
//     and resolves them again for a replacement client.
//   - Eviction. A client whose session the cluster evicted answers nothing
//     more; calls fail with ErrEvicted and the client is replaced, by the
//     call that sees the eviction or, when no caller waits for that call
//     any more, by the next call. Some client builds terminate themselves
//     on eviction and answer every later call "client closed"; that too
//     replaces the client while the Ledger is open. A client
//     whose release the cluster refuses fails every call with
//     ErrReleaseMismatch (a replacement would be refused alike); /ready
//     fails until a matching client or cluster is deployed.
//
// # Running the conformance suite against a server
//
// No TigerBeetle server runs on the development machines, so the tests that
// need one skip unless TB_ADDRESSES is set. Against a single-replica cluster
// formatted with cluster id 0 (or set TB_CLUSTER_ID):
//
//	tigerbeetle format --cluster=0 --replica=0 --replica-count=1 --development 0_0.tigerbeetle
//	tigerbeetle start --addresses=3000 --development 0_0.tigerbeetle &
//	TB_ADDRESSES=127.0.0.1:3000 go test ./ledger/tigerbeetle/
//	TB_ADDRESSES=127.0.0.1:3000 go test -run '^$' -bench . -benchmem -count 3 ./ledger/tigerbeetle/
//
// TB_ADDRESSES is comma-separated, in replica order. The suite creates
// accounts and transfers with fresh random ids, so it can run repeatedly
// against the same data file, but it should not point at a production cluster.
package tigerbeetle
