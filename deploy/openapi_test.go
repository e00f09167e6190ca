package deploy

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// tinySpec uses every construct the validator supports: $ref to
// components (schemas and responses), YAML anchors, type, properties,
// required, additionalProperties false and as a schema, enum, items,
// nullable, allOf, oneOf, anyOf, pattern, lengths, bounds, date-time.
const tinySpec = `
openapi: 3.0.3
info: {title: tiny, version: "1"}
paths:
  /things:
    get:
      responses:
        '200':
          description: list
          content:
            application/json:
              schema:
                type: object
                required: [items]
                properties:
                  items: {type: array, maxItems: 2, items: {$ref: '#/components/schemas/Thing'}}
  /things/{id}:
    get:
      responses: &thingResponses
        '200':
          description: one
          content:
            application/json:
              schema: {$ref: '#/components/schemas/ThingEnvelope'}
        '404': {$ref: '#/components/responses/NotFound'}
        '405': {$ref: '#/components/responses/NotFound'}
    delete:
      responses:
        '204': {description: gone}
  /things/special:
    get:
      responses: *thingResponses
  /shapes:
    get:
      responses:
        '200':
          description: a shape
          content:
            application/json:
              schema:
                oneOf:
                  - {type: object, required: [radius], additionalProperties: false, properties: {radius: {type: number, minimum: 0}}}
                  - {type: object, required: [side], additionalProperties: false, properties: {side: {type: integer, maximum: 10}}}
  /labels:
    get:
      responses:
        '200':
          description: label map
          content:
            application/json:
              schema:
                type: object
                additionalProperties: {type: string, minLength: 1}
  /anything:
    get:
      responses:
        '200':
          description: id or name
          content:
            application/json:
              schema: {anyOf: [{type: integer}, {type: string, pattern: '^[a-z]+$'}]}
  /either:
    get:
      responses:
        '200':
          description: integer or number
          content:
            application/json:
              schema: {oneOf: [{type: integer}, {type: number}]}
components:
  responses:
    NotFound:
      description: not found
      content:
        application/json:
          schema: {$ref: '#/components/schemas/ErrorEnvelope'}
  schemas:
    Thing:
      type: object
      additionalProperties: false
      required: [id, kind, created_at, note]
      properties:
        id: {type: string, pattern: '^[1-9][0-9]*$'}
        kind: {type: string, enum: [small, large]}
        count: {type: integer, minimum: 0}
        created_at: {type: string, format: date-time}
        note: {type: string, nullable: true, maxLength: 5}
        owner: {allOf: [{$ref: '#/components/schemas/Owner'}]}
    Owner:
      type: object
      required: [user_id]
      properties:
        user_id: {type: integer, minimum: 1}
    ThingEnvelope:
      allOf:
        - type: object
          required: [ok, data]
          properties:
            ok: {type: boolean, enum: [true]}
            data: {type: object, nullable: true}
        - properties: {data: {$ref: '#/components/schemas/Thing'}}
    ErrorEnvelope:
      type: object
      required: [ok, error]
      properties:
        ok: {type: boolean, enum: [false]}
        data: {type: object, nullable: true, enum: [null]}
        error: {type: string}
`

const goodThing = `{"id":"42","kind":"small","count":3,"created_at":"2026-01-02T15:04:05.123Z","note":null,"owner":{"user_id":7}}`

func TestOpenAPIValidateResponse(t *testing.T) {
	spec, err := LoadOpenAPI([]byte(tinySpec))
	if err != nil {
		t.Fatal(err)
	}
	valid := []struct {
		name, method, path string
		status             int
		body               string
	}{
		{"object with every field", "GET", "/things/42", 200, `{"ok":true,"data":` + goodThing + `}`},
		{"optional fields absent", "GET", "/things/42?x=1", 200, `{"ok":true,"data":{"id":"1","kind":"large","created_at":"2026-01-02T15:04:05Z","note":"hi"}}`},
		{"literal path via anchor", "GET", "/things/special", 200, `{"ok":true,"data":` + goodThing + `}`},
		{"error via response $ref", "GET", "/things/9", 404, `{"ok":false,"data":null,"error":"no"}`},
		{"array of refs", "GET", "/things", 200, `{"items":[` + goodThing + `]}`},
		{"no content, empty body", "DELETE", "/things/9", 204, ``},
		{"oneOf first", "GET", "/shapes", 200, `{"radius":1.5}`},
		{"oneOf second", "GET", "/shapes", 200, `{"side":3}`},
		{"additionalProperties schema", "GET", "/labels", 200, `{"a":"x","b":"y"}`},
		{"anyOf integer", "GET", "/anything", 200, `12`},
		{"anyOf string", "GET", "/anything", 200, `"abc"`},
	}
	for _, c := range valid {
		t.Run("valid/"+c.name, func(t *testing.T) {
			if err := spec.ValidateResponse(c.method, c.path, c.status, []byte(c.body)); err != nil {
				t.Fatalf("valid response refused: %v", err)
			}
		})
	}
	thing := func(replace, with string) string {
		if !strings.Contains(goodThing, replace) {
			panic("BUG: " + replace + " not in goodThing")
		}
		return `{"ok":true,"data":` + strings.Replace(goodThing, replace, with, 1) + `}`
	}
	invalid := []struct {
		name, path string
		status     int
		body, want string // want: a fragment of the problem
	}{
		{"missing required field", "/things/1", 200, thing(`"kind":"small",`, ``), `$.data: required property "kind" missing`},
		{"wrong type", "/things/1", 200, thing(`"id":"42"`, `"id":42`), `$.data.id: number 42, want string`},
		{"integer with fraction", "/things/1", 200, thing(`"count":3`, `"count":3.5`), `$.data.count: number 3.5, want integer`},
		{"unknown enum value", "/things/1", 200, thing(`"small"`, `"medium"`), `$.data.kind: string "medium" is not one of`},
		{"extra field, additionalProperties false", "/things/1", 200, thing(`"count":3`, `"count":3,"debit_user":1`), `not allowed (additionalProperties: false)`},
		{"null where not nullable", "/things/1", 200, thing(`"kind":"small"`, `"kind":null`), `$.data.kind: null, want string`},
		{"pattern", "/things/1", 200, thing(`"id":"42"`, `"id":"042"`), `does not match`},
		{"maxLength", "/things/1", 200, thing(`"note":null`, `"note":"toolong"`), `at most 5`},
		{"minimum", "/things/1", 200, thing(`"count":3`, `"count":-1`), `below minimum`},
		{"date-time", "/things/1", 200, thing(`2026-01-02T15:04:05.123Z`, `yesterday`), `not an RFC 3339 date-time`},
		{"inside allOf ref", "/things/1", 200, thing(`"user_id":7`, `"user_id":"7"`), `$.data.owner.user_id`},
		{"envelope enum", "/things/1", 200, `{"ok":false,"data":` + goodThing + `}`, `$.ok: boolean false is not one of`},
		{"enum null", "/things/1", 404, `{"ok":false,"data":{},"error":"no"}`, `$.data: object is not one of`},
		{"array item", "/things", 200, `{"items":[{"id":"1"}]}`, `$.items[0]: required property`},
		{"maxItems", "/things", 200, `{"items":[` + goodThing + `,` + goodThing + `,` + goodThing + `]}`, `want at most 2`},
		{"oneOf none", "/shapes", 200, `{"radius":-1}`, `matches none of oneOf`},
		{"oneOf two", "/either", 200, `3`, `matches 2 schemas of oneOf`},
		{"anyOf none", "/anything", 200, `"ABC"`, `matches none of anyOf`},
		{"additionalProperties schema", "/labels", 200, `{"a":""}`, `$.a: string of 0 characters`},
		{"not JSON", "/things/1", 200, `<html>`, `body is not JSON`},
		{"trailing data", "/things/1", 404, `{"ok":false,"error":"x"}{}`, `trailing data`},
		{"body where none documented", "/things/1", 204, `{}`, ``},
	}
	for _, c := range invalid {
		t.Run("invalid/"+c.name, func(t *testing.T) {
			method := "GET"
			if c.status == 204 {
				method = "DELETE"
			}
			err := spec.ValidateResponse(method, c.path, c.status, []byte(c.body))
			var re *ResponseError
			if !errors.As(err, &re) || !errors.Is(err, ErrResponseMismatch) {
				t.Fatalf("err = %v, want a *ResponseError", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("problems %q lack %q", re.Problems, c.want)
			}
		})
	}
	t.Run("405 of an undocumented method uses the path's 405", func(t *testing.T) {
		if err := spec.ValidateResponse("PUT", "/things/1", 405, []byte(`{"ok":false,"data":null,"error":"method"}`)); err != nil {
			t.Fatalf("valid 405 refused: %v", err)
		}
		if err := spec.ValidateResponse("PUT", "/things/1", 405, []byte(`{"ok":false}`)); !errors.Is(err, ErrResponseMismatch) {
			t.Fatalf("bad 405 body: err = %v, want ErrResponseMismatch", err)
		}
		if err := spec.ValidateResponse("PUT", "/things", 405, []byte(`{}`)); !errors.Is(err, ErrUndocumentedStatus) {
			t.Fatalf("405 where the path documents none: err = %v, want ErrUndocumentedStatus", err)
		}
		if err := spec.ValidateResponse("PUT", "/nothing", 405, []byte(`{}`)); !errors.Is(err, ErrUnknownOperation) {
			t.Fatalf("405 on an unknown path: err = %v, want ErrUnknownOperation", err)
		}
	})
	t.Run("undocumented status", func(t *testing.T) {
		err := spec.ValidateResponse("GET", "/things/1", 500, []byte(`{}`))
		if !errors.Is(err, ErrUndocumentedStatus) {
			t.Fatalf("err = %v, want ErrUndocumentedStatus", err)
		}
	})
	t.Run("unknown operation", func(t *testing.T) {
		for _, mp := range [][2]string{{"POST", "/things"}, {"GET", "/nothing"}, {"GET", "/things/1/2"}, {"GET", "/things/"}} {
			if err := spec.ValidateResponse(mp[0], mp[1], 200, []byte(`{}`)); !errors.Is(err, ErrUnknownOperation) {
				t.Errorf("%s %s: err = %v, want ErrUnknownOperation", mp[0], mp[1], err)
			}
		}
	})
	t.Run("literal segment wins over parameter", func(t *testing.T) {
		if op, err := spec.Operation("GET", "/things/special"); err != nil || op != "/things/special" {
			t.Fatalf("operation = %q, %v", op, err)
		}
		if op, err := spec.Operation("GET", "/things/7"); err != nil || op != "/things/{id}" {
			t.Fatalf("operation = %q, %v", op, err)
		}
	})
}

func TestLoadOpenAPIRefusesBadDocuments(t *testing.T) {
	for name, doc := range map[string]string{
		"not YAML":       "openapi: [",
		"swagger 2":      "swagger: '2.0'\npaths: {/x: {}}",
		"no paths":       "openapi: 3.0.3\n",
		"relative path":  "openapi: 3.0.3\npaths: {x: {}}",
		"path not a map": "openapi: 3.0.3\npaths: {/x: 1}",
		// Keywords the validator does not check are refused, not passed.
		"unsupported keyword in a response":       "openapi: 3.0.3\npaths:\n  /x:\n    get:\n      responses:\n        '200':\n          description: d\n          content: {application/json: {schema: {type: object, not: {required: [x]}}}}\n",
		"unsupported keyword deep in a component": "openapi: 3.0.3\npaths: {/x: {}}\ncomponents:\n  schemas:\n    A: {type: object, properties: {b: {type: array, items: {allOf: [{patternProperties: {}}]}}}}\n",
		"unsupported keyword in a parameter":      "openapi: 3.0.3\npaths: {/x: {}}\ncomponents:\n  parameters:\n    P: {name: p, in: query, schema: {type: string, const: a}}\n",
		"pattern Go cannot compile":               "openapi: 3.0.3\npaths: {/x: {}}\ncomponents:\n  schemas:\n    A: {type: string, pattern: '(?<=a)b'}\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := LoadOpenAPI([]byte(doc)); !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("err = %v, want ErrInvalidSpec", err)
			}
		})
	}
	t.Run("dangling ref", func(t *testing.T) {
		spec, err := LoadOpenAPI([]byte("openapi: 3.0.3\npaths:\n  /x:\n    get:\n      responses:\n        '200': {$ref: '#/components/responses/Nope'}\n"))
		if err != nil {
			t.Fatal(err)
		}
		if err := spec.ValidateResponse("GET", "/x", 200, nil); !errors.Is(err, ErrInvalidSpec) {
			t.Fatalf("err = %v, want ErrInvalidSpec", err)
		}
	})
}

// TestShippedOpenAPILoads proves docs/openapi.yaml is within the subset the
// validator understands: every response schema of every operation is
// walked with a body that reaches each keyword it uses.
func TestShippedOpenAPILoads(t *testing.T) {
	spec, err := LoadOpenAPIFile(filepath.Join(repoRoot(t), "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, pt := range spec.paths {
		for method, op := range pt.item {
			responses, _ := dig(op, "responses").(map[string]any)
			for code := range responses {
				resp, err := spec.resolve(responses[code])
				if err != nil {
					t.Fatalf("%s %s %s: %v", method, pt.raw, code, err)
				}
				if schema := dig(resp, "content", "application/json", "schema"); schema != nil {
					if err := (&validator{spec: spec}).validate("$", schema, map[string]any{}, 0); err != nil {
						t.Errorf("%s %s %s: %v", method, pt.raw, code, err)
					}
				}
			}
		}
	}
}

// BenchmarkValidateResponse validates a transfer answer against the shipped
// docs/openapi.yaml: what the system test pays per response.
func BenchmarkValidateResponse(b *testing.B) {
	spec, err := LoadOpenAPIFile(filepath.Join("..", "docs", "openapi.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"success":true,"data":{"request_id":"251581184507645952","status":"success",` +
		`"from_account":{"user_id":412550073,"account_type":"funding","asset":"USDT"},` +
		`"to_account":{"user_id":412550073,"account_type":"spot","asset":"USDT"},"amount":"10.00000000",` +
		`"client_transfer_id":"ops-412550073","error_code":null,"error_message":null,` +
		`"created_at":"2026-11-26T05:33:48.539036263Z","updated_at":"2026-11-26T05:33:48.544058001Z"},"error":null}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := spec.ValidateResponse("GET", "/api/v1/user/internal_transfer/251581184507645952", 200, body); err != nil {
			b.Fatal(err)
		}
	}
}
