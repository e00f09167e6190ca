package ingress

import (
	"fmt"
	"math"
	"unicode/utf16"
	"unicode/utf8"
)

// A strict, schema-driven JSON reader for the few small bodies the API takes.
// encoding/json cannot refuse duplicate keys and costs several µs and a
// dozen allocations per body through reflection; this reader refuses
// duplicates, unknown fields, wrong types and trailing data, and returns
// string values as slices of the body (no copy) unless they hold escapes.
// Callers copy what they keep: the body belongs to fasthttp.

// fieldError is a body the API refuses: 400 with code, naming the field.
type fieldError struct {
	code  string // error code, e.g. INVALID_REQUEST
	field string // JSON path, "" for the body as a whole
	msg   string
}

func (e *fieldError) Error() string {
	if e.field == "" {
		return e.msg
	}
	return e.field + ": " + e.msg
}

func badField(field, format string, args ...any) *fieldError {
	return &fieldError{code: codeInvalidRequest, field: field, msg: fmt.Sprintf(format, args...)}
}

type jsonReader struct {
	b []byte
	i int
}

func (r *jsonReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, 0 at the end (and for a NUL byte:
// use atEnd to tell them apart).
func (r *jsonReader) peek() byte {
	r.ws()
	if r.i >= len(r.b) {
		return 0
	}
	return r.b[r.i]
}

// atEnd reports whether only white space is left.
func (r *jsonReader) atEnd() bool {
	r.ws()
	return r.i >= len(r.b)
}

// kind names the JSON type of the next value, for error messages.
func (r *jsonReader) kind() string {
	if r.atEnd() {
		return "the end of the body (the JSON is cut short)"
	}
	switch c := r.peek(); {
	case c == '"':
		return "a string"
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	}
	return "not JSON"
}

// object reads an object whose keys field handles, one call per key with
// the reader positioned on the value. Duplicate keys are refused.
func (r *jsonReader) object(path string, field func(key []byte) error) error {
	if r.peek() != '{' {
		return badField(path, "must be an object, got %s", r.kind())
	}
	r.i++
	var seen [8][]byte
	n := 0
	if r.peek() == '}' {
		r.i++
		return nil
	}
	for {
		if r.peek() != '"' {
			return badField(path, "expected a field name")
		}
		key, err := r.str(path)
		if err != nil {
			return err
		}
		for _, k := range seen[:n] {
			if string(k) == string(key) {
				return badField(join(path, key), "duplicate field")
			}
		}
		if n == len(seen) {
			return badField(path, "too many fields")
		}
		seen[n] = key
		n++
		if r.peek() != ':' {
			return badField(path, "expected ':' after field name")
		}
		r.i++
		if err := field(key); err != nil {
			return err
		}
		switch r.peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			return nil
		default:
			return badField(path, "expected ',' or '}'")
		}
	}
}

func join(path string, key []byte) string {
	if path == "" {
		return string(key)
	}
	return path + "." + string(key)
}

// end refuses anything but white space after the value (a NUL byte
// included, which peek reads as the end).
func (r *jsonReader) end() error {
	if !r.atEnd() {
		return badField("", "unexpected data after the JSON object")
	}
	return nil
}

// null consumes a null and reports whether there was one.
func (r *jsonReader) null() bool {
	if r.peek() == 'n' && len(r.b)-r.i >= 4 && string(r.b[r.i:r.i+4]) == "null" {
		r.i += 4
		return true
	}
	return false
}

// boolValue reads true or false at path.
func (r *jsonReader) boolValue(path string) (bool, error) {
	for _, lit := range []string{"true", "false"} {
		if len(r.b)-r.i >= len(lit) && string(r.b[r.i:r.i+len(lit)]) == lit {
			r.i += len(lit)
			return lit == "true", nil
		}
	}
	return false, badField(path, "must be true or false, got %s", r.kind())
}

// stringValue reads a string value at path.
func (r *jsonReader) stringValue(path string) ([]byte, error) {
	if r.peek() != '"' {
		return nil, badField(path, "must be a string, got %s", r.kind())
	}
	return r.str(path)
}

// str reads a string (r.b[r.i] is '"'): a slice of the body when it has no
// escapes, else a decoded copy. Control characters and invalid UTF-8 are
// refused.
func (r *jsonReader) str(path string) ([]byte, error) {
	r.i++
	start := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			s := r.b[start:r.i]
			r.i++
			if !utf8.Valid(s) {
				return nil, badField(path, "string is not valid UTF-8")
			}
			return s, nil
		case c == '\\':
			return r.strEscaped(path, start)
		case c < 0x20:
			return nil, badField(path, "control character in string")
		}
		r.i++
	}
	return nil, badField(path, "unterminated string")
}

func (r *jsonReader) strEscaped(path string, start int) ([]byte, error) {
	out := append([]byte(nil), r.b[start:r.i]...)
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			if !utf8.Valid(out) {
				return nil, badField(path, "string is not valid UTF-8")
			}
			return out, nil
		case c < 0x20:
			return nil, badField(path, "control character in string")
		case c != '\\':
			out = append(out, c)
			r.i++
			continue
		}
		if r.i+1 >= len(r.b) {
			break
		}
		e := r.b[r.i+1]
		r.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			rn, ok := r.hex4()
			if !ok {
				return nil, badField(path, "bad \\u escape")
			}
			if utf16.IsSurrogate(rn) {
				lo, ok := rune(0), false
				if r.i+1 < len(r.b) && r.b[r.i] == '\\' && r.b[r.i+1] == 'u' {
					r.i += 2
					lo, ok = r.hex4()
				}
				if rn = utf16.DecodeRune(rn, lo); !ok || rn == utf8.RuneError {
					return nil, badField(path, "bad surrogate pair in \\u escape")
				}
			}
			out = utf8.AppendRune(out, rn)
		default:
			return nil, badField(path, "bad escape \\%c", e)
		}
	}
	return nil, badField(path, "unterminated string")
}

func (r *jsonReader) hex4() (rune, bool) {
	if len(r.b)-r.i < 4 {
		return 0, false
	}
	var v rune
	for _, c := range r.b[r.i : r.i+4] {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	r.i += 4
	return v, true
}

// userID reads a user id: a JSON integer or a string of decimal digits,
// positive, at most 2^63-1 (the API's int64, as in tokens' subjects),
// without sign, fraction, exponent or leading zero.
func (r *jsonReader) userID(path string) (uint64, error) {
	var digits []byte
	switch c := r.peek(); {
	case c == '"':
		s, err := r.str(path)
		if err != nil {
			return 0, err
		}
		digits = s
	case c >= '0' && c <= '9':
		start := r.i
		for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
			r.i++
		}
		digits = r.b[start:r.i]
		if r.i < len(r.b) && (r.b[r.i] == '.' || r.b[r.i] == 'e' || r.b[r.i] == 'E') {
			return 0, badField(path, "must be a positive integer user id")
		}
	default:
		return 0, badField(path, "must be a positive integer user id, got %s", r.kind())
	}
	var v uint64
	for _, c := range digits {
		if c < '0' || c > '9' || v > (math.MaxUint64-uint64(c-'0'))/10 {
			return 0, badField(path, "must be a positive integer user id")
		}
		v = v*10 + uint64(c-'0')
	}
	if v == 0 || digits[0] == '0' || v > math.MaxInt64 {
		return 0, badField(path, "must be a positive integer user id (at most 9223372036854775807)")
	}
	return v, nil
}
