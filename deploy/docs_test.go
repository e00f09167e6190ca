package deploy

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// loadYAML parses path into a generic document (anchors resolved).
func loadYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(readFile(t, path), &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc
}

// refs collects every $ref value in doc.
func refs(doc any, found *[]string) {
	switch v := doc.(type) {
	case map[string]any:
		for k, child := range v {
			if s, ok := child.(string); ok && k == "$ref" {
				*found = append(*found, s)
				continue
			}
			refs(child, found)
		}
	case []any:
		for _, child := range v {
			refs(child, found)
		}
	}
}

func TestOpenAPI(t *testing.T) {
	doc := loadYAML(t, filepath.Join(repoRoot(t), "docs", "openapi.yaml"))
	if v := doc["openapi"]; v != "3.0.3" {
		t.Fatalf("openapi = %v, want 3.0.3", v)
	}
	paths, _ := doc["paths"].(map[string]any)
	want := map[string]string{
		"/api/v1/user/internal_transfer":              "post",
		"/api/v1/user/internal_transfer/{request_id}": "get",
		"/api/v1/user/internal_transfer/history":      "get",
		"/api/v1/user/balances":                       "get",
		"/health":                                     "get",
		"/ready":                                      "get",
		"/admin/v1/deposit":                           "post",
		"/admin/v1/withdraw":                          "post",
		"/admin/v1/freeze":                            "post",
		"/admin/v1/unfreeze":                          "post",
		"/admin/v1/balances":                          "get",
		"/admin/v1/stuck":                             "get",
		"/admin/v1/reconcile/{request_id}":            "get",
		"/admin/v1/transfers/{request_id}":            "get",
		"/admin/v1/transfers/{request_id}/post":       "post",
		"/admin/v1/transfers/{request_id}/void":       "post",
		"/admin/v1/transfers/{request_id}/resend":     "post",
	}
	for path, method := range want {
		t.Run(method+" "+path, func(t *testing.T) {
			op, ok := dig(paths, path, method).(map[string]any)
			if !ok {
				t.Fatalf("operation missing")
			}
			responses, _ := op["responses"].(map[string]any)
			if _, ok := responses["200"]; !ok {
				t.Errorf("no 200 response; have %v", keys(responses))
			}
			for code := range responses {
				if !slices.Contains([]string{"200", "400", "401", "403", "404", "405", "408", "409", "413", "422", "423", "429", "500", "503"}, code) {
					t.Errorf("response %s is not a status the API uses", code)
				}
			}
			security := fmt.Sprint(op["security"])
			switch {
			case strings.HasPrefix(path, "/admin/"):
				if !strings.Contains(security, "adminBearer") {
					t.Errorf("admin operation security = %s, want adminBearer", security)
				}
				if _, ok := responses["401"]; !ok {
					t.Errorf("admin operation without a 401")
				}
			case path == "/health" || path == "/ready":
				if security != "[]" {
					t.Errorf("%s needs no credential, security = %s", path, security)
				}
			default:
				// The document-wide default applies: the user's JWT.
				if op["security"] != nil {
					t.Errorf("user operation overrides security with %s", security)
				}
				if _, ok := responses["401"]; !ok {
					t.Errorf("user operation without a 401")
				}
			}
		})
	}
	t.Run("POST transfer answers every status of the contract", func(t *testing.T) {
		responses, _ := dig(paths, "/api/v1/user/internal_transfer", "post", "responses").(map[string]any)
		for _, code := range []string{"400", "401", "403", "409", "413", "422", "429", "503"} {
			if _, ok := responses[code]; !ok {
				t.Errorf("status %s missing", code)
			}
		}
	})
	t.Run("every $ref resolves", func(t *testing.T) {
		var found []string
		refs(doc, &found)
		if len(found) == 0 {
			t.Fatal("no $ref at all")
		}
		for _, ref := range found {
			p, ok := strings.CutPrefix(ref, "#/")
			if !ok || dig(doc, strings.Split(p, "/")...) == nil {
				t.Errorf("$ref %s does not resolve", ref)
			}
		}
	})
	t.Run("schemas", func(t *testing.T) {
		schemas := dig(doc, "components", "schemas")
		checkEnum(t, dig(schemas, "Status", "enum"), "requesting", "pending", "success", "failed")
		checkEnum(t, dig(schemas, "ErrorCode", "enum"), "INVALID_AMOUNT", "INVALID_PRECISION",
			"AMOUNT_TOO_SMALL", "AMOUNT_TOO_LARGE", "INVALID_ASSET", "ASSET_MISMATCH", "SAME_ACCOUNT",
			"PERMISSION_DENIED", "INSUFFICIENT_BALANCE", "ACCOUNT_FROZEN", "IDEMPOTENCY_CONFLICT",
			"RATE_LIMITED", "NOT_FOUND", "UNAUTHORIZED", "OVERLOADED", "UNAVAILABLE")
		checkEnum(t, dig(schemas, "Transfer", "required"), "request_id", "status", "from_account",
			"to_account", "amount", "client_transfer_id", "error_code", "error_message", "created_at", "updated_at")
		checkEnum(t, dig(schemas, "Balance", "required"), "account_type", "asset", "available", "held", "incoming")
		checkEnum(t, dig(schemas, "History", "required"), "transfers", "next_cursor")
		checkEnum(t, dig(schemas, "ManualAction", "required"), "operator", "reason")
		checkEnum(t, dig(schemas, "ErrorEnvelope", "required"), "success", "data", "error")
		if typ := dig(schemas, "Transfer", "properties", "request_id", "type"); typ != "string" {
			t.Errorf("request_id type %v, want string (decimal)", typ)
		}
		for _, scheme := range []string{"userBearer", "adminBearer"} {
			s := dig(doc, "components", "securitySchemes", scheme)
			if dig(s, "type") != "http" || dig(s, "scheme") != "bearer" {
				t.Errorf("security scheme %s = %v, want http bearer", scheme, s)
			}
		}
	})
}

// checkEnum fails unless list holds every one of want.
func checkEnum(t *testing.T, list any, want ...string) {
	t.Helper()
	items, _ := list.([]any)
	var have []string
	for _, it := range items {
		have = append(have, fmt.Sprint(it))
	}
	for _, w := range want {
		if !slices.Contains(have, w) {
			t.Errorf("%q missing from %v", w, have)
		}
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestDockerCompose(t *testing.T) {
	path := filepath.Join(repoRoot(t), "docker-compose.prod.yml")
	if header := string(readFile(t, path)); !strings.Contains(header[:min(len(header), 800)], "NOT RUNNABLE ON OUR BUILD MACHINES") {
		t.Errorf("docker-compose.prod.yml must say up front that it is not runnable here")
	}
	services, _ := loadYAML(t, path)["services"].(map[string]any)
	for _, name := range []string{"scylla1", "scylla2", "scylla3", "tb1", "tb2", "tb3",
		"redpanda1", "redpanda2", "redpanda3", "gateway1", "settlement1"} {
		svc, ok := services[name].(map[string]any)
		if !ok {
			t.Errorf("service %s missing", name)
			continue
		}
		if svc["image"] == nil {
			t.Errorf("service %s has no image", name)
		}
	}
	for i := 0; i < 3; i++ {
		format := fmt.Sprint(dig(services, fmt.Sprintf("tb%d-format", i+1), "command"))
		want := fmt.Sprintf("format --cluster=1001 --replica=%d --replica-count=3", i)
		if !strings.Contains(format, want) {
			t.Errorf("tb%d-format command %s lacks %q", i+1, format, want)
		}
		start := fmt.Sprint(dig(services, fmt.Sprintf("tb%d", i+1), "command"))
		if !strings.Contains(start, "start") || !strings.Contains(start, fmt.Sprintf("1001_%d.tigerbeetle", i)) {
			t.Errorf("tb%d command %s does not start its own data file", i+1, start)
		}
	}
	for _, name := range []string{"gateway1", "gateway2", "settlement1"} {
		cmd := fmt.Sprint(dig(services, name, "command"))
		if !strings.Contains(cmd, "-config /opt/services/internal-transfer/config/internal_transfer_prod.yaml") {
			t.Errorf("%s command %s does not load the production config", name, cmd)
		}
	}
	if b := dig(services, "gateway1", "build", "dockerfile"); b != "deploy/docker/Dockerfile" {
		t.Errorf("gateway1 builds from %v, want deploy/docker/Dockerfile", b)
	}
}
