package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/exchange/internal-transfer/cmd/internal/node"
	"github.com/exchange/internal-transfer/config"
	"github.com/exchange/internal-transfer/schema"
	"github.com/exchange/internal-transfer/store/scylla"
)

// cmdSchema applies schema/*.cql (embedded in the binary) to the ScyllaDB
// cluster of database.contact_points, keyspace database.keyspace. With
// --dry-run it prints the statements instead. Applying twice is harmless:
// every statement is CREATE ... IF NOT EXISTS or an ALTER TABLE ... WITH.
func cmdSchema(args []string) error {
	fs := flag.NewFlagSet("schema", flag.ContinueOnError)
	dryRun := fs.Bool("dry-run", false, "print the statements, change nothing")
	replication := fs.String("replication", "", "CQL replication map replacing the file's, e.g. \"{'class': 'SimpleStrategy', 'replication_factor': 1}\" (default: NetworkTopologyStrategy with database.replication_factor)")
	c, err := parse(fs, args)
	if err != nil {
		return err
	}
	return applySchema(c.cfg, schemaReplication(c.cfg, *replication), *dryRun)
}

// schemaReplication is the keyspace's replication map: the flag's when
// given, else NetworkTopologyStrategy with database.replication_factor in
// every datacenter (the file's own map, when that factor is 3).
func schemaReplication(cfg *config.Config, flag string) string {
	if flag != "" {
		return flag
	}
	return fmt.Sprintf("{'class': 'NetworkTopologyStrategy', 'replication_factor': %d}", cfg.Database.ReplicationFactor)
}

func applySchema(cfg *config.Config, replication string, dryRun bool) error {
	if dryRun {
		stmts, err := schema.Statements(cfg.Database.Keyspace, replication)
		if err != nil {
			return err
		}
		fmt.Println(strings.Join(stmts, ";\n\n") + ";")
		return nil
	}
	if len(cfg.Database.ContactPoints) == 0 {
		return usageError("database.contact_points is empty: nothing to apply the schema to (the embedded store needs no schema)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	opts := node.ScyllaOptions(cfg)
	opts.Timeout = max(opts.Timeout, scylla.SchemaTimeout)
	session, err := scylla.Connect(ctx, opts)
	if err != nil {
		return fmt.Errorf("cannot connect to ScyllaDB: %w", err)
	}
	defer session.Close()
	if err := scylla.ApplySchema(ctx, session, cfg.Database.Keyspace, replication); err != nil {
		return err
	}
	fmt.Printf("schema applied to keyspace %s on %s\n", cfg.Database.Keyspace, strings.Join(cfg.Database.ContactPoints, ","))
	return nil
}
