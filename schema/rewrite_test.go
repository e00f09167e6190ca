package schema

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStatementsRewriteKeyspace(t *testing.T) {
	const target = "it_test_0042"
	const simple = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
	stmts, err := Statements(target, simple)
	if err != nil {
		t.Fatal(err)
	}
	shipped := loadCatalog(t)
	alters := 0
	for _, s := range stmts {
		if strings.HasPrefix(s, "ALTER TABLE ") {
			alters++
		}
	}
	if len(stmts) != len(shipped.Tables)+1+alters {
		t.Fatalf("got %d statements, want the keyspace, %d tables and %d alters", len(stmts), len(shipped.Tables), alters)
	}
	c := NewCatalog()
	for _, s := range stmts {
		if err := c.Apply(s); err != nil {
			t.Fatalf("rewritten statement does not parse: %v\n%s", err, s)
		}
		toks, err := tokenize(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range toks {
			if (tok.Kind == tokIdent || tok.Kind == tokQuoted) && tok.name() == DefaultKeyspace {
				t.Errorf("rewritten statement still names %s:\n%s", DefaultKeyspace, s)
			}
		}
	}
	if len(c.Keyspaces) != 1 || c.Keyspaces[target] == nil {
		t.Fatalf("keyspaces = %v, want only %s", c.Keyspaces, target)
	}
	wantRepl := map[string]string{"class": "SimpleStrategy", "replication_factor": "1"}
	if diff := cmp.Diff(wantRepl, c.Keyspaces[target].Replication); diff != "" {
		t.Errorf("replication (-want +got):\n%s", diff)
	}
	for name, tbl := range c.Tables {
		if tbl.Keyspace != target {
			t.Errorf("table %s not in %s", name, target)
		}
		orig := shipped.Tables[DefaultKeyspace+"."+tbl.Name]
		if orig == nil || !cmp.Equal(orig.Columns, tbl.Columns) {
			t.Errorf("table %s changed by the rewrite", tbl.Name)
		}
	}
}

func TestStatementsKeepReplicationWhenNotGiven(t *testing.T) {
	stmts, err := Statements("Trading_Copy", "")
	if err != nil {
		t.Fatal(err)
	}
	c := NewCatalog()
	for _, s := range stmts {
		if err := c.Apply(s); err != nil {
			t.Fatal(err)
		}
	}
	ks := c.Keyspaces["trading_copy"]
	if ks == nil || ks.Replication["class"] != "NetworkTopologyStrategy" || ks.Replication["replication_factor"] != "3" {
		t.Fatalf("keyspace = %+v, want trading_copy with the shipped replication", ks)
	}
}

func TestStatementsRefuseBadArguments(t *testing.T) {
	tests := []struct{ name, keyspace, replication, want string }{
		{"injection in name", "x; DROP KEYSPACE trading", "", "keyspace name"},
		{"empty name", "", "", "keyspace name"},
		{"digit first", "1abc", "", "keyspace name"},
		{"replication not a map", "ok", "SimpleStrategy", "replication"},
		{"replication with trailing text", "ok", "{'class': 'SimpleStrategy'} AND durable_writes = false", "replication"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Statements(tc.keyspace, tc.replication)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Statements(%q, %q) error = %v, want one about %s", tc.keyspace, tc.replication, err, tc.want)
			}
		})
	}
}
