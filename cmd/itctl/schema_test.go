package main

import (
	"net"
	"strings"
	"testing"
	"time"

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

// itctl schema connects as the services do: with database.tls its first
// bytes to a node open a TLS handshake (0x16), not a CQL frame.
func TestSchemaDialsOverTLS(t *testing.T) {
	for _, tls := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		first := make(chan byte, 16)
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				var b [1]byte
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := conn.Read(b[:]); err == nil {
					select {
					case first <- b[0]:
					default:
					}
				}
				conn.Close()
			}
		}()
		cfg := config.Defaults()
		cfg.Database.ContactPoints = []string{ln.Addr().String()}
		cfg.Database.TLS = tls
		if err := applySchema(cfg, "", false); err == nil {
			t.Fatal("applied the schema to a listener that is no ScyllaDB")
		}
		ln.Close()
		select {
		case got := <-first:
			if (got == 0x16) != tls {
				t.Fatalf("database.tls %v: first byte %#x", tls, got)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("database.tls %v: itctl schema never dialled the node", tls)
		}
	}
}
