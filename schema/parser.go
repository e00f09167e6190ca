package schema

import (
	"errors"
	"fmt"
	"strings"
)

// ErrSyntax is wrapped by every error about CQL the recogniser does not
// accept: malformed text, or a construct outside the subset it knows.
var ErrSyntax = errors.New("schema: unsupported or invalid CQL")

// parser walks the tokens of one statement.
type parser struct {
	toks []token
	i    int
}

func newParser(stmt string) (*parser, error) {
	toks, err := tokenize(stmt)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSyntax, err)
	}
	return &parser{toks: toks}, nil
}

// peek returns the next token without consuming it (a zero token at the end).
func (p *parser) peek() token {
	if p.i >= len(p.toks) {
		return token{}
	}
	return p.toks[p.i]
}

// peekAt returns the token n positions ahead.
func (p *parser) peekAt(n int) token {
	if p.i+n >= len(p.toks) {
		return token{}
	}
	return p.toks[p.i+n]
}

func (p *parser) next() token {
	t := p.peek()
	if p.i < len(p.toks) {
		p.i++
	}
	return t
}

func (p *parser) done() bool { return p.i >= len(p.toks) }

// accept consumes the next token if it is the keyword or symbol s.
func (p *parser) accept(s string) bool {
	if p.peek().is(s) {
		p.i++
		return true
	}
	return false
}

// acceptSeq consumes the keywords ss if they all come next.
func (p *parser) acceptSeq(ss ...string) bool {
	for n, s := range ss {
		if !p.peekAt(n).is(s) {
			return false
		}
	}
	p.i += len(ss)
	return true
}

func (p *parser) expect(ss ...string) error {
	for _, s := range ss {
		if !p.accept(s) {
			return p.errorf("want %q", s)
		}
	}
	return nil
}

// ident consumes an identifier (bare or quoted) and returns its name.
func (p *parser) ident() (string, error) {
	t := p.peek()
	if t.Kind != tokIdent && t.Kind != tokQuoted {
		return "", p.errorf("want an identifier")
	}
	p.i++
	return t.name(), nil
}

// qualified consumes [keyspace.]name; keyspace is "" when absent.
func (p *parser) qualified() (keyspace, name string, err error) {
	first, err := p.ident()
	if err != nil {
		return "", "", err
	}
	if !p.accept(".") {
		return "", first, nil
	}
	name, err = p.ident()
	return first, name, err
}

// literal consumes a constant: string, number, true/false, or a map literal
// {'k': v, ...}, returned as source-like text.
func (p *parser) literal() (string, error) {
	t := p.peek()
	switch {
	case t.Kind == tokString:
		p.i++
		return "'" + t.Text + "'", nil
	case t.Kind == tokNumber:
		p.i++
		return t.Text, nil
	case t.is("true") || t.is("false"):
		p.i++
		return t.name(), nil
	case t.is("{"):
		return p.mapLiteral()
	}
	return "", p.errorf("want a constant")
}

func (p *parser) mapLiteral() (string, error) {
	keys, values, err := p.mapEntries()
	if err != nil {
		return "", err
	}
	parts := make([]string, len(keys))
	for i := range keys {
		parts[i] = "'" + keys[i] + "': " + values[i]
	}
	return "{" + strings.Join(parts, ", ") + "}", nil
}

// mapEntries parses {'k': v, ...} into its keys and value texts, in order.
func (p *parser) mapEntries() (keys, values []string, err error) {
	if err := p.expect("{"); err != nil {
		return nil, nil, err
	}
	for n := 0; !p.accept("}"); n++ {
		if n > 0 {
			if err := p.expect(","); err != nil {
				return nil, nil, err
			}
		}
		k := p.next()
		if k.Kind != tokString {
			return nil, nil, p.errorf("want a string map key")
		}
		if err := p.expect(":"); err != nil {
			return nil, nil, err
		}
		v, err := p.literal()
		if err != nil {
			return nil, nil, err
		}
		keys, values = append(keys, k.Text), append(values, v)
	}
	return keys, values, nil
}

// errorf reports a syntax error at the current token.
func (p *parser) errorf(format string, args ...any) error {
	at := "end of statement"
	if t := p.peek(); t.Kind != 0 {
		at = fmt.Sprintf("%q (byte %d)", t.Text, t.Pos)
	}
	return fmt.Errorf("%w: %s at %s", ErrSyntax, fmt.Sprintf(format, args...), at)
}
