package deploy

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

const (
	refDepthMax    = 32  // $ref hops to reach one schema
	schemaDepthMax = 64  // nested schemas while validating one body
	problemsMax    = 100 // problems collected for one body
)

// schemaKeywords are the keywords validateSchema understands: those it
// checks and those that only document. Any other keyword in a schema it
// reaches (not, discriminator, patternProperties, …) is an error, so that a
// schema is never passed without being checked.
var schemaKeywords = map[string]bool{
	"$ref": true, "type": true, "nullable": true, "properties": true, "required": true,
	"additionalProperties": true, "enum": true, "items": true, "allOf": true, "oneOf": true,
	"anyOf": true, "format": true, "pattern": true, "minLength": true, "maxLength": true,
	"minimum": true, "maximum": true, "minItems": true, "maxItems": true,
	// documentation only
	"description": true, "example": true, "examples": true, "default": true, "title": true,
	"readOnly": true, "writeOnly": true, "deprecated": true,
}

// checkSchemas walks every schema the document holds — component schemas
// and the schemas of every response, request body and parameter — and
// refuses a keyword validate does not understand or a pattern Go's regexp
// cannot compile, so that a document is refused when loaded rather than
// passed unchecked later.
func (o *OpenAPI) checkSchemas() error {
	var walk func(at string, node any, depth int) error
	walk = func(at string, node any, depth int) error {
		if depth > schemaDepthMax {
			return fmt.Errorf("%w: schema nesting deeper than %d at %s", ErrInvalidSpec, schemaDepthMax, at)
		}
		m, ok := node.(map[string]any)
		if !ok {
			return fmt.Errorf("%w: schema at %s is a %T, not an object", ErrInvalidSpec, at, node)
		}
		for _, k := range sortedKeys(m) {
			if !schemaKeywords[k] && !strings.HasPrefix(k, "x-") {
				return fmt.Errorf("%w: unsupported schema keyword %q at %s", ErrInvalidSpec, k, at)
			}
		}
		if p, ok := m["pattern"].(string); ok {
			if _, err := regexp.Compile(p); err != nil {
				return fmt.Errorf("%w: pattern %q at %s: %v", ErrInvalidSpec, p, at, err)
			}
		}
		props, _ := m["properties"].(map[string]any)
		for _, name := range sortedKeys(props) {
			if err := walk(at+".properties."+name, props[name], depth+1); err != nil {
				return err
			}
		}
		for _, kw := range []string{"items", "additionalProperties"} {
			if sub, ok := m[kw].(map[string]any); ok {
				if err := walk(at+"."+kw, sub, depth+1); err != nil {
					return err
				}
			}
		}
		for _, kw := range []string{"allOf", "oneOf", "anyOf"} {
			list, _ := m[kw].([]any)
			for i, sub := range list {
				if err := walk(fmt.Sprintf("%s.%s[%d]", at, kw, i), sub, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	schemas, _ := dig(o.doc, "components", "schemas").(map[string]any)
	for _, name := range sortedKeys(schemas) {
		if err := walk("#/components/schemas/"+name, schemas[name], 0); err != nil {
			return err
		}
	}
	var inline func(at string, node any) error
	inline = func(at string, node any) error {
		switch v := node.(type) {
		case map[string]any:
			for _, k := range sortedKeys(v) {
				if k == "schema" {
					if err := walk(at+".schema", v[k], 0); err != nil {
						return err
					}
					continue
				}
				if k == "example" || k == "examples" {
					continue
				}
				if err := inline(at+"."+k, v[k]); err != nil {
					return err
				}
			}
		case []any:
			for i, item := range v {
				if err := inline(fmt.Sprintf("%s[%d]", at, i), item); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, key := range []string{"paths", "components"} {
		node := o.doc[key]
		if key == "components" {
			// components.schemas were walked above; the rest holds inline schemas.
			rest := map[string]any{}
			components, _ := node.(map[string]any)
			for k, v := range components {
				if k != "schemas" {
					rest[k] = v
				}
			}
			node = rest
		}
		if err := inline("#/"+key, node); err != nil {
			return err
		}
	}
	return nil
}

// validator collects the problems of one body.
type validator struct {
	spec     *OpenAPI
	problems []string
}

func (v *validator) fail(at, format string, args ...any) {
	if len(v.problems) < problemsMax {
		v.problems = append(v.problems, at+": "+fmt.Sprintf(format, args...))
	}
}

// validate checks value (decoded with json.Number) against schema and
// records each problem; it returns an error only when the document cannot
// be followed (bad $ref, unsupported keyword).
func (v *validator) validate(at string, schemaNode, value any, depth int) error {
	if depth > schemaDepthMax {
		return fmt.Errorf("%w: schema nesting deeper than %d at %s", ErrInvalidSpec, schemaDepthMax, at)
	}
	schema, err := v.spec.resolve(schemaNode)
	if err != nil {
		return err
	}
	for _, k := range sortedKeys(schema) {
		if !schemaKeywords[k] && !strings.HasPrefix(k, "x-") {
			return fmt.Errorf("%w: unsupported schema keyword %q at %s", ErrInvalidSpec, k, at)
		}
	}
	if err := v.combinators(at, schema, value, depth); err != nil {
		return err
	}
	if value == nil {
		// OpenAPI 3.0: null only where nullable says so (a schema without a
		// type constrains nothing by itself; its allOf/oneOf decide).
		if nullable, _ := schema["nullable"].(bool); !nullable && schema["type"] != nil {
			v.fail(at, "null, want %v", schema["type"])
			return nil
		}
		v.checkEnum(at, schema, value)
		return nil
	}
	if typ, ok := schema["type"].(string); ok && !v.checkType(at, typ, value) {
		return nil
	}
	v.checkEnum(at, schema, value)
	switch val := value.(type) {
	case string:
		return v.checkString(at, schema, val)
	case json.Number:
		v.checkNumber(at, schema, val)
	case []any:
		return v.checkArray(at, schema, val, depth)
	case map[string]any:
		return v.checkObject(at, schema, val, depth)
	}
	return nil
}

// combinators applies allOf (every one), oneOf (exactly one) and anyOf
// (at least one).
func (v *validator) combinators(at string, schema map[string]any, value any, depth int) error {
	if list, ok := schema["allOf"].([]any); ok {
		for _, sub := range list {
			if err := v.validate(at, sub, value, depth+1); err != nil {
				return err
			}
		}
	}
	for _, kw := range []string{"oneOf", "anyOf"} {
		list, ok := schema[kw].([]any)
		if !ok {
			continue
		}
		matched := 0
		var firstProblems []string
		for _, sub := range list {
			probe := &validator{spec: v.spec}
			if err := probe.validate(at, sub, value, depth+1); err != nil {
				return err
			}
			if len(probe.problems) == 0 {
				matched++
			} else if firstProblems == nil {
				firstProblems = probe.problems
			}
		}
		switch {
		case matched == 0:
			v.fail(at, "matches none of %s (first: %s)", kw, strings.Join(firstProblems, "; "))
		case kw == "oneOf" && matched > 1:
			v.fail(at, "matches %d schemas of oneOf, want exactly 1", matched)
		}
	}
	return nil
}

func (v *validator) checkType(at, typ string, value any) bool {
	ok := false
	switch typ {
	case "object":
		_, ok = value.(map[string]any)
	case "array":
		_, ok = value.([]any)
	case "string":
		_, ok = value.(string)
	case "boolean":
		_, ok = value.(bool)
	case "number":
		_, ok = value.(json.Number)
	case "integer":
		// JSON writes an integer without fraction or exponent.
		n, isNum := value.(json.Number)
		ok = isNum && !strings.ContainsAny(string(n), ".eE")
	default:
		v.fail(at, "schema type %q is not an OpenAPI 3.0 type", typ)
		return false
	}
	if !ok {
		v.fail(at, "%s, want %s", jsonKind(value), typ)
	}
	return ok
}

func jsonKind(value any) string {
	switch val := value.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return fmt.Sprintf("string %q", truncate([]byte(val), 40))
	case bool:
		return fmt.Sprintf("boolean %v", val)
	case json.Number:
		return "number " + string(val)
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", value)
}

func (v *validator) checkEnum(at string, schema map[string]any, value any) {
	enum, ok := schema["enum"].([]any)
	if !ok {
		return
	}
	for _, e := range enum {
		if sameScalar(e, value) {
			return
		}
	}
	v.fail(at, "%s is not one of %v", jsonKind(value), enum)
}

// sameScalar compares a YAML enum member with a JSON value.
func sameScalar(yamlValue, jsonValue any) bool {
	switch j := jsonValue.(type) {
	case nil:
		return yamlValue == nil
	case string, bool:
		return yamlValue == jsonValue
	case json.Number:
		f, err := j.Float64()
		if err != nil {
			return false
		}
		switch y := yamlValue.(type) {
		case int:
			return float64(y) == f
		case float64:
			return y == f
		}
	}
	return false
}

var (
	patternsMu sync.Mutex
	patterns   = map[string]*regexp.Regexp{}
)

func (v *validator) checkString(at string, schema map[string]any, s string) error {
	n := len([]rune(s))
	if min, ok := intKeyword(schema, "minLength"); ok && n < min {
		v.fail(at, "string of %d characters, want at least %d", n, min)
	}
	if max, ok := intKeyword(schema, "maxLength"); ok && n > max {
		v.fail(at, "string of %d characters, want at most %d", n, max)
	}
	if p, ok := schema["pattern"].(string); ok {
		patternsMu.Lock()
		re, cached := patterns[p]
		if !cached {
			var err error
			if re, err = regexp.Compile(p); err != nil {
				patternsMu.Unlock()
				return fmt.Errorf("%w: pattern %q at %s: %v", ErrInvalidSpec, p, at, err)
			}
			patterns[p] = re
		}
		patternsMu.Unlock()
		if !re.MatchString(s) {
			v.fail(at, "%q does not match %s", truncate([]byte(s), 40), p)
		}
	}
	if f, _ := schema["format"].(string); f == "date-time" {
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			v.fail(at, "%q is not an RFC 3339 date-time", truncate([]byte(s), 40))
		}
	}
	return nil
}

func (v *validator) checkNumber(at string, schema map[string]any, n json.Number) {
	f, err := n.Float64()
	if err != nil {
		v.fail(at, "number %s out of range", n)
		return
	}
	if min, ok := floatKeyword(schema, "minimum"); ok && f < min {
		v.fail(at, "%s below minimum %v", n, min)
	}
	if max, ok := floatKeyword(schema, "maximum"); ok && f > max {
		v.fail(at, "%s above maximum %v", n, max)
	}
}

func (v *validator) checkArray(at string, schema map[string]any, items []any, depth int) error {
	if min, ok := intKeyword(schema, "minItems"); ok && len(items) < min {
		v.fail(at, "%d items, want at least %d", len(items), min)
	}
	if max, ok := intKeyword(schema, "maxItems"); ok && len(items) > max {
		v.fail(at, "%d items, want at most %d", len(items), max)
	}
	itemSchema, ok := schema["items"]
	if !ok {
		return nil
	}
	for i, item := range items {
		if err := v.validate(fmt.Sprintf("%s[%d]", at, i), itemSchema, item, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (v *validator) checkObject(at string, schema map[string]any, obj map[string]any, depth int) error {
	props, _ := schema["properties"].(map[string]any)
	if required, ok := schema["required"].([]any); ok {
		for _, r := range required {
			name, _ := r.(string)
			if _, present := obj[name]; !present {
				v.fail(at, "required property %q missing", name)
			}
		}
	}
	names := sortedKeys(obj)
	for _, name := range names {
		if sub, ok := props[name]; ok {
			if err := v.validate(at+"."+name, sub, obj[name], depth+1); err != nil {
				return err
			}
		}
	}
	switch extra := schema["additionalProperties"].(type) {
	case nil, bool:
		if extra == false {
			var unknown []string
			for _, name := range names {
				if _, ok := props[name]; !ok {
					unknown = append(unknown, name)
				}
			}
			sort.Strings(unknown)
			if len(unknown) > 0 {
				v.fail(at, "properties %v not allowed (additionalProperties: false)", unknown)
			}
		}
	default:
		for _, name := range names {
			if _, ok := props[name]; !ok {
				if err := v.validate(at+"."+name, extra, obj[name], depth+1); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func intKeyword(schema map[string]any, key string) (int, bool) {
	n, ok := schema[key].(int)
	return n, ok
}

func floatKeyword(schema map[string]any, key string) (float64, bool) {
	switch n := schema[key].(type) {
	case int:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}
