package config

import "fmt"

// MaxNameLen bounds project names: they become parts of container names,
// image tags, branch names and paths.
const MaxNameLen = 40

// reserved names would read as verbs or keywords where names are accepted.
var reserved = map[string]bool{
	"all": true, "config": true, "default": true, "global": true, "help": true,
	"none": true, "terok": true, "new": true, "ls": true, "show": true,
	"edit": true, "rm": true, "archive": true,
}

// ValidName checks a project name: a slug of lower-case letters, digits and
// single hyphens, starting with a letter, at most MaxNameLen long, and not
// reserved. Nothing from a name is used as a path before it passes.
func ValidName(name string) error {
	if name == "" {
		return fmt.Errorf("project name is empty")
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("project name %.20q... is longer than %d characters", name, MaxNameLen)
	}
	if reserved[name] {
		return fmt.Errorf("project name %q is reserved", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		case c == '-' && i > 0 && i < len(name)-1 && name[i-1] != '-':
		default:
			return fmt.Errorf("project name %q is not a slug (lower-case letters, digits and single hyphens, starting with a letter)", name)
		}
	}
	return nil
}
