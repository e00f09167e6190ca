package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"

	"github.com/exchange/internal-transfer/config"
)

// cmdConfig loads a config as a service would and says whether it would
// start: install.sh runs it on a new release before the swap, with the
// node's systemd environment files, so a key the release renamed or an
// override it refuses stops the install instead of the restarted service.
func cmdConfig(args []string) error {
	fs := flag.NewFlagSet("config", flag.ContinueOnError)
	path := fs.String("config", "config/dev.yaml", "configuration file of the service")
	var envFiles []string
	fs.Func("env-file", "a systemd EnvironmentFile whose settings apply, as the unit's EnvironmentFile= (repeatable; a leading - allows it to be missing); with any, IT_* variables of this shell are ignored, as the service would not see them", func(v string) error {
		envFiles = append(envFiles, v)
		return nil
	})
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("unexpected argument %q: flags after it would be ignored", fs.Arg(0)))
	}
	environ := os.Environ()
	if len(envFiles) > 0 {
		environ = withoutOverrides(environ)
		for _, f := range envFiles {
			vars, err := readEnvFile(f)
			if err != nil {
				return err
			}
			environ = append(environ, vars...)
		}
	}
	cfg, err := config.Load(*path, environ)
	if err != nil {
		return err
	}
	fmt.Printf("config OK: %s (ledger %s, store %s, stream %s)\n", *path, cfg.Backends.Ledger, cfg.Backends.Store, cfg.Backends.Stream)
	return nil
}

// withoutOverrides is environ without its IT_* variables.
func withoutOverrides(environ []string) []string {
	var out []string
	for _, kv := range environ {
		if !strings.HasPrefix(kv, config.EnvPrefix) {
			out = append(out, kv)
		}
	}
	return out
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// readEnvFile reads a systemd EnvironmentFile (name as in a unit: a leading
// "-" allows it to be missing) as KEY=VALUE pairs. It reads what such files
// hold: blank lines, comments (# or ;), KEY=VALUE with blanks around the =,
// and a value in single or double quotes (in double quotes, \" \\ \n \t
// escapes). A line it cannot read is an error naming it, never skipped.
func readEnvFile(name string) ([]string, error) {
	optional := strings.HasPrefix(name, "-")
	name = strings.TrimPrefix(name, "-")
	raw, err := os.ReadFile(name)
	if optional && errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read environment file: %w", err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || !envName.MatchString(key) {
			return nil, fmt.Errorf("%s line %d: want KEY=VALUE", name, n)
		}
		value, err := envValue(strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("%s line %d (%s): %w", name, n, key, err)
		}
		out = append(out, key+"="+value)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", name, err)
	}
	return out, nil
}

// envValue unquotes one value of an environment file.
func envValue(v string) (string, error) {
	if v == "" || (v[0] != '"' && v[0] != '\'') {
		if strings.HasSuffix(v, `\`) {
			return "", errors.New("a line continued with \\ is not supported here; put the value on one line")
		}
		return v, nil
	}
	quote := v[0]
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		c := v[i]
		switch {
		case c == quote:
			if rest := strings.TrimSpace(v[i+1:]); rest != "" {
				return "", fmt.Errorf("%q after the closing quote", rest)
			}
			return b.String(), nil
		case c == '\\' && quote == '"' && i+1 < len(v):
			i++
			switch v[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(v[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", errors.New("no closing quote")
}
