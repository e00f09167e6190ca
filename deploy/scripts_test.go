package deploy

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var releaseBinaries = []string{"gateway_service", "settlement_service", "itctl"}

// fakeRelease lays out a source tree like the repository after `make build`
// in a temp dir: the real config/, schema/ and deploy/ files, VERSION, and
// small scripts in place of the binaries (which other packages build).
func fakeRelease(t *testing.T, version string) string {
	t.Helper()
	root := t.TempDir()
	repo := repoRoot(t)
	for _, dir := range []string{"config", "schema", "deploy"} {
		if err := os.CopyFS(filepath.Join(root, dir), os.DirFS(filepath.Join(repo, dir))); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "VERSION"), []byte(version+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range releaseBinaries {
		script := "#!/bin/sh\necho " + b + " " + version + "\n"
		if err := os.WriteFile(filepath.Join(root, "bin", b), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// tarEntries lists the regular files and directories of a .tar.gz.
func tarEntries(t *testing.T, path string) map[string]os.FileMode {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string]os.FileMode{}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return entries
		}
		if err != nil {
			t.Fatal(err)
		}
		entries[strings.TrimSuffix(h.Name, "/")] = h.FileInfo().Mode()
	}
}

func TestPackageScript(t *testing.T) {
	bash := needTool(t, "bash", "bash")
	needTool(t, "tar", "tar")
	root := fakeRelease(t, "0.1.0")
	out := t.TempDir()
	if msg, err := runTool(t, root, bash, filepath.Join(root, "deploy", "package.sh"), out); err != nil {
		t.Fatalf("package.sh: %v\n%s", err, msg)
	}
	tarball := filepath.Join(out, "internal-transfer-v0.1.0.tar.gz")
	entries := tarEntries(t, tarball)
	top := "internal-transfer-v0.1.0/"
	for _, b := range releaseBinaries {
		mode, ok := entries[top+"bin/"+b]
		if !ok || mode&0o111 == 0 {
			t.Errorf("bin/%s missing or not executable in the tarball (mode %v)", b, mode)
		}
	}
	for _, want := range []string{
		"VERSION", "config/internal_transfer_prod.yaml",
		"deploy/install.sh", "deploy/systemd/internal-transfer-gateway.service",
		"deploy/prometheus/alerts/internal_transfer.yml", "deploy/grafana/internal_transfer.json",
	} {
		if _, ok := entries[top+want]; !ok {
			t.Errorf("%s missing from the tarball", want)
		}
	}
	for name := range entries {
		if !strings.HasPrefix(name+"/", top) {
			t.Errorf("entry %s outside %s", name, top)
		}
		if strings.HasSuffix(name, ".go") {
			t.Errorf("Go source %s shipped in the tarball", name)
		}
	}
	if _, err := os.Stat(tarball + ".sha256"); err != nil {
		t.Errorf("no checksum file: %v", err)
	}

	t.Run("modes do not come from the checkout", func(t *testing.T) {
		// A checkout made under umask 077: nothing readable but by its owner.
		private := fakeRelease(t, "0.1.0")
		err := filepath.WalkDir(private, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			return os.Chmod(path, info.Mode().Perm()&0o700)
		})
		if err != nil {
			t.Fatal(err)
		}
		out := t.TempDir()
		if msg, err := runTool(t, private, bash, "-c", `umask 077 && exec bash deploy/package.sh "$0"`, out); err != nil {
			t.Fatalf("package.sh: %v\n%s", err, msg)
		}
		for name, mode := range tarEntries(t, filepath.Join(out, "internal-transfer-v0.1.0.tar.gz")) {
			want := os.FileMode(0o644)
			if mode.IsDir() || strings.HasPrefix(name, top+"bin/") || strings.HasSuffix(name, ".sh") {
				want = 0o755
			}
			if mode.Perm() != want {
				t.Errorf("%s has mode %v, want %v: the service user must read it", name, mode.Perm(), want)
			}
		}
	})

	t.Run("refuses a tree without binaries", func(t *testing.T) {
		if err := os.Remove(filepath.Join(root, "bin", "itctl")); err != nil {
			t.Fatal(err)
		}
		msg, err := runTool(t, root, bash, filepath.Join(root, "deploy", "package.sh"), t.TempDir())
		if exitCode(err) == 0 || !strings.Contains(msg, "make build") {
			t.Fatalf("package.sh without bin/itctl: exit %d, want a failure naming make build\n%s", exitCode(err), msg)
		}
	})
}

// TestInstallAndRollback installs two releases with install.sh, rolls back
// to the first and forward again, as docs/runbook.md describes.
func TestInstallAndRollback(t *testing.T) {
	bash := needTool(t, "bash", "bash")
	needTool(t, "tar", "tar")
	needTool(t, "sha256sum", "coreutils")
	dist := t.TempDir()
	for _, v := range []string{"0.1.0", "0.2.0"} {
		root := fakeRelease(t, v)
		if msg, err := runTool(t, root, bash, filepath.Join(root, "deploy", "package.sh"), dist); err != nil {
			t.Fatalf("package.sh %s: %v\n%s", v, err, msg)
		}
	}
	opt := t.TempDir()
	prefix := filepath.Join(opt, "internal-transfer")
	backups := filepath.Join(opt, "backups")
	install := func(t *testing.T, args ...string) string {
		t.Helper()
		all := append([]string{"install.sh", "--no-systemd", "--prefix", prefix, "--backup-dir", backups}, args...)
		msg, err := runTool(t, ".", bash, all...)
		if err != nil {
			t.Fatalf("install.sh %v: %v\n%s", args, err, msg)
		}
		return msg
	}
	installed := func(t *testing.T) string {
		t.Helper()
		out, err := exec.Command(filepath.Join(prefix, "bin", "gateway_service")).Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	backupVersions := func(t *testing.T) []string {
		t.Helper()
		files, _ := filepath.Glob(filepath.Join(backups, "internal-transfer-v*.tar.gz"))
		var vs []string
		for _, f := range files {
			v := strings.TrimPrefix(filepath.Base(f), "internal-transfer-v")
			vs = append(vs, v[:strings.Index(v, "-")])
		}
		slices.Sort(vs)
		return slices.Compact(vs)
	}

	install(t, filepath.Join(dist, "internal-transfer-v0.1.0.tar.gz"))
	if got := installed(t); got != "gateway_service 0.1.0" {
		t.Fatalf("after installing 0.1.0: %q", got)
	}
	if got := backupVersions(t); len(got) != 0 {
		t.Fatalf("first install made backups %v", got)
	}
	install(t, filepath.Join(dist, "internal-transfer-v0.2.0.tar.gz"))
	if got := installed(t); got != "gateway_service 0.2.0" {
		t.Fatalf("after upgrading to 0.2.0: %q", got)
	}
	if got := backupVersions(t); !slices.Equal(got, []string{"0.1.0"}) {
		t.Fatalf("backups after upgrade: %v, want [0.1.0]", got)
	}
	install(t, "--rollback")
	if got := installed(t); got != "gateway_service 0.1.0" {
		t.Fatalf("after --rollback: %q, want 0.1.0", got)
	}
	install(t, "--rollback", "0.2.0")
	if got := installed(t); got != "gateway_service 0.2.0" {
		t.Fatalf("after --rollback 0.2.0: %q", got)
	}
	if _, err := os.Stat(filepath.Join(prefix, "config", "internal_transfer_prod.yaml")); err != nil {
		t.Errorf("config missing after roll forward: %v", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(opt, ".internal-transfer*"))
	if len(leftovers) > 0 {
		t.Errorf("staging directories left behind: %v", leftovers)
	}

	t.Run("corrupt tarball is refused and changes nothing", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "internal-transfer-v0.3.0.tar.gz")
		good := readFile(t, filepath.Join(dist, "internal-transfer-v0.1.0.tar.gz"))
		if err := os.WriteFile(bad, good[:len(good)/2], 0o644); err != nil {
			t.Fatal(err)
		}
		msg, err := runTool(t, ".", bash, "install.sh", "--no-systemd", "--no-checksum", "--prefix", prefix, "--backup-dir", backups, bad)
		if exitCode(err) == 0 || !strings.Contains(msg, "cannot unpack") {
			t.Fatalf("install.sh accepted a truncated tarball:\n%s", msg)
		}
		if got := installed(t); got != "gateway_service 0.2.0" {
			t.Fatalf("a refused install changed the installed release to %q", got)
		}
	})
	t.Run("a tarball without its checksum is refused", func(t *testing.T) {
		tarball := filepath.Join(t.TempDir(), "internal-transfer-v0.1.0.tar.gz")
		if err := os.WriteFile(tarball, readFile(t, filepath.Join(dist, "internal-transfer-v0.1.0.tar.gz")), 0o644); err != nil {
			t.Fatal(err)
		}
		msg, err := runTool(t, ".", bash, "install.sh", "--no-systemd", "--prefix", prefix, "--backup-dir", backups, tarball)
		if exitCode(err) == 0 || !strings.Contains(msg, "no checksum file") {
			t.Fatalf("install.sh without a .sha256: exit %d\n%s", exitCode(err), msg)
		}
		if got := installed(t); got != "gateway_service 0.2.0" {
			t.Fatalf("a refused install changed the installed release to %q", got)
		}
	})
	t.Run("a release whose config the node's environment refuses is not installed", func(t *testing.T) {
		envDir := t.TempDir()
		calls := filepath.Join(t.TempDir(), "calls")
		root := fakeRelease(t, "0.3.0")
		// The release's itctl: its config check refuses an environment file
		// that holds RENAMED, as a renamed key would be refused.
		itctl := "#!/bin/sh\nif [ \"$1\" = config ]; then\n" +
			"  if [ \"$2\" = -h ]; then echo '  -env-file value'; exit 0; fi\n" +
			"  echo \"$*\" >>" + calls + "\n" +
			"  if grep -qs RENAMED \"${5#-}\"; then echo 'itctl: environment variable IT_RENAMED names no config key' >&2; exit 1; fi\n" +
			"  exit 0\nfi\necho itctl 0.3.0\n"
		if err := os.WriteFile(filepath.Join(root, "bin", "itctl"), []byte(itctl), 0o755); err != nil {
			t.Fatal(err)
		}
		out := t.TempDir()
		if msg, err := runTool(t, root, bash, filepath.Join(root, "deploy", "package.sh"), out); err != nil {
			t.Fatalf("package.sh: %v\n%s", err, msg)
		}
		tarball := filepath.Join(out, "internal-transfer-v0.3.0.tar.gz")
		if err := os.WriteFile(filepath.Join(envDir, "internal-transfer"), []byte("IT_RENAMED=1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		args := []string{"install.sh", "--no-systemd", "--check", "gateway", "--env-dir", envDir, "--prefix", prefix, "--backup-dir", backups, tarball}
		msg, err := runTool(t, ".", bash, args...)
		if exitCode(err) == 0 || !strings.Contains(msg, "IT_RENAMED") || !strings.Contains(msg, "nothing was changed") {
			t.Fatalf("install.sh with a refused config: exit %d\n%s", exitCode(err), msg)
		}
		if got := installed(t); got != "gateway_service 0.2.0" {
			t.Fatalf("a refused install changed the installed release to %q", got)
		}
		want := "--env-file -" + envDir + "/internal-transfer --env-file -" + envDir + "/internal-transfer-gateway"
		if got := string(readFile(t, calls)); !strings.Contains(got, want) || !strings.Contains(got, "/config/internal_transfer_prod.yaml") {
			t.Fatalf("itctl config called with %q, want the release's prod config and %q", got, want)
		}
		// Fixed environment: it installs.
		if err := os.WriteFile(filepath.Join(envDir, "internal-transfer"), []byte("IT_SERVER_NODE_ID=3\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if msg, err := runTool(t, ".", bash, args...); err != nil || !strings.Contains(msg, "config checked for the gateway service") {
			t.Fatalf("install.sh with an accepted config: %v\n%s", err, msg)
		}
		if got := installed(t); got != "gateway_service 0.3.0" {
			t.Fatalf("after installing 0.3.0: %q", got)
		}
		install(t, "--rollback", "0.2.0")
	})
	t.Run("a release left aside by a crash is put back", func(t *testing.T) {
		// A crash between swap_in's two renames: nothing installed, the old
		// release beside it.
		aside := filepath.Join(opt, ".internal-transfer.old.12345")
		if err := os.Rename(prefix, aside); err != nil {
			t.Fatal(err)
		}
		msg := install(t, "--list-backups")
		if got := installed(t); got != "gateway_service 0.2.0" || !strings.Contains(msg, "put back v0.2.0") {
			t.Fatalf("after a run following the crash: %q\n%s", got, msg)
		}
		if _, err := os.Stat(aside); !os.IsNotExist(err) {
			t.Fatalf("the aside copy is still there: %v", err)
		}
	})
	t.Run("checksum mismatch is refused", func(t *testing.T) {
		dir := t.TempDir()
		tarball := filepath.Join(dir, "internal-transfer-v0.1.0.tar.gz")
		if err := os.WriteFile(tarball, readFile(t, filepath.Join(dist, "internal-transfer-v0.1.0.tar.gz")), 0o644); err != nil {
			t.Fatal(err)
		}
		sum := strings.Repeat("0", 64) + "  internal-transfer-v0.1.0.tar.gz\n"
		if err := os.WriteFile(tarball+".sha256", []byte(sum), 0o644); err != nil {
			t.Fatal(err)
		}
		msg, err := runTool(t, ".", bash, "install.sh", "--no-systemd", "--prefix", prefix, "--backup-dir", backups, tarball)
		if exitCode(err) == 0 || !strings.Contains(msg, "checksum") {
			t.Fatalf("install.sh with a wrong checksum: exit %d\n%s", exitCode(err), msg)
		}
	})
}
