package schema

import (
	"errors"
	"fmt"
	"strings"
)

// tokenKind classifies a CQL token.
type tokenKind uint8

const (
	tokIdent  tokenKind = iota + 1 // bare identifier or keyword, compared case-insensitively
	tokQuoted                      // "quoted identifier", case-sensitive
	tokString                      // 'string literal'
	tokNumber                      // integer or decimal literal
	tokSymbol                      // punctuation: ( ) , ; . = < > <= >= != { } : ? [ ] *
)

// token is one lexeme of a statement. Text is the identifier, literal value
// (quotes removed, ” unescaped) or symbol; Pos and End are byte offsets of
// the token's source text, quotes included.
type token struct {
	Kind     tokenKind
	Text     string
	Pos, End int
}

// is reports whether t is the bare keyword or symbol s (keywords ignore case).
func (t token) is(s string) bool {
	switch t.Kind {
	case tokIdent:
		return strings.EqualFold(t.Text, s)
	case tokSymbol:
		return t.Text == s
	}
	return false
}

// name returns the identifier t names: bare identifiers fold to lower case,
// as CQL does; quoted ones keep their case.
func (t token) name() string {
	if t.Kind == tokIdent {
		return strings.ToLower(t.Text)
	}
	return t.Text
}

// errLex is wrapped by every tokenizer error.
var errLex = errors.New("cannot tokenize CQL")

// tokenize splits src into tokens, dropping whitespace and comments
// (-- and // to end of line, /* ... */).
func tokenize(src string) ([]token, error) {
	var toks []token
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case strings.HasPrefix(src[i:], "--") || strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("%w: unterminated comment at byte %d", errLex, i)
			}
			i += 2 + end + 2
		case c == '\'' || c == '"':
			t, err := lexQuoted(src, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i = t.End
		case isIdentStart(c):
			j := i
			for j < len(src) && isIdentPart(src[j]) {
				j++
			}
			toks = append(toks, token{Kind: tokIdent, Text: src[i:j], Pos: i, End: j})
			i = j
		case isDigit(c) || (c == '-' && i+1 < len(src) && isDigit(src[i+1])):
			j := i + 1
			for j < len(src) && (isDigit(src[j]) || src[j] == '.') {
				j++
			}
			toks = append(toks, token{Kind: tokNumber, Text: src[i:j], Pos: i, End: j})
			i = j
		case (c == '<' || c == '>' || c == '!') && i+1 < len(src) && src[i+1] == '=':
			toks = append(toks, token{Kind: tokSymbol, Text: src[i : i+2], Pos: i, End: i + 2})
			i += 2
		case strings.IndexByte("(),;.=<>{}:?[]*", c) >= 0:
			toks = append(toks, token{Kind: tokSymbol, Text: string(c), Pos: i, End: i + 1})
			i++
		default:
			return nil, fmt.Errorf("%w: unexpected %q at byte %d", errLex, c, i)
		}
	}
	return toks, nil
}

// lexQuoted reads a 'string' or "identifier" starting at src[i]; a doubled
// quote inside stands for one quote.
func lexQuoted(src string, i int) (token, error) {
	q := src[i]
	var b strings.Builder
	for j := i + 1; j < len(src); j++ {
		if src[j] != q {
			b.WriteByte(src[j])
			continue
		}
		if j+1 < len(src) && src[j+1] == q {
			b.WriteByte(q)
			j++
			continue
		}
		kind := tokString
		if q == '"' {
			kind = tokQuoted
		}
		return token{Kind: kind, Text: b.String(), Pos: i, End: j + 1}, nil
	}
	return token{}, fmt.Errorf("%w: unterminated quote at byte %d", errLex, i)
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentPart(c byte) bool { return isIdentStart(c) || isDigit(c) }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Split cuts a CQL script into statements at top-level semicolons, ignoring
// semicolons inside comments and quoted strings. Each statement is returned
// as its source text without the semicolon, comments in it kept; empty
// statements (only whitespace and comments) are dropped.
func Split(script string) ([]string, error) {
	toks, err := tokenize(script)
	if err != nil {
		return nil, err
	}
	var stmts []string
	start := -1
	for _, t := range toks {
		if t.is(";") {
			if start >= 0 {
				stmts = append(stmts, strings.TrimSpace(script[start:t.Pos]))
			}
			start = -1
			continue
		}
		if start < 0 {
			start = t.Pos
		}
	}
	if start >= 0 {
		stmts = append(stmts, strings.TrimSpace(script[start:]))
	}
	return stmts, nil
}
