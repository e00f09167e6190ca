package schema

import (
	"errors"
	"strings"
	"testing"
)

// liveOf lists the shipped tables' columns as ScyllaDB's
// system_schema.columns does (db/schema_tables.cc: clustering_order in
// capitals, position -1 outside the key).
func liveOf(c *Catalog) []LiveColumn {
	var live []LiveColumn
	for _, t := range c.Tables {
		for _, name := range t.ColumnOrder {
			col := LiveColumn{Table: t.Name, Name: name, Kind: "regular", Position: -1, Type: t.Columns[name], ClusteringOrder: "NONE"}
			for i, k := range t.PartitionKey {
				if k == name {
					col.Kind, col.Position = "partition_key", i
				}
			}
			for i, k := range t.Clustering {
				if k.Name == name {
					col.Kind, col.Position, col.ClusteringOrder = "clustering", i, "ASC"
					if k.Descending {
						col.ClusteringOrder = "DESC"
					}
				}
			}
			live = append(live, col)
		}
	}
	return live
}

func TestCheckLive(t *testing.T) {
	c, err := Shipped()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckLive(liveOf(c)); err != nil {
		t.Fatalf("the shipped schema as a cluster lists it: %v", err)
	}
	edit := func(f func(col *LiveColumn) (keep bool)) []LiveColumn {
		var out []LiveColumn
		for _, col := range liveOf(c) {
			if f(&col) {
				out = append(out, col)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		live []LiveColumn
		want []string // "" for no error
	}{
		{"a column the schema lacks is allowed", append(liveOf(c),
			LiveColumn{Table: "balance_transfer_requests", Name: "added_later", Kind: "regular", Position: -1, Type: "text"}), nil},
		{"clustering_key and lower-case orders, as older versions list them", edit(func(col *LiveColumn) bool {
			if col.Kind == "clustering" {
				col.Kind, col.ClusteringOrder = "clustering_key", strings.ToLower(col.ClusteringOrder)
			}
			return true
		}), nil},
		{"varchar is text", edit(func(col *LiveColumn) bool {
			if col.Type == "text" {
				col.Type = "varchar"
			}
			return true
		}), nil},
		{"the open table before it was sharded", edit(func(col *LiveColumn) bool {
			return col.Table != "open_transfer_requests" || col.Name != "shard"
		}), []string{"table open_transfer_requests: column shard is missing",
			"table open_transfer_requests: partition key (minute_bucket), the schema has (minute_bucket, shard)"}},
		{"a missing table", edit(func(col *LiveColumn) bool { return col.Table != "node_claims" }),
			[]string{"table node_claims is missing"}},
		{"another type", edit(func(col *LiveColumn) bool {
			if col.Table == "balance_transfer_requests" && col.Name == "amount" {
				col.Type = "int"
			}
			return true
		}), []string{"table balance_transfer_requests: column amount is int, the schema has bigint"}},
		{"clustering columns swapped", edit(func(col *LiveColumn) bool {
			if col.Table == "transfer_history_by_user" && col.Kind == "clustering" {
				col.Position = 1 - col.Position
			}
			return true
		}), []string{"table transfer_history_by_user: clustering columns (request_id, created_at), the schema has (created_at, request_id)"}},
		{"another clustering order", edit(func(col *LiveColumn) bool {
			if col.Table == "open_transfer_requests" && col.Kind == "clustering" {
				col.ClusteringOrder = "DESC"
			}
			return true
		}), []string{"table open_transfer_requests: clustering order (desc, desc), the schema has (asc, asc)"}},
		{"a static column", edit(func(col *LiveColumn) bool {
			if col.Table == "node_claims" && col.Name == "owner" {
				col.Kind = "static"
			}
			return true
		}), []string{"table node_claims: column owner is static"}},
		{"a key column made regular", edit(func(col *LiveColumn) bool {
			if col.Table == "transfer_idempotency_keys" && col.Name == "idempotency_key" {
				col.Kind, col.Position = "regular", -1
			}
			return true
		}), []string{"table transfer_idempotency_keys: partition key (user_id), the schema has (user_id, idempotency_key)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.CheckLive(tc.live)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrLiveMismatch) {
				t.Fatalf("error %v, want ErrLiveMismatch", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
