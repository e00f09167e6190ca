package schema

import (
	"fmt"
	"strings"
)

// Catalog is what a schema script defines: keyspaces and their tables.
type Catalog struct {
	Keyspaces map[string]*Keyspace
	Tables    map[string]*Table // by "keyspace.table"
}

// Keyspace is one CREATE KEYSPACE.
type Keyspace struct {
	Name          string
	Replication   map[string]string // option → value text ('class' included)
	DurableWrites bool
	Tablets       map[string]string // ScyllaDB's tablets option ('enabled'), nil when absent
}

// Table is one CREATE TABLE.
type Table struct {
	Keyspace     string
	Name         string
	Columns      map[string]string // column → CQL type
	ColumnOrder  []string
	PartitionKey []string
	Clustering   []ClusteringColumn
	Options      map[string]string // WITH option → value text
}

// ClusteringColumn is a clustering column and its stored order.
type ClusteringColumn struct {
	Name       string
	Descending bool
}

// IsPrimaryKey reports whether column is part of t's primary key.
func (t *Table) IsPrimaryKey(column string) bool {
	return t.isPartitionKey(column) || t.clusteringIndex(column) >= 0
}

func (t *Table) isPartitionKey(column string) bool {
	for _, c := range t.PartitionKey {
		if c == column {
			return true
		}
	}
	return false
}

func (t *Table) clusteringIndex(column string) int {
	for i, c := range t.Clustering {
		if c.Name == column {
			return i
		}
	}
	return -1
}

// nativeTypes are the column types the recogniser accepts (no collections,
// tuples, UDTs or counters: the service uses none).
var nativeTypes = map[string]bool{
	"ascii": true, "bigint": true, "blob": true, "boolean": true, "date": true,
	"decimal": true, "double": true, "float": true, "inet": true, "int": true,
	"smallint": true, "text": true, "time": true, "timestamp": true,
	"timeuuid": true, "tinyint": true, "uuid": true, "varchar": true, "varint": true,
}

// tableOptions are the CREATE TABLE ... WITH options the recogniser accepts.
var tableOptions = map[string]bool{
	"bloom_filter_fp_chance": true, "caching": true, "comment": true,
	"compaction": true, "compression": true, "default_time_to_live": true,
	"gc_grace_seconds": true, "speculative_retry": true, "tombstone_gc": true,
}

// NewCatalog returns an empty catalog.
func NewCatalog() *Catalog {
	return &Catalog{Keyspaces: map[string]*Keyspace{}, Tables: map[string]*Table{}}
}

// Apply parses every statement of script and adds what it defines. It
// accepts only CREATE KEYSPACE, CREATE TABLE and ALTER TABLE ... WITH of the
// subset the service's schema uses, with keyspace-qualified table names, and errors (wrapping
// ErrSyntax) on anything else.
func (c *Catalog) Apply(script string) error {
	stmts, err := Split(script)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSyntax, err)
	}
	for _, s := range stmts {
		if err := c.applyStatement(s); err != nil {
			return fmt.Errorf("cannot apply %q: %w", firstLine(s), err)
		}
	}
	return nil
}

func (c *Catalog) applyStatement(stmt string) error {
	p, err := newParser(stmt)
	if err != nil {
		return err
	}
	switch {
	case p.acceptSeq("CREATE", "KEYSPACE"):
		return c.createKeyspace(p)
	case p.acceptSeq("CREATE", "TABLE"):
		return c.createTable(p)
	case p.acceptSeq("ALTER", "TABLE"):
		return c.alterTable(p)
	}
	return p.errorf("want CREATE KEYSPACE, CREATE TABLE or ALTER TABLE")
}

// alterTable parses ALTER TABLE ks.t WITH option = value [AND ...] of a
// table defined before: a setting changed after tables were first created,
// which CREATE TABLE IF NOT EXISTS would leave as it was on a live cluster.
func (c *Catalog) alterTable(p *parser) error {
	ksName, name, err := p.qualified()
	if err != nil {
		return err
	}
	key := ksName + "." + name
	t := c.Tables[key]
	if ksName == "" || t == nil {
		return fmt.Errorf("%w: ALTER TABLE of undefined table %s", ErrSyntax, key)
	}
	if err := p.expect("WITH"); err != nil {
		return err
	}
	changed := &Table{Keyspace: t.Keyspace, Name: t.Name, Options: map[string]string{}}
	if p.peek().is("CLUSTERING") {
		return p.errorf("the clustering order of %s cannot change", key)
	}
	// changed has no clustering columns, so a later AND CLUSTERING ORDER
	// is refused by tableOptions too.
	if err := p.tableOptions(changed); err != nil {
		return err
	}
	if !p.done() {
		return p.errorf("unexpected text")
	}
	for k, v := range changed.Options {
		t.Options[k] = v
	}
	return nil
}

func (c *Catalog) createKeyspace(p *parser) error {
	p.acceptSeq("IF", "NOT", "EXISTS")
	name, err := p.ident()
	if err != nil {
		return err
	}
	if c.Keyspaces[name] != nil {
		return fmt.Errorf("%w: keyspace %s defined twice", ErrSyntax, name)
	}
	ks := &Keyspace{Name: name, DurableWrites: true}
	if err := p.expect("WITH"); err != nil {
		return err
	}
	for n := 0; n == 0 || p.accept("AND"); n++ {
		opt, err := p.ident()
		if err != nil {
			return err
		}
		if err := p.expect("="); err != nil {
			return err
		}
		switch opt {
		case "replication":
			if ks.Replication, err = p.stringMap(); err != nil {
				return err
			}
		case "durable_writes":
			v, err := p.literal()
			if err != nil || (v != "true" && v != "false") {
				return p.errorf("want true or false")
			}
			ks.DurableWrites = v == "true"
		case "tablets":
			if ks.Tablets, err = p.stringMap(); err != nil {
				return err
			}
			for k, v := range ks.Tablets {
				if k != "enabled" || (v != "true" && v != "false") {
					return p.errorf("tablets option %s = %s: want 'enabled': true or false", k, v)
				}
			}
		default:
			return p.errorf("unknown keyspace option %s", opt)
		}
	}
	if !p.done() {
		return p.errorf("unexpected text")
	}
	if ks.Replication["class"] == "" {
		return fmt.Errorf("%w: keyspace %s has no replication class", ErrSyntax, name)
	}
	c.Keyspaces[name] = ks
	return nil
}

// stringMap parses a map literal into option → value text (quotes removed).
func (p *parser) stringMap() (map[string]string, error) {
	keys, values, err := p.mapEntries()
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(keys))
	for i, k := range keys {
		if _, dup := m[k]; dup {
			return nil, p.errorf("map key %s given twice", k)
		}
		m[k] = strings.Trim(values[i], "'")
	}
	return m, nil
}

func (c *Catalog) createTable(p *parser) error {
	p.acceptSeq("IF", "NOT", "EXISTS")
	ksName, name, err := p.qualified()
	if err != nil {
		return err
	}
	if ksName == "" {
		return p.errorf("table %s must be qualified with its keyspace", name)
	}
	if c.Keyspaces[ksName] == nil {
		return fmt.Errorf("%w: table %s.%s in undefined keyspace", ErrSyntax, ksName, name)
	}
	key := ksName + "." + name
	if c.Tables[key] != nil {
		return fmt.Errorf("%w: table %s defined twice", ErrSyntax, key)
	}
	t := &Table{Keyspace: ksName, Name: name, Columns: map[string]string{}, Options: map[string]string{}}
	if err := p.tableBody(t); err != nil {
		return err
	}
	if p.accept("WITH") {
		if err := p.tableOptions(t); err != nil {
			return err
		}
	}
	if !p.done() {
		return p.errorf("unexpected text")
	}
	if len(t.PartitionKey) == 0 {
		return fmt.Errorf("%w: table %s has no primary key", ErrSyntax, key)
	}
	c.Tables[key] = t
	return nil
}

// tableBody parses ( column type [PRIMARY KEY], ..., PRIMARY KEY (...) ).
func (p *parser) tableBody(t *Table) error {
	if err := p.expect("("); err != nil {
		return err
	}
	for n := 0; !p.accept(")"); n++ {
		if n > 0 {
			if err := p.expect(","); err != nil {
				return err
			}
		}
		if p.acceptSeq("PRIMARY", "KEY") {
			if len(t.PartitionKey) > 0 {
				return p.errorf("second primary key")
			}
			if err := p.primaryKey(t); err != nil {
				return err
			}
			continue
		}
		if err := p.column(t); err != nil {
			return err
		}
	}
	for _, k := range append(append([]string{}, t.PartitionKey...), clusteringNames(t)...) {
		if _, ok := t.Columns[k]; !ok {
			return fmt.Errorf("%w: key column %s of %s is not defined", ErrSyntax, k, t.Name)
		}
	}
	return nil
}

func (p *parser) column(t *Table) error {
	col, err := p.ident()
	if err != nil {
		return err
	}
	typ, err := p.ident()
	if err != nil {
		return err
	}
	if !nativeTypes[typ] {
		return p.errorf("unsupported type %s of column %s", typ, col)
	}
	if _, dup := t.Columns[col]; dup {
		return p.errorf("column %s defined twice", col)
	}
	t.Columns[col] = typ
	t.ColumnOrder = append(t.ColumnOrder, col)
	if p.acceptSeq("PRIMARY", "KEY") {
		if len(t.PartitionKey) > 0 {
			return p.errorf("second primary key")
		}
		t.PartitionKey = []string{col}
	}
	return nil
}

// primaryKey parses ( (p1, p2), c1, c2 ) or ( p1, c1, ... ).
func (p *parser) primaryKey(t *Table) error {
	if err := p.expect("("); err != nil {
		return err
	}
	if p.accept("(") {
		names, err := p.identList()
		if err != nil {
			return err
		}
		t.PartitionKey = names
	} else {
		first, err := p.ident()
		if err != nil {
			return err
		}
		t.PartitionKey = []string{first}
	}
	for p.accept(",") {
		col, err := p.ident()
		if err != nil {
			return err
		}
		t.Clustering = append(t.Clustering, ClusteringColumn{Name: col})
	}
	return p.expect(")")
}

// identList parses name, name, ... ) (the opening parenthesis consumed).
func (p *parser) identList() ([]string, error) {
	var names []string
	for n := 0; !p.accept(")"); n++ {
		if n > 0 {
			if err := p.expect(","); err != nil {
				return nil, err
			}
		}
		name, err := p.ident()
		if err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		return nil, p.errorf("empty column list")
	}
	return names, nil
}

func (p *parser) tableOptions(t *Table) error {
	for n := 0; n == 0 || p.accept("AND"); n++ {
		if p.acceptSeq("CLUSTERING", "ORDER", "BY") {
			if err := p.clusteringOrder(t); err != nil {
				return err
			}
			continue
		}
		opt, err := p.ident()
		if err != nil {
			return err
		}
		if !tableOptions[opt] {
			return p.errorf("unknown table option %s", opt)
		}
		if _, dup := t.Options[opt]; dup {
			return p.errorf("option %s given twice", opt)
		}
		if err := p.expect("="); err != nil {
			return err
		}
		if t.Options[opt], err = p.literal(); err != nil {
			return err
		}
	}
	return nil
}

// clusteringOrder parses (c1 ASC|DESC, ...): every clustering column, in key
// order, exactly once.
func (p *parser) clusteringOrder(t *Table) error {
	if err := p.expect("("); err != nil {
		return err
	}
	for i := 0; !p.accept(")"); i++ {
		if i > 0 {
			if err := p.expect(","); err != nil {
				return err
			}
		}
		col, err := p.ident()
		if err != nil {
			return err
		}
		if i >= len(t.Clustering) || t.Clustering[i].Name != col {
			return p.errorf("clustering order names %s out of key order", col)
		}
		switch {
		case p.accept("DESC"):
			t.Clustering[i].Descending = true
		case p.accept("ASC"):
		default:
			return p.errorf("want ASC or DESC")
		}
	}
	return nil
}

func clusteringNames(t *Table) []string {
	names := make([]string, len(t.Clustering))
	for i, c := range t.Clustering {
		names[i] = c.Name
	}
	return names
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
