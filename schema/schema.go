// Package schema holds the ScyllaDB schema of the internal-transfer service
// (create_keyspace_prod.cql, internal_transfer.cql, embedded) and a small
// recogniser for the CQL subset they and the store use.
//
// Statements returns the schema as statements ready to execute, with the
// keyspace renamed and, if asked, the replication replaced: production
// applies it as written (keyspace trading, NetworkTopologyStrategy RF 3);
// tests apply it to a throwaway keyspace. Catalog parses the files into
// tables, columns and keys, and Catalog.Check verifies that a query refers
// only to what the schema defines and reads by full partition key, which is
// how the store's statements are tested without a cluster.
package schema

import (
	"embed"
	"fmt"
	"regexp"
	"strings"
)

// files holds the schema scripts.
//
//go:embed *.cql
var files embed.FS

// DefaultKeyspace is the keyspace the scripts are written for.
const DefaultKeyspace = "trading"

// Files are the scripts in the order they must run.
var Files = []string{"create_keyspace_prod.cql", "internal_transfer.cql"}

// Script returns the text of the embedded script name.
func Script(name string) (string, error) {
	b, err := files.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("cannot read schema script %s: %w", name, err)
	}
	return string(b), nil
}

// keyspaceName is what CQL accepts as an unquoted keyspace name.
var keyspaceName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,47}$`)

// Statements returns every statement of Files, in order, with the keyspace
// renamed to keyspace and, when replication is not "", the keyspace's
// replication map replaced by replication (a CQL map literal such as
// {'class': 'SimpleStrategy', 'replication_factor': 1}).
func Statements(keyspace, replication string) ([]string, error) {
	if !keyspaceName.MatchString(keyspace) {
		return nil, fmt.Errorf("cannot build schema: keyspace name %q is not [A-Za-z][A-Za-z0-9_]{0,47}", keyspace)
	}
	if replication != "" {
		p, err := newParser(replication)
		if err == nil {
			_, err = p.stringMap()
		}
		if err == nil && !p.done() {
			err = p.errorf("unexpected text")
		}
		if err != nil {
			return nil, fmt.Errorf("cannot build schema: replication %q: %w", replication, err)
		}
	}
	var out []string
	for _, name := range Files {
		script, err := Script(name)
		if err != nil {
			return nil, err
		}
		stmts, err := Split(script)
		if err != nil {
			return nil, fmt.Errorf("cannot split %s: %w", name, err)
		}
		for _, s := range stmts {
			r, err := rewrite(s, strings.ToLower(keyspace), replication)
			if err != nil {
				return nil, fmt.Errorf("cannot rewrite a statement of %s: %w", name, err)
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// rewrite renames the keyspace a CREATE KEYSPACE, CREATE TABLE or ALTER
// TABLE statement names and replaces a keyspace's replication map. It edits the tokens the
// grammar puts there, never text that merely looks like the name.
func rewrite(stmt, keyspace, replication string) (string, error) {
	p, err := newParser(stmt)
	if err != nil {
		return "", err
	}
	type edit struct {
		pos, end int
		text     string
	}
	var edits []edit
	switch {
	case p.acceptSeq("CREATE", "KEYSPACE"):
		p.acceptSeq("IF", "NOT", "EXISTS")
		name := p.next()
		edits = append(edits, edit{name.Pos, name.End, keyspace})
		if replication != "" {
			for !p.done() && !p.acceptSeq("replication", "=") {
				p.next()
			}
			open := p.peek()
			if _, _, err := p.mapEntries(); err != nil {
				return "", err
			}
			edits = append(edits, edit{open.Pos, p.toks[p.i-1].End, replication})
		}
	case p.acceptSeq("CREATE", "TABLE"), p.acceptSeq("ALTER", "TABLE"):
		p.acceptSeq("IF", "NOT", "EXISTS")
		if !p.peekAt(1).is(".") {
			return "", p.errorf("table name must be keyspace-qualified")
		}
		name := p.next()
		edits = append(edits, edit{name.Pos, name.End, keyspace})
	default:
		return "", p.errorf("want CREATE KEYSPACE, CREATE TABLE or ALTER TABLE")
	}
	for i := len(edits) - 1; i >= 0; i-- {
		e := edits[i]
		stmt = stmt[:e.pos] + e.text + stmt[e.end:]
	}
	return stmt, nil
}
