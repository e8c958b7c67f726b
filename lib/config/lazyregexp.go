package config

import (
	"regexp"
	"sync"
)

// lazyRegexp is a regular expression compiled on its first use rather than
// at the program's start: every terok process links this package, the
// tasks' wardens included, and most never check an image name or a GPU's.
// Compiled at init, these expressions (their bounded repetitions expand to
// hundreds of instructions) held 0.3 MB of every process's heap for its
// whole life (docs/decisions.md "Under 12 MB").
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
