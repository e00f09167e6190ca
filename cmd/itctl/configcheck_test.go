package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestReadEnvFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "internal-transfer")
	body := "# node settings\n\n; also a comment\nIT_SERVER_NODE_ID=3\n  IT_A = spaced  \nIT_B=\"quoted \\\"x\\\" \\\\ end\"\nIT_C='single $x'\nIT_D=\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readEnvFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"IT_SERVER_NODE_ID=3", "IT_A=spaced", `IT_B=quoted "x" \ end`, "IT_C=single $x", "IT_D="}
	if !slices.Equal(got, want) {
		t.Fatalf("read %q\nwant %q", got, want)
	}
	if got, err := readEnvFile("-" + filepath.Join(dir, "missing")); err != nil || got != nil {
		t.Fatalf("optional missing file: %q %v, want nothing", got, err)
	}
	if _, err := readEnvFile(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing file without - was read")
	}
	for name, line := range map[string]string{
		"no equals":        "IT_SERVER_NODE_ID 3\n",
		"bad name":         "IT-X=1\n",
		"unclosed quote":   "IT_X=\"abc\n",
		"text after quote": "IT_X=\"abc\" def\n",
		"continued line":   "IT_X=abc \\\n",
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		if err := os.WriteFile(p, []byte("# first\n"+line), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := readEnvFile(p); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%s: %v, want an error naming line 2", name, err)
		}
	}
}

// itctl config says whether a service would start: with the node's
// environment files, not the shell's IT_* variables.
func TestConfigCommandReadsEnvironmentFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(good, []byte("IT_SERVER_NODE_ID=3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("IT_SERVER_RENAMED_KEY=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dev := "../../config/dev.yaml"
	if err := cmdConfig([]string{"--config", dev, "--env-file", good, "--env-file", "-" + filepath.Join(dir, "none")}); err != nil {
		t.Fatalf("good environment: %v", err)
	}
	err := cmdConfig([]string{"--config", dev, "--env-file", good, "--env-file", bad})
	if err == nil || !strings.Contains(err.Error(), "IT_SERVER_RENAMED_KEY") {
		t.Fatalf("an override naming no key: %v, want an error naming it", err)
	}
	// The shell's overrides are not the service's: ignored with env files.
	t.Setenv("IT_SERVER_NODE_ID", "-1")
	if err := cmdConfig([]string{"--config", dev, "--env-file", good}); err != nil {
		t.Fatalf("with a bad IT_* in the shell but not in the files: %v", err)
	}
	if err := cmdConfig([]string{"--config", dev}); err == nil || !strings.Contains(err.Error(), "server.node_id") {
		t.Fatalf("without env files the shell's IT_* apply: %v, want server.node_id refused", err)
	}
}
