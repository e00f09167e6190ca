package scylla

import (
	"sort"
	"strings"
	"testing"

	"github.com/exchange/internal-transfer/schema"
)

// TestStatementsFitSchema parses schema/*.cql and checks that every
// statement the store issues names only tables and columns the schema
// defines, restricts the full partition key of what it reads or deletes, and
// never asks for ALLOW FILTERING.
func TestStatementsFitSchema(t *testing.T) {
	cat := schema.NewCatalog()
	for _, name := range schema.Files {
		script, err := schema.Script(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := cat.Apply(script); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	stmts := Statements()
	names := make([]string, 0, len(stmts))
	for name := range stmts {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			cql := stmts[name]
			if strings.Contains(strings.ToUpper(cql), "ALLOW FILTERING") {
				t.Fatalf("%s asks for ALLOW FILTERING", cql)
			}
			if err := cat.Check(schema.DefaultKeyspace, cql); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestStatementsCoverTables makes sure the statement table is complete
// enough to be worth checking: every table of the schema is written by some
// statement and read by some statement.
func TestStatementsCoverTables(t *testing.T) {
	written, read := map[string]bool{}, map[string]bool{}
	for _, cql := range Statements() {
		f := strings.Fields(cql)
		switch f[0] {
		case "INSERT":
			written[f[2]] = true
		case "SELECT":
			for i, w := range f {
				if w == "FROM" {
					read[f[i+1]] = true
				}
			}
		}
	}
	for _, table := range []string{tableRequests, tableHistory, tableDays, tableOpen, tableBuckets, tableKeys, tableActions} {
		if !written[table] || !read[table] {
			t.Errorf("table %s: written %v, read %v", table, written[table], read[table])
		}
	}
}
