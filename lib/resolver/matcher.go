package resolver

import (
	"fmt"
	"strings"
)

// Policy decides which names a task may resolve. Allowed is given a
// lower-case host name without its trailing dot, whose labels hold only
// letters, digits, '-' and '_'. It is called concurrently and must be quick.
type Policy interface {
	Allowed(name string) bool
}

// PolicyFunc makes a function a Policy.
type PolicyFunc func(name string) bool

// Allowed calls f.
func (f PolicyFunc) Allowed(name string) bool { return f(name) }

// Matcher is a Policy of allowed and denied names. A pattern is an exact
// name ("pypi.org") or a wildcard ("*.pythonhosted.org"), which matches every
// name below its suffix at any depth (files.pythonhosted.org,
// a.b.pythonhosted.org) but not the suffix itself: allow both when both are
// meant. A name is allowed when an allow pattern matches it and no deny
// pattern does: deny beats allow, whichever is more specific. Case and a
// trailing dot do not matter. A Matcher never changes; make a new one for a
// new policy.
type Matcher struct {
	allow, deny patterns
}

type patterns struct {
	exact  map[string]struct{}
	suffix map[string]struct{} // "example.com" for "*.example.com"
}

// NewMatcher checks every pattern (see ParsePattern) and returns the
// matcher, or the first bad pattern's error.
func NewMatcher(allow, deny []string) (*Matcher, error) {
	m := &Matcher{}
	var err error
	if m.allow, err = compile(allow); err != nil {
		return nil, err
	}
	if m.deny, err = compile(deny); err != nil {
		return nil, err
	}
	return m, nil
}

func compile(list []string) (patterns, error) {
	p := patterns{exact: map[string]struct{}{}, suffix: map[string]struct{}{}}
	for _, s := range list {
		name, wildcard, err := ParsePattern(s)
		if err != nil {
			return p, err
		}
		if wildcard {
			p.suffix[name] = struct{}{}
		} else {
			p.exact[name] = struct{}{}
		}
	}
	return p, nil
}

// ParsePattern checks a name pattern and returns its normal form: the name
// in lower case without a trailing dot, and whether it was a "*." wildcard
// (the name is then the suffix). A name is at most 253 characters of
// labels of 1 to 63 letters, digits, '-' and '_'; "*" alone and "*"
// anywhere but at the front are refused.
func ParsePattern(s string) (name string, wildcard bool, err error) {
	name = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	if rest, ok := strings.CutPrefix(name, "*."); ok {
		name, wildcard = rest, true
	}
	if !validHostname(name) {
		return "", false, fmt.Errorf("%q is not a domain name or a *.domain wildcard", s)
	}
	return name, wildcard, nil
}

// Allowed reports whether name is allowed and not denied.
func (m *Matcher) Allowed(name string) bool {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	return m.allow.match(name) && !m.deny.match(name)
}

func (p patterns) match(name string) bool {
	if _, ok := p.exact[name]; ok {
		return true
	}
	for i := strings.IndexByte(name, '.'); i >= 0; {
		if _, ok := p.suffix[name[i+1:]]; ok {
			return true
		}
		j := strings.IndexByte(name[i+1:], '.')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

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
