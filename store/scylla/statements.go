package scylla

import (
	"fmt"

	"github.com/scylladb/gocqlx/v2/qb"
)

// stmt is a prepared-statement text and the names of its bind markers.
type stmt struct {
	cql   string
	names []string
}

// conditional reports whether s is a lightweight transaction, which the
// driver must not retry on its own: the claims, a renewal, a release.
func (s stmt) conditional() bool {
	return s.cql == stmtKeyClaim.cql || s.cql == stmtNodeClaim.cql || s.cql == stmtNodeRenew.cql ||
		s.cql == stmtNodeRelease.cql
}

func build(b qb.Builder) stmt {
	cql, names := b.ToCql()
	return stmt{cql: cql, names: names}
}

// Tables.
const (
	tableRequests = "balance_transfer_requests"
	tableHistory  = "transfer_history_by_user"
	tableDays     = "transfer_history_days"
	tableOpen     = "open_transfer_requests"
	tableBuckets  = "open_transfer_buckets"
	tableKeys     = "transfer_idempotency_keys"
	tableActions  = "transfer_operator_actions"
	tableNodes    = "node_claims"
)

// clusteringKey is the (created_at, request_id) tuple the history and open
// tables cluster by; page bounds compare it as a whole.
const clusteringKey = "(created_at,request_id)"

func withColumns(first ...string) []string {
	return append(first, requestColumns...)
}

// Every statement the store issues, built once. Table names are unqualified:
// the session's keyspace (Options.Keyspace) applies. TestStatementsFitSchema
// checks each against schema/*.cql.
var (
	stmtRequestInsert = build(qb.Insert(tableRequests).Columns(requestColumns...).TimestampNamed("ts"))
	stmtRequestGet    = build(qb.Select(tableRequests).Columns(requestColumns...).Where(qb.Eq("request_id")))

	stmtHistoryInsert = build(qb.Insert(tableHistory).Columns(withColumns("owner_id", "day_bucket")...).TimestampNamed("ts"))
	stmtHistoryPage   = build(qb.Select(tableHistory).Columns(requestColumns...).Where(
		qb.Eq("owner_id"), qb.Eq("day_bucket"),
		qb.LtTupleNamed(clusteringKey, 2, "upper"), qb.GtOrEqTupleNamed(clusteringKey, 2, "lower")).
		LimitNamed("limit"))
	stmtDaysInsert = build(qb.Insert(tableDays).Columns("owner_id", "day_bucket"))
	stmtDaysList   = build(qb.Select(tableDays).Columns("day_bucket").Where(
		qb.Eq("owner_id"), qb.LtOrEqNamed("day_bucket", "newest"), qb.GtOrEqNamed("day_bucket", "oldest")).
		LimitNamed("limit"))

	stmtOpenInsert = build(qb.Insert(tableOpen).Columns(withColumns("minute_bucket", "shard")...).TimestampNamed("ts"))
	stmtOpenDelete = build(qb.Delete(tableOpen).TimestampNamed("ts").Where(
		qb.Eq("minute_bucket"), qb.Eq("shard"), qb.Eq("created_at"), qb.Eq("request_id")))
	stmtOpenPage = build(qb.Select(tableOpen).Columns(requestColumns...).Where(
		qb.Eq("minute_bucket"), qb.Eq("shard"),
		qb.GtTupleNamed(clusteringKey, 2, "lower"), qb.LtTupleNamed(clusteringKey, 2, "upper")).
		LimitNamed("limit"))
	stmtOpenAny = build(qb.Select(tableOpen).Columns("request_id").Where(
		qb.Eq("minute_bucket"), qb.Eq("shard")).Limit(1))
	stmtOpenCount = build(qb.Select(tableOpen).Columns("status", "created_at").Where(
		qb.Eq("minute_bucket"), qb.Eq("shard")))

	// The index rows carry explicit write timestamps: see writeNew and
	// pruneMinute.
	stmtBucketInsert = build(qb.Insert(tableBuckets).Columns("shard", "minute_bucket").TimestampNamed("ts"))
	stmtBucketDelete = build(qb.Delete(tableBuckets).TimestampNamed("ts").Where(qb.Eq("shard"), qb.Eq("minute_bucket")))
	stmtBucketList   = build(qb.Select(tableBuckets).Columns("minute_bucket").Where(
		qb.Eq("shard"), qb.GtOrEqNamed("minute_bucket", "first"), qb.LtOrEqNamed("minute_bucket", "last")).
		LimitNamed("limit"))

	stmtKeyClaim = build(qb.Insert(tableKeys).Columns(requestColumns...).Unique().TTLNamed("ttl"))
	stmtKeyGet   = build(qb.Select(tableKeys).Columns(requestColumns...).Where(
		qb.Eq("user_id"), qb.Eq("idempotency_key")))

	stmtNodeClaim = build(qb.Insert(tableNodes).Columns("node_id", "owner").Unique().TTLNamed("ttl"))
	stmtNodeRenew = build(qb.Update(tableNodes).TTLNamed("ttl").Set("owner").Where(qb.Eq("node_id")).
			If(qb.EqNamed("owner", "holder")))
	stmtNodeGet     = build(qb.Select(tableNodes).Columns("owner").Where(qb.Eq("node_id")))
	stmtNodeRelease = build(qb.Delete(tableNodes).Where(qb.Eq("node_id")).If(qb.EqNamed("owner", "holder")))

	stmtActionInsert = build(qb.Insert(tableActions).Columns("request_id", "at", "action_id", "kind", "operator", "reason"))
	stmtActionList   = build(qb.Select(tableActions).Columns("at", "kind", "operator", "reason").Where(
		qb.Eq("request_id")).LimitNamed("limit"))
)

// The write batches bind the request inserts positionally (rowArgs): their
// bind names must be the prefix columns, requestColumns, then "ts".
func init() {
	for _, c := range []struct {
		st     stmt
		prefix []string
	}{
		{stmtRequestInsert, nil},
		{stmtHistoryInsert, []string{"owner_id", "day_bucket"}},
		{stmtOpenInsert, []string{"minute_bucket", "shard"}},
	} {
		want := append(append(append([]string{}, c.prefix...), requestColumns...), "ts")
		if fmt.Sprint(want) != fmt.Sprint(c.st.names) {
			panic(fmt.Sprintf("BUG: %s binds %v, rowArgs gives %v", c.st.cql, c.st.names, want))
		}
	}
	if want := "[ts minute_bucket shard created_at request_id]"; fmt.Sprint(stmtOpenDelete.names) != want {
		panic(fmt.Sprintf("BUG: %s binds %v, openDeleteArgs gives %s", stmtOpenDelete.cql, stmtOpenDelete.names, want))
	}
}

// rowArgs returns prefix, the request columns' values (cols, from
// appendArgs, boxed once for all of a batch's statements) and ts: the bind
// values of a request insert.
func rowArgs(cols []any, ts any, prefix ...any) []any {
	out := make([]any, 0, len(prefix)+len(cols)+1)
	out = append(append(out, prefix...), cols...)
	return append(out, ts)
}

// Statements returns the CQL text of every statement the store issues, by a
// name for test reports. The schema test checks each against schema/*.cql.
func Statements() map[string]string {
	all := map[string]stmt{
		"request.insert": stmtRequestInsert, "request.get": stmtRequestGet,
		"history.insert": stmtHistoryInsert, "history.page": stmtHistoryPage,
		"days.insert": stmtDaysInsert, "days.list": stmtDaysList,
		"open.insert": stmtOpenInsert, "open.delete": stmtOpenDelete,
		"open.page": stmtOpenPage, "open.any": stmtOpenAny, "open.count": stmtOpenCount,
		"bucket.insert": stmtBucketInsert, "bucket.delete": stmtBucketDelete, "bucket.list": stmtBucketList,
		"key.claim": stmtKeyClaim, "key.get": stmtKeyGet,
		"action.insert": stmtActionInsert, "action.list": stmtActionList,
		"node.claim": stmtNodeClaim, "node.renew": stmtNodeRenew, "node.get": stmtNodeGet,
		"node.release": stmtNodeRelease,
	}
	out := make(map[string]string, len(all))
	for name, s := range all {
		out[name] = s.cql
	}
	return out
}

// args returns the values of s's bind markers, in order, from values.
func (s stmt) args(values map[string]any) []any {
	out := make([]any, len(s.names))
	for i, n := range s.names {
		v, ok := values[n]
		if !ok {
			panic(fmt.Sprintf("BUG: no value for %q in %s", n, s.cql))
		}
		out[i] = v
	}
	return out
}
