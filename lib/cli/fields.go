package cli

import (
	"reflect"
	"strings"
)

// UndocumentedFields returns the JSON field names of the given values'
// types that a command's sections do not mention as "  name  meaning"
// lines. Commands test their JSON output against their man page with it.
func UndocumentedFields(sections []Section, values ...any) []string {
	documented := map[string]bool{}
	for _, s := range sections {
		for _, line := range strings.Split(s.Body, "\n") {
			if f := strings.Fields(line); strings.HasPrefix(line, "  ") && len(f) > 0 {
				documented[f[0]] = true
			}
			// "file, ok, and error when not ok" style lists count too.
			for _, w := range strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ' ' || r == ':' }) {
				documented["~"+w] = true
			}
		}
	}
	var missing []string
	for _, v := range values {
		t := reflect.TypeOf(v)
		for i := 0; i < t.NumField(); i++ {
			name := strings.Split(t.Field(i).Tag.Get("json"), ",")[0]
			if name == "" || name == "-" {
				continue
			}
			if !documented[name] && !documented["~"+name] {
				missing = append(missing, t.Name()+"."+name)
			}
		}
	}
	return missing
}
