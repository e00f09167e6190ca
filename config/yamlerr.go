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
	keys := map[int]string{}
	collectKeys(&root, "", keys)
	msgs := make([]string, 0, len(te.Errors))
	for _, m := range te.Errors {
		if sub := lineRe.FindStringSubmatch(m); sub != nil {
			line, _ := strconv.Atoi(sub[1])
			if key, ok := keys[line]; ok {
				m = fmt.Sprintf("%s (key %s)", m, key)
			}
		}
		msgs = append(msgs, m)
	}
	return fmt.Errorf("invalid values: %s", strings.Join(msgs, "; "))
}

// collectKeys maps the line of every scalar value to its dotted key path.
func collectKeys(n *yaml.Node, path string, out map[int]string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			collectKeys(c, path, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := joinKey(path, n.Content[i].Value)
			out[n.Content[i+1].Line] = key
			collectKeys(n.Content[i+1], key, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if _, seen := out[c.Line]; !seen {
				out[c.Line] = p
			}
			collectKeys(c, p, out)
		}
	}
}
