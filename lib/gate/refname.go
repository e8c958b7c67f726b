package gate

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxRefLen bounds a ref name (git has no limit; file systems do).
const MaxRefLen = 1024

// ValidRefName checks a full ref name ("refs/heads/x") by git's
// check-ref-format rules, and is stricter in two ways: it must be valid
// UTF-8 and at most MaxRefLen bytes. Every ref name that comes from a
// client or a command line passes here before any use.
func ValidRefName(ref string) error {
	bad := func(why string) error { return fmt.Errorf("invalid ref name %q: %s", ref, why) }
	switch {
	case ref == "":
		return bad("empty")
	case len(ref) > MaxRefLen:
		return fmt.Errorf("invalid ref name %.40q...: longer than %d bytes", ref, MaxRefLen)
	case !utf8.ValidString(ref):
		return bad("not UTF-8")
	case !strings.HasPrefix(ref, "refs/"):
		return bad("not under refs/")
	case strings.HasSuffix(ref, "/") || strings.Contains(ref, "//"):
		return bad("empty path component")
	case strings.HasSuffix(ref, "."):
		return bad("ends with '.'")
	case strings.Contains(ref, ".."):
		return bad("contains '..'")
	case strings.Contains(ref, "@{"):
		return bad("contains '@{'")
	}
	for _, part := range strings.Split(ref, "/") {
		if strings.HasPrefix(part, ".") {
			return bad("a component starts with '.'")
		}
		if strings.HasSuffix(part, ".lock") {
			return bad("a component ends with '.lock'")
		}
	}
	for _, r := range ref {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(" ~^:?*[\\", r) {
			return bad("contains a forbidden character")
		}
	}
	return nil
}

// ValidBranchName checks a branch name (without refs/heads/).
func ValidBranchName(b string) error {
	if b == "" || b == "HEAD" || strings.HasPrefix(b, "-") {
		return fmt.Errorf("invalid branch name %q", b)
	}
	if err := ValidRefName("refs/heads/" + b); err != nil {
		return fmt.Errorf("invalid branch name %q", b)
	}
	return nil
}

// ValidTaskID checks a task id as the gate records it: lower-case
// letters, digits and hyphens, starting with a letter or digit, at most 40
// characters.
func ValidTaskID(id string) error {
	if id == "" || len(id) > 40 {
		return fmt.Errorf("invalid task id %q", id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && i > 0) {
			return fmt.Errorf("invalid task id %q (lower-case letters, digits and hyphens)", id)
		}
	}
	return nil
}

// ErrInvalid marks errors about malformed input: a name, ref or id that
// fails validation.
var ErrInvalid = errors.New("invalid input")

type invalidError struct{ err error }

func (e invalidError) Error() string   { return e.err.Error() }
func (e invalidError) Unwrap() []error { return []error{ErrInvalid, e.err} }

// invalid marks err (if any) as ErrInvalid.
func invalid(err error) error {
	if err == nil {
		return nil
	}
	return invalidError{err}
}

const (
	headsPrefix  = "refs/heads/"
	tagsPrefix   = "refs/tags/"
	terokPrefix  = "refs/terok/"
	backupPrefix = "refs/terok/backups/"
	remotePrefix = "refs/terok/remote/"
	syncedPrefix = "refs/terok/upstream/"
)
