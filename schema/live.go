package schema

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// ErrLiveMismatch is wrapped by CheckLive's errors: a cluster's keyspace
// lacks a table or column of the shipped schema, or keys a table otherwise.
var ErrLiveMismatch = errors.New("keyspace does not match the schema")

// LiveColumn is one row of a cluster's system_schema.columns.
type LiveColumn struct {
	Table           string
	Name            string
	Kind            string // partition_key, clustering (or clustering_key), regular or static
	Position        int    // within the partition key or the clustering columns
	Type            string // CQL type name
	ClusteringOrder string // ASC or DESC for clustering columns (any case)
}

// Shipped parses the embedded scripts (Files) into a catalog.
func Shipped() (*Catalog, error) {
	c := NewCatalog()
	for _, name := range Files {
		script, err := Script(name)
		if err != nil {
			return nil, err
		}
		if err := c.Apply(script); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return c, nil
}

// CheckLive compares live, the columns of a keyspace as a cluster lists
// them, with the tables c defines in DefaultKeyspace. Every table and column
// must exist with the same type, and every table must have the same
// partition key and clustering columns, in the same order. Columns the
// schema does not define are allowed (a newer release may have added
// them). A mismatch means statements would fail or, worse, address rows
// differently; the error names each one and wraps ErrLiveMismatch.
func (c *Catalog) CheckLive(live []LiveColumn) error {
	byTable := map[string]map[string]LiveColumn{}
	for _, col := range live {
		if byTable[col.Table] == nil {
			byTable[col.Table] = map[string]LiveColumn{}
		}
		byTable[col.Table][col.Name] = col
	}
	var names []string
	for _, t := range c.Tables {
		if t.Keyspace == DefaultKeyspace {
			names = append(names, t.Name)
		}
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		t := c.Tables[DefaultKeyspace+"."+name]
		cols, ok := byTable[name]
		if !ok {
			errs = append(errs, fmt.Errorf("table %s is missing", name))
			continue
		}
		errs = append(errs, checkLiveTable(t, cols)...)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrLiveMismatch, err)
	}
	return nil
}

func checkLiveTable(t *Table, cols map[string]LiveColumn) []error {
	var errs []error
	for _, name := range t.ColumnOrder {
		col, ok := cols[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("table %s: column %s is missing", t.Name, name))
		case liveType(col.Type) != liveType(t.Columns[name]):
			errs = append(errs, fmt.Errorf("table %s: column %s is %s, the schema has %s", t.Name, name, col.Type, t.Columns[name]))
		case strings.EqualFold(col.Kind, "static"): // the schema has no static column
			errs = append(errs, fmt.Errorf("table %s: column %s is static, the schema's is not", t.Name, name))
		}
	}
	var (
		wantOrder      []string
		gotPartition   = liveKey(cols, "partition_key")
		gotClustering  = liveKey(cols, "clustering", "clustering_key")
		wantClustering = clusteringNames(t)
	)
	if !slices.Equal(gotPartition, t.PartitionKey) {
		errs = append(errs, fmt.Errorf("table %s: partition key (%s), the schema has (%s)", t.Name,
			strings.Join(gotPartition, ", "), strings.Join(t.PartitionKey, ", ")))
	}
	if !slices.Equal(gotClustering, wantClustering) {
		errs = append(errs, fmt.Errorf("table %s: clustering columns (%s), the schema has (%s)", t.Name,
			strings.Join(gotClustering, ", "), strings.Join(wantClustering, ", ")))
		return errs
	}
	var gotOrder []string
	for _, c := range t.Clustering {
		want := "asc"
		if c.Descending {
			want = "desc"
		}
		wantOrder = append(wantOrder, want)
		gotOrder = append(gotOrder, strings.ToLower(cols[c.Name].ClusteringOrder))
	}
	if !slices.Equal(gotOrder, wantOrder) {
		errs = append(errs, fmt.Errorf("table %s: clustering order (%s), the schema has (%s)", t.Name,
			strings.Join(gotOrder, ", "), strings.Join(wantOrder, ", ")))
	}
	return errs
}

// liveKey returns the columns of one of kinds (partition_key, or
// clustering under either name) in key order.
func liveKey(cols map[string]LiveColumn, kinds ...string) []string {
	var key []LiveColumn
	for _, col := range cols {
		if slices.ContainsFunc(kinds, func(k string) bool { return strings.EqualFold(col.Kind, k) }) {
			key = append(key, col)
		}
	}
	sort.Slice(key, func(i, j int) bool { return key[i].Position < key[j].Position })
	out := make([]string, len(key))
	for i, col := range key {
		out[i] = col.Name
	}
	return out
}

// liveType normalises a type name: varchar is another name of text.
func liveType(t string) string {
	t = strings.ToLower(strings.TrimSpace(t))
	if t == "varchar" {
		return "text"
	}
	return t
}
