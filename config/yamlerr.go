package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

var lineRe = regexp.MustCompile(`line (\d+): `)

// nameKeys rewrites yaml's "line N: cannot unmarshal …" errors to name the
// key at that line (e.g. "server.admin_port"), so every invalid value is
// reported by its key, as unknown keys already are.
func nameKeys(raw []byte, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	var root yaml.Node
	if yaml.Unmarshal(raw, &root) != nil {
		return err
	}
	keys := map[int][]lineKey{}
	collectKeys(&root, "", keys)
	msgs := make([]string, 0, len(te.Errors))
	for _, m := range te.Errors {
		if sub := lineRe.FindStringSubmatch(m); sub != nil {
			line, _ := strconv.Atoi(sub[1])
			if key := keyOf(keys[line], m); key != "" {
				m = fmt.Sprintf("%s (key %s)", m, key)
			}
		}
		msgs = append(msgs, m)
	}
	return fmt.Errorf("invalid values: %s", strings.Join(msgs, "; "))
}

// lineKey is a key whose value starts on a line, with that value when it is
// a scalar.
type lineKey struct{ key, value string }

var valueRe = regexp.MustCompile("`([^`]*)`")

// keyOf picks, among the keys of the error's line, the one whose value the
// error quotes: a flow mapping ({name: X, ledger: abc}) puts several keys on
// one line. Without a single match it names them all.
func keyOf(keys []lineKey, msg string) string {
	if len(keys) == 1 {
		return keys[0].key
	}
	if v := valueRe.FindStringSubmatch(msg); v != nil {
		var match []string
		for _, k := range keys {
			if k.value == v[1] {
				match = append(match, k.key)
			}
		}
		if len(match) == 1 {
			return match[0]
		}
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.key
	}
	return strings.Join(names, " or ")
}

// collectKeys lists, by line, the dotted key path of every value there.
func collectKeys(n *yaml.Node, path string, out map[int][]lineKey) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			collectKeys(c, path, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := joinKey(path, n.Content[i].Value)
			v := n.Content[i+1]
			value := ""
			if v.Kind == yaml.ScalarNode {
				value = v.Value
			}
			out[v.Line] = append(out[v.Line], lineKey{key, value})
			collectKeys(v, key, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if c.Kind == yaml.ScalarNode {
				out[c.Line] = append(out[c.Line], lineKey{p, c.Value})
			}
			collectKeys(c, p, out)
		}
	}
}
