package schema

import (
	"errors"
	"fmt"
)

// ErrMismatch is wrapped by every error of Check about a statement that
// parses but does not fit the schema: unknown table or column, a WHERE that
// does not name the full partition key, a filter on a non-key column,
// ALLOW FILTERING.
var ErrMismatch = errors.New("schema: statement does not fit the schema")

// relation is one WHERE restriction: a column or a tuple of columns.
type relation struct {
	cols []string
	op   string
}

// Check verifies that stmt, one SELECT, INSERT, UPDATE or DELETE as the store issues
// it, refers only to tables and columns c defines and reads or writes only
// through full partition keys. Unqualified table names resolve in keyspace.
// It errors (wrapping ErrSyntax) on statements outside the subset it knows.
func (c *Catalog) Check(keyspace, stmt string) error {
	p, err := newParser(stmt)
	if err != nil {
		return err
	}
	switch {
	case p.accept("SELECT"):
		err = c.checkSelect(p, keyspace)
	case p.acceptSeq("INSERT", "INTO"):
		err = c.checkInsert(p, keyspace)
	case p.acceptSeq("DELETE", "FROM"):
		err = c.checkDelete(p, keyspace)
	case p.accept("UPDATE"):
		err = c.checkUpdate(p, keyspace)
	default:
		err = p.errorf("want SELECT, INSERT, UPDATE or DELETE")
	}
	if err == nil && !p.done() {
		err = p.errorf("unexpected text")
	}
	if err != nil {
		return fmt.Errorf("cannot accept %q: %w", stmt, err)
	}
	return nil
}

func (c *Catalog) table(p *parser, keyspace string) (*Table, error) {
	ks, name, err := p.qualified()
	if err != nil {
		return nil, err
	}
	if ks == "" {
		ks = keyspace
	}
	t := c.Tables[ks+"."+name]
	if t == nil {
		return nil, fmt.Errorf("%w: unknown table %s.%s", ErrMismatch, ks, name)
	}
	return t, nil
}

func (c *Catalog) checkSelect(p *parser, keyspace string) error {
	var cols []string
	if !p.accept("*") {
		for n := 0; n == 0 || p.accept(","); n++ {
			col, err := p.ident()
			if err != nil {
				return err
			}
			cols = append(cols, col)
		}
	}
	if err := p.expect("FROM"); err != nil {
		return err
	}
	t, err := c.table(p, keyspace)
	if err != nil {
		return err
	}
	if err := knownColumns(t, cols); err != nil {
		return err
	}
	if !p.accept("WHERE") {
		return fmt.Errorf("%w: SELECT from %s without WHERE scans the table", ErrMismatch, t.Name)
	}
	rels, err := p.relations()
	if err != nil {
		return err
	}
	if err := checkWhere(t, rels, false); err != nil {
		return err
	}
	if p.acceptSeq("ORDER", "BY") {
		col, err := p.ident()
		if err != nil {
			return err
		}
		if t.clusteringIndex(col) < 0 {
			return fmt.Errorf("%w: ORDER BY %s, not a clustering column of %s", ErrMismatch, col, t.Name)
		}
		if !p.accept("ASC") {
			p.accept("DESC")
		}
	}
	if p.accept("LIMIT") {
		if err := p.term(); err != nil {
			return err
		}
	}
	if p.acceptSeq("ALLOW", "FILTERING") {
		return fmt.Errorf("%w: ALLOW FILTERING on %s", ErrMismatch, t.Name)
	}
	return nil
}

func (c *Catalog) checkInsert(p *parser, keyspace string) error {
	t, err := c.table(p, keyspace)
	if err != nil {
		return err
	}
	if err := p.expect("("); err != nil {
		return err
	}
	cols, err := p.identList()
	if err != nil {
		return err
	}
	if err := knownColumns(t, cols); err != nil {
		return err
	}
	if err := p.expect("VALUES", "("); err != nil {
		return err
	}
	for n := 0; !p.accept(")"); n++ {
		if n > 0 {
			if err := p.expect(","); err != nil {
				return err
			}
		}
		if err := p.term(); err != nil {
			return err
		}
		if n >= len(cols) {
			return p.errorf("more values than columns")
		}
	}
	given := map[string]bool{}
	for _, col := range cols {
		if given[col] {
			return p.errorf("column %s given twice", col)
		}
		given[col] = true
	}
	for _, k := range append(append([]string{}, t.PartitionKey...), clusteringNames(t)...) {
		if !given[k] {
			return fmt.Errorf("%w: INSERT into %s without primary key column %s", ErrMismatch, t.Name, k)
		}
	}
	p.acceptSeq("IF", "NOT", "EXISTS")
	return p.using()
}

func (c *Catalog) checkDelete(p *parser, keyspace string) error {
	t, err := c.table(p, keyspace)
	if err != nil {
		return err
	}
	if err := p.using(); err != nil {
		return err
	}
	return p.singleRow(t)
}

// checkUpdate checks UPDATE t [USING ...] SET col = term, ... WHERE
// <the full primary key> [IF EXISTS | IF col op term AND ...]: a single-row
// write of non-key columns, conditions on known non-key columns.
func (c *Catalog) checkUpdate(p *parser, keyspace string) error {
	t, err := c.table(p, keyspace)
	if err != nil {
		return err
	}
	if err := p.using(); err != nil {
		return err
	}
	if err := p.expect("SET"); err != nil {
		return err
	}
	for n := 0; n == 0 || p.accept(","); n++ {
		col, err := p.ident()
		if err != nil {
			return err
		}
		if err := nonKeyColumn(t, col, "SET"); err != nil {
			return err
		}
		if err := p.expect("="); err != nil {
			return err
		}
		if err := p.term(); err != nil {
			return err
		}
	}
	return p.singleRow(t)
}

// singleRow parses the WHERE of a single-row write of t (the full primary
// key, by equality) and its optional conditions.
func (p *parser) singleRow(t *Table) error {
	if err := p.expect("WHERE"); err != nil {
		return err
	}
	rels, err := p.relations()
	if err != nil {
		return err
	}
	if err := checkWhere(t, rels, true); err != nil {
		return err
	}
	return p.conditions(t)
}

// conditions parses an optional IF EXISTS or IF col op term AND ... on
// known non-key columns of t.
func (p *parser) conditions(t *Table) error {
	if !p.accept("IF") || p.accept("EXISTS") {
		return nil
	}
	conds, err := p.relations()
	if err != nil {
		return err
	}
	for _, r := range conds {
		if len(r.cols) != 1 {
			return p.errorf("tuple in an IF condition")
		}
		if err := nonKeyColumn(t, r.cols[0], "IF"); err != nil {
			return err
		}
	}
	return nil
}

// nonKeyColumn refuses a column t lacks, or one of its primary key, where
// clause (SET, IF) needs a regular column.
func nonKeyColumn(t *Table, col, clause string) error {
	if err := knownColumns(t, []string{col}); err != nil {
		return err
	}
	if t.IsPrimaryKey(col) {
		return fmt.Errorf("%w: %s on primary key column %s of %s", ErrMismatch, clause, col, t.Name)
	}
	return nil
}

// using parses an optional USING TTL x | TIMESTAMP x [AND ...].
func (p *parser) using() error {
	if !p.accept("USING") {
		return nil
	}
	for n := 0; n == 0 || p.accept("AND"); n++ {
		if !p.accept("TTL") && !p.accept("TIMESTAMP") {
			return p.errorf("want TTL or TIMESTAMP")
		}
		if err := p.term(); err != nil {
			return err
		}
	}
	return nil
}

// term parses a bind marker or a constant.
func (p *parser) term() error {
	if p.accept("?") {
		return nil
	}
	_, err := p.literal()
	return err
}

// relations parses rel (AND rel)*, rel being col op term or
// (col, ...) op (term, ...).
func (p *parser) relations() ([]relation, error) {
	var rels []relation
	for n := 0; n == 0 || p.accept("AND"); n++ {
		var r relation
		if p.accept("(") {
			cols, err := p.identList()
			if err != nil {
				return nil, err
			}
			r.cols = cols
		} else {
			col, err := p.ident()
			if err != nil {
				return nil, err
			}
			r.cols = []string{col}
		}
		op := p.next()
		switch op.Text {
		case "=", "<", "<=", ">", ">=":
			r.op = op.Text
		default:
			return nil, p.errorf("unsupported operator %q", op.Text)
		}
		if err := p.relationValue(len(r.cols)); err != nil {
			return nil, err
		}
		rels = append(rels, r)
	}
	return rels, nil
}

func (p *parser) relationValue(arity int) error {
	if arity == 1 {
		return p.term()
	}
	if err := p.expect("("); err != nil {
		return err
	}
	for i := 0; i < arity; i++ {
		if i > 0 {
			if err := p.expect(","); err != nil {
				return err
			}
		}
		if err := p.term(); err != nil {
			return err
		}
	}
	return p.expect(")")
}

func knownColumns(t *Table, cols []string) error {
	for _, col := range cols {
		if _, ok := t.Columns[col]; !ok {
			return fmt.Errorf("%w: unknown column %s in table %s", ErrMismatch, col, t.Name)
		}
	}
	return nil
}
