package schema

import "fmt"

// checkWhere verifies that rels restrict t through its primary key the way
// CQL serves without filtering: every partition key column by equality;
// clustering columns as equalities on a prefix followed by one slice (single
// column or tuple of consecutive columns) starting at the same column for
// both bounds. With fullKey, every primary key column must be restricted by
// equality (a single-row DELETE).
func checkWhere(t *Table, rels []relation, fullKey bool) error {
	eq := map[string]bool{}
	sliceStart := -1
	for _, r := range rels {
		if err := knownColumns(t, r.cols); err != nil {
			return err
		}
		if len(r.cols) == 1 && t.isPartitionKey(r.cols[0]) {
			if r.op != "=" {
				return fmt.Errorf("%w: partition key column %s of %s restricted by %s", ErrMismatch, r.cols[0], t.Name, r.op)
			}
			eq[r.cols[0]] = true
			continue
		}
		start, err := clusteringRun(t, r.cols)
		if err != nil {
			return err
		}
		switch {
		case r.op == "=" && len(r.cols) == 1:
			eq[r.cols[0]] = true
		case r.op == "=":
			return fmt.Errorf("%w: tuple equality on %s", ErrSyntax, t.Name)
		case sliceStart >= 0 && sliceStart != start:
			return fmt.Errorf("%w: two slices on different clustering columns of %s", ErrMismatch, t.Name)
		default:
			sliceStart = start
		}
	}
	for _, k := range t.PartitionKey {
		if !eq[k] {
			return fmt.Errorf("%w: WHERE on %s does not restrict partition key column %s", ErrMismatch, t.Name, k)
		}
	}
	for i, c := range t.Clustering {
		switch {
		case fullKey && !eq[c.Name]:
			return fmt.Errorf("%w: WHERE on %s does not name primary key column %s", ErrMismatch, t.Name, c.Name)
		case sliceStart >= 0 && i > sliceStart && eq[c.Name]:
			return fmt.Errorf("%w: equality on %s after a slice on %s", ErrMismatch, c.Name, t.Name)
		case sliceStart >= 0 && i < sliceStart && !eq[c.Name]:
			return fmt.Errorf("%w: slice on %s skips clustering column %s", ErrMismatch, t.Name, c.Name)
		}
	}
	if fullKey && sliceStart >= 0 {
		return fmt.Errorf("%w: range restriction in a single-row statement on %s", ErrMismatch, t.Name)
	}
	return checkEqPrefix(t, eq)
}

// clusteringRun returns the index of cols[0] among t's clustering columns,
// requiring cols to be consecutive clustering columns in key order.
func clusteringRun(t *Table, cols []string) (int, error) {
	start := t.clusteringIndex(cols[0])
	if start < 0 {
		return 0, fmt.Errorf("%w: WHERE on %s restricts non-key column %s (would need ALLOW FILTERING)", ErrMismatch, t.Name, cols[0])
	}
	for i, col := range cols {
		if t.clusteringIndex(col) != start+i {
			return 0, fmt.Errorf("%w: tuple on %s is not consecutive clustering columns", ErrMismatch, t.Name)
		}
	}
	return start, nil
}

// checkEqPrefix refuses equality on a clustering column whose predecessors
// are not all restricted by equality too.
func checkEqPrefix(t *Table, eq map[string]bool) error {
	gap := ""
	for _, c := range t.Clustering {
		switch {
		case !eq[c.Name] && gap == "":
			gap = c.Name
		case eq[c.Name] && gap != "":
			return fmt.Errorf("%w: equality on %s of %s skips clustering column %s", ErrMismatch, c.Name, t.Name, gap)
		}
	}
	return nil
}
