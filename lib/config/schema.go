package config

import (
	"encoding"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"sync"
)

// Key is one configuration key, as `config schema` prints it.
type Key struct {
	Key     string          `json:"key"`
	File    string          `json:"file"`
	Type    string          `json:"type"`
	Default json.RawMessage `json:"default"`
	Doc     string          `json:"doc"`
}

// Schema lists every key of config.toml and project.toml, in file then
// declaration order.
func Schema() []Key {
	var out []Key
	out = appendKeys(out, "config.toml", "", reflect.ValueOf(DefaultGlobal()))
	out = appendKeys(out, "project.toml", "", reflect.ValueOf(DefaultProject()))
	return out
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func appendKeys(out []Key, file, prefix string, v reflect.Value) []Key {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := f.Tag.Get("toml")
		if name == "" || name == "-" {
			continue
		}
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct && !reflect.PointerTo(f.Type).Implements(textUnmarshaler) {
			out = appendKeys(out, file, prefix+name+".", fv)
			continue
		}
		if f.Type.Kind() == reflect.Map && f.Type.Elem().Kind() == reflect.Struct {
			// A table of named tables ([vault.providers.NAME]): its keys
			// are listed once, with NAME standing for any name.
			out = appendKeys(out, file, prefix+name+".NAME.", reflect.Zero(f.Type.Elem()))
			continue
		}
		def, _ := json.Marshal(defaultValue(fv))
		out = append(out, Key{
			Key: prefix + name, File: file, Type: typeName(f.Type),
			Default: def, Doc: f.Tag.Get("doc"),
		})
	}
	return out
}

func defaultValue(v reflect.Value) any {
	if m, ok := v.Interface().(encoding.TextMarshaler); ok {
		b, _ := m.MarshalText()
		return string(b)
	}
	if v.Kind() == reflect.Slice && v.IsNil() {
		return []string{}
	}
	if v.Kind() == reflect.Pointer && v.IsNil() {
		return nil
	}
	return v.Interface()
}

// schemaTyped is a key type that names itself in the schema (one TOML
// accepts in more than one form).
type schemaTyped interface{ SchemaType() string }

var schemaTypedType = reflect.TypeFor[schemaTyped]()

func typeName(t reflect.Type) string {
	if t.Implements(schemaTypedType) {
		return reflect.Zero(t).Interface().(schemaTyped).SchemaType()
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return strings.ToLower(t.Name())
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float64:
		return "float"
	case reflect.Slice:
		return "list of " + typeName(t.Elem()) + "s"
	case reflect.Pointer:
		return typeName(t.Elem())
	}
	return t.String()
}

// keyNames returns the known keys of one file, for suggestions. The schema
// is read once per process: every config file read needs it.
func keyNames(file string) []string { return schemaNames()[file] }

var schemaNames = sync.OnceValue(func() map[string][]string {
	m := map[string][]string{}
	for _, k := range Schema() {
		m[k.File] = append(m[k.File], k.Key)
	}
	for f := range m {
		sort.Strings(m[f])
	}
	return m
})
