package main

import (
	"strings"
	"testing"

	"github.com/exchange/internal-transfer/config"
	"github.com/exchange/internal-transfer/schema"
)

// database.replication_factor reaches the keyspace itctl schema creates;
// --replication replaces it.
func TestSchemaReplicationFollowsTheConfig(t *testing.T) {
	cfg := config.Defaults()
	cfg.Database.ReplicationFactor = 5
	stmts, err := schema.Statements(cfg.Database.Keyspace, schemaReplication(cfg, ""))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stmts[0], "'replication_factor': '5'") && !strings.Contains(stmts[0], "'replication_factor': 5") {
		t.Fatalf("keyspace statement %q does not carry replication_factor 5", stmts[0])
	}
	flag := "{'class': 'SimpleStrategy', 'replication_factor': 1}"
	stmts, err = schema.Statements(cfg.Database.Keyspace, schemaReplication(cfg, flag))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stmts[0], "SimpleStrategy") {
		t.Fatalf("keyspace statement %q ignores --replication", stmts[0])
	}
}
