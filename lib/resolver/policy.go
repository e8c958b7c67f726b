package resolver

// Policy decides which names a task may resolve (lib/policy's Policy is
// one). Allowed is given a lower-case host name without its trailing dot,
// whose labels hold only letters, digits, '-' and '_'. It is called
// concurrently and must be quick.
type Policy interface {
	Allowed(name string) bool
}

// PolicyFunc makes a function a Policy.
type PolicyFunc func(name string) bool

// Allowed calls f.
func (f PolicyFunc) Allowed(name string) bool { return f(name) }

// validHostname reports whether s is a lower-case host name without a
// trailing dot: at most 253 characters, labels of 1 to 63 of a-z, 0-9, '-'
// and '_'. Anything else (escapes, dots inside labels, spaces, upper case,
// the root) is not a name a task needs, and not one a policy can judge.
func validHostname(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
			continue
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
		label++
		if label > 63 {
			return false
		}
	}
	return label > 0
}
