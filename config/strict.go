package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// decodeStrict decodes raw, which must hold one YAML document, into out:
// unknown keys are refused (KnownFields), and so are a second document or
// anything after the first, and a number with a fraction or too large for a
// float64 to hold exactly where out has an integer, which yaml.v3 would
// silently change. An empty
// raw returns io.EOF and leaves out as it was.
func decodeStrict(raw []byte, out any) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&doc); err != nil {
		return err // io.EOF for an empty document
	}
	var more yaml.Node
	switch err := dec.Decode(&more); {
	case err == nil:
		return fmt.Errorf("line %d: a second YAML document; there must be one", more.Line)
	case !errors.Is(err, io.EOF):
		return fmt.Errorf("after the first YAML document: %w", err)
	}
	if err := checkWhole(&doc, reflect.TypeOf(out), ""); err != nil {
		return err
	}
	strict := yaml.NewDecoder(bytes.NewReader(raw))
	strict.KnownFields(true)
	return strict.Decode(out)
}

// checkWhole walks n beside the Go type t it decodes into and refuses a
// float where t has an integer, and an empty (null) value anywhere (the key
// is named by its dotted path).
func checkWhole(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" && path != "" {
		// yaml.v3 leaves the field as it was, so a key left blank in a
		// templated or half-edited file would quietly take its default:
		// "backends.ledger:" would start a private embedded ledger.
		return fmt.Errorf("invalid value for %s: it is empty (null); give a value, or leave the key out for its default", path)
	}
	switch {
	case n.Kind == yaml.DocumentNode:
		for _, c := range n.Content {
			if err := checkWhole(c, t, path); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		if err := checkRequired(n, t, path); err != nil {
			return err
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if f, ok := fieldByYAMLKey(t, key); ok {
				if err := checkWhole(n.Content[i+1], f.Type, joinKey(path, key)); err != nil {
					return err
				}
			}
		}
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			if err := checkWhole(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := checkWhole(n.Content[i+1], t.Elem(), joinKey(path, n.Content[i].Value)); err != nil {
				return err
			}
		}
	case isInteger(t.Kind()) && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!float" && !wholeFloat(n.Value):
		return fmt.Errorf("invalid value %q for %s: want a whole number (a fraction, or one past 2^53, would be cut)", n.Value, path)
	}
	return nil
}

// checkRequired refuses a mapping that lacks a key whose field is tagged
// required:"true": a missing asset's decimals would silently be 0 and
// rescale every amount of it.
func checkRequired(n *yaml.Node, t reflect.Type, path string) error {
	for j := 0; j+1 < len(n.Content); j += 2 {
		if n.Content[j].Value == "<<" {
			return nil // a merge key may supply them; the decoder sees the merged map
		}
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Tag.Get("required") != "true" {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		found := false
		for j := 0; j+1 < len(n.Content); j += 2 {
			found = found || n.Content[j].Value == name
		}
		if !found {
			return fmt.Errorf("missing key %s: it has no default", joinKey(path, name))
		}
	}
	return nil
}

// wholeFloat reports whether v is a float yaml.v3 turns into an integer
// without changing it: no fraction, and small enough that float64 holds it
// exactly (9.09e3 is 9090; 1.8446744073709552e19 is not 2^64-1).
func wholeFloat(v string) bool {
	f, err := strconv.ParseFloat(v, 64)
	return err == nil && f == math.Trunc(f) && math.Abs(f) <= 1<<53
}

func fieldByYAMLKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func isInteger(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}
