package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// EnvPrefix starts every environment override.
const EnvPrefix = "IT_"

// applyEnv overrides cfg's fields from IT_* variables. A variable that names
// no key is an error, like an unknown key in the file.
func applyEnv(cfg *Config, environ []string) error {
	fields := map[string]reflect.Value{}
	collect(reflect.ValueOf(cfg).Elem(), EnvPrefix, fields)
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		field, known := fields[name]
		if !known {
			return fmt.Errorf("environment variable %s names no config key", name)
		}
		if err := setField(field, value); err != nil {
			return fmt.Errorf("environment variable %s: %w", name, err)
		}
	}
	return nil
}

// collect maps IT_SECTION_KEY names to the settable fields of v.
func collect(v reflect.Value, prefix string, out map[string]reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		name := prefix + strings.ToUpper(tag)
		f := v.Field(i)
		if f.Kind() == reflect.Struct {
			collect(f, name+"_", out)
			continue
		}
		out[name] = f
	}
}

func setField(f reflect.Value, value string) error {
	switch f.Kind() {
	case reflect.String:
		f.SetString(value)
	case reflect.Bool:
		// Read as the file reads it (true, True, TRUE and YAML 1.1's yes/on,
		// and their negations), so a value means the same in both places;
		// strconv.ParseBool would also take 1, t, 0 and f, which the file refuses.
		// A YAML null (null, ~, empty) would decode as false; in the file it
		// leaves the default, so here it is refused.
		var b *bool
		if err := decodeStrict([]byte(value), &b); err != nil || b == nil {
			return fmt.Errorf("want true or false, got %q", value)
		}
		f.SetBool(*b)
	case reflect.Int, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(value, 10, f.Type().Bits())
		if err != nil {
			return fmt.Errorf("want an integer, got %q", value)
		}
		f.SetInt(n)
	case reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(value, 10, f.Type().Bits())
		if err != nil {
			return fmt.Errorf("want an unsigned integer, got %q", value)
		}
		f.SetUint(n)
	case reflect.Slice:
		if f.Type().Elem().Kind() == reflect.String {
			var items []string
			for _, s := range strings.Split(value, ",") {
				if s = strings.TrimSpace(s); s != "" {
					items = append(items, s)
				}
			}
			f.Set(reflect.ValueOf(items))
			return nil
		}
		ptr := reflect.New(f.Type())
		if err := decodeStrict([]byte(value), ptr.Interface()); err != nil {
			return fmt.Errorf("want a YAML list: %w", err)
		}
		f.Set(ptr.Elem())
	default:
		panic(fmt.Sprintf("BUG: config field of kind %s has no environment parser", f.Kind()))
	}
	return nil
}
