package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Errors of the OpenAPI validator. Callers branch on them with errors.Is; a
// body that does not match its schema is a *ResponseError.
var (
	ErrInvalidSpec        = errors.New("invalid OpenAPI document")
	ErrUnknownOperation   = errors.New("no operation documented for this method and path")
	ErrUndocumentedStatus = errors.New("status not documented for this operation")
	ErrResponseMismatch   = errors.New("response does not match its documented schema")
)

// specBytesMax bounds the OpenAPI document LoadOpenAPI accepts.
const specBytesMax = 4 << 20

// OpenAPI is a parsed OpenAPI 3.0 document that validates real responses:
// ValidateResponse finds the operation by method and path template, checks
// the status is documented and the body matches the response's
// application/json schema. It understands the subset of OpenAPI 3.0 our
// docs/openapi.yaml uses (see validateSchema) and refuses a schema using
// any other keyword rather than passing it unchecked.
type OpenAPI struct {
	doc   map[string]any
	paths []pathTemplate // most literal first
}

// pathTemplate is one entry of the document's paths, split at '/'.
type pathTemplate struct {
	raw      string
	segments []string // "{name}" for a parameter
	literals int      // segments that are not parameters
	item     map[string]any
}

// LoadOpenAPIFile reads and parses the OpenAPI document at path.
func LoadOpenAPIFile(path string) (*OpenAPI, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read OpenAPI document: %w", err)
	}
	return LoadOpenAPI(data)
}

// LoadOpenAPI parses an OpenAPI 3.0 document (YAML or JSON; YAML anchors and
// aliases are resolved).
func LoadOpenAPI(data []byte) (*OpenAPI, error) {
	if len(data) > specBytesMax {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidSpec, len(data), specBytesMax)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: cannot parse YAML: %v", ErrInvalidSpec, err)
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.0.") {
		return nil, fmt.Errorf("%w: openapi version %v, want 3.0.x", ErrInvalidSpec, doc["openapi"])
	}
	paths, ok := doc["paths"].(map[string]any)
	if !ok || len(paths) == 0 {
		return nil, fmt.Errorf("%w: no paths", ErrInvalidSpec)
	}
	o := &OpenAPI{doc: doc}
	for raw, v := range paths {
		item, ok := v.(map[string]any)
		if !ok || !strings.HasPrefix(raw, "/") {
			return nil, fmt.Errorf("%w: path %q", ErrInvalidSpec, raw)
		}
		pt := pathTemplate{raw: raw, segments: strings.Split(raw[1:], "/"), item: item}
		for _, s := range pt.segments {
			if !isParam(s) {
				pt.literals++
			}
		}
		o.paths = append(o.paths, pt)
	}
	// /history must win over /{request_id}: most literal segments first.
	sort.Slice(o.paths, func(i, j int) bool {
		if o.paths[i].literals != o.paths[j].literals {
			return o.paths[i].literals > o.paths[j].literals
		}
		return o.paths[i].raw < o.paths[j].raw
	})
	if err := o.checkSchemas(); err != nil {
		return nil, err
	}
	return o, nil
}

func isParam(segment string) bool {
	return len(segment) > 2 && segment[0] == '{' && segment[len(segment)-1] == '}'
}

// Operation returns the path template documenting method on the concrete
// path (a query string is ignored), e.g. "/api/v1/user/internal_transfer/{request_id}"
// for GET /api/v1/user/internal_transfer/42.
func (o *OpenAPI) Operation(method, path string) (string, error) {
	pt, _, err := o.operation(method, path)
	if err != nil {
		return "", err
	}
	return pt.raw, nil
}

func (o *OpenAPI) operation(method, path string) (pathTemplate, map[string]any, error) {
	path, _, _ = strings.Cut(path, "?")
	segments := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for _, pt := range o.paths {
		if !pt.matches(segments) {
			continue
		}
		op, ok := pt.item[strings.ToLower(method)].(map[string]any)
		if !ok {
			continue
		}
		return pt, op, nil
	}
	return pathTemplate{}, nil, fmt.Errorf("%w: %s %s", ErrUnknownOperation, method, path)
}

// otherMethod returns an operation of the path template path matches: the
// first (by method name) documenting a 405, else the first.
func (o *OpenAPI) otherMethod(path string) (pathTemplate, map[string]any, error) {
	path, _, _ = strings.Cut(path, "?")
	segments := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for _, pt := range o.paths {
		if !pt.matches(segments) {
			continue
		}
		var first map[string]any
		for _, method := range []string{"delete", "get", "head", "options", "patch", "post", "put", "trace"} {
			op, ok := pt.item[method].(map[string]any)
			if !ok {
				continue
			}
			if dig(op, "responses", "405") != nil {
				return pt, op, nil
			}
			if first == nil {
				first = op
			}
		}
		if first != nil {
			return pt, first, nil
		}
	}
	return pathTemplate{}, nil, fmt.Errorf("%w: no operation at all on %s", ErrUnknownOperation, path)
}

func (pt pathTemplate) matches(segments []string) bool {
	if len(segments) != len(pt.segments) {
		return false
	}
	for i, s := range pt.segments {
		if isParam(s) {
			if segments[i] == "" {
				return false
			}
			continue
		}
		if s != segments[i] {
			return false
		}
	}
	return true
}

// ResponseError says how a response differs from its documented schema:
// one line per problem, each naming the JSON location ("$.data.amount").
type ResponseError struct {
	Method, Path string // the request
	Operation    string // the documented path template
	Status       int
	Problems     []string
}

// Error lists the problems.
func (e *ResponseError) Error() string {
	return fmt.Sprintf("%s %s (%s) answered %d: %s", e.Method, e.Path, e.Operation, e.Status, strings.Join(e.Problems, "; "))
}

// Unwrap makes errors.Is(err, ErrResponseMismatch) hold.
func (e *ResponseError) Unwrap() error { return ErrResponseMismatch }

// ValidateResponse checks one real response: the operation for method and
// path exists, status is among its documented responses (or it has a
// default; a 405 is checked against the path's documented 405), and body matches the response's application/json schema (a
// response documented without content must have an empty body). It returns
// nil, an error wrapping ErrUnknownOperation or ErrUndocumentedStatus, a
// *ResponseError, or an error wrapping ErrInvalidSpec when the document
// itself cannot be followed.
func (o *OpenAPI) ValidateResponse(method, path string, status int, body []byte) error {
	pt, op, err := o.operation(method, path)
	if err != nil && status == http.StatusMethodNotAllowed {
		// A 405 answers a method the path does not document: it is checked
		// against the 405 the path's operations document.
		pt, op, err = o.otherMethod(path)
	}
	if err != nil {
		return err
	}
	responses, _ := op["responses"].(map[string]any)
	resp, ok := responses[strconv.Itoa(status)]
	if !ok {
		if resp, ok = responses["default"]; !ok {
			return fmt.Errorf("%w: %s %s (%s) answered %d; documented: %s",
				ErrUndocumentedStatus, method, path, pt.raw, status, strings.Join(sortedKeys(responses), ", "))
		}
	}
	respObj, err := o.resolve(resp)
	if err != nil {
		return err
	}
	v := &validator{spec: o}
	schema := dig(respObj, "content", "application/json", "schema")
	switch {
	case schema == nil && len(bytes.TrimSpace(body)) > 0 && dig(respObj, "content") == nil:
		v.fail("$", "body %q where the document describes none", truncate(body, 80))
	case schema == nil:
	default:
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var value any
		if err := dec.Decode(&value); err != nil {
			v.fail("$", "body is not JSON: %v (%q)", err, truncate(body, 80))
		} else if dec.More() {
			v.fail("$", "trailing data after the JSON body")
		} else if err := v.validate("$", schema, value, 0); err != nil {
			return err
		}
	}
	if len(v.problems) > 0 {
		return &ResponseError{Method: method, Path: path, Operation: pt.raw, Status: status, Problems: v.problems}
	}
	return nil
}

// resolve follows a chain of local $refs ("#/components/…").
func (o *OpenAPI) resolve(node any) (map[string]any, error) {
	for depth := 0; ; depth++ {
		m, ok := node.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: %T where an object was expected", ErrInvalidSpec, node)
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m, nil
		}
		if depth >= refDepthMax {
			return nil, fmt.Errorf("%w: $ref chain longer than %d at %s", ErrInvalidSpec, refDepthMax, ref)
		}
		p, ok := strings.CutPrefix(ref, "#/")
		if !ok {
			return nil, fmt.Errorf("%w: only local $refs are supported, got %s", ErrInvalidSpec, ref)
		}
		node = dig(o.doc, strings.Split(p, "/")...)
		if node == nil {
			return nil, fmt.Errorf("%w: $ref %s does not resolve", ErrInvalidSpec, ref)
		}
	}
}

// dig walks doc by keys; nil when a key is missing.
func dig(doc any, keys ...string) any {
	for _, k := range keys {
		m, ok := doc.(map[string]any)
		if !ok {
			return nil
		}
		doc = m[k]
	}
	return doc
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
