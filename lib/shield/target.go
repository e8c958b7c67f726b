package shield

import (
	"fmt"
	"net/netip"
	"strings"
)

// Kind is what a target names.
type Kind int

// The kinds of target.
const (
	Domain   Kind = iota + 1 // an exact name: pypi.org
	Wildcard                 // a name and every name under it: *.pythonhosted.org
	Address                  // one IPv4 or IPv6 address
	Range                    // a CIDR range
)

func (k Kind) String() string {
	switch k {
	case Domain:
		return "domain"
	case Wildcard:
		return "wildcard"
	case Address:
		return "address"
	case Range:
		return "range"
	}
	return "unknown"
}

// Target is one entry of an allow or deny list, parsed and normalised.
// Only ParseTarget makes one; nothing reaches nftables or the resolver
// unparsed.
type Target struct {
	Kind Kind
	// Name is the domain (lower case, no trailing dot); for a wildcard,
	// the suffix without "*.".
	Name string
	// Prefix is the address (a /32 or /128) or the range, masked.
	Prefix netip.Prefix
}

// String is the target's normalised form; ParseTarget(t.String()) == t.
func (t Target) String() string {
	switch t.Kind {
	case Domain:
		return t.Name
	case Wildcard:
		return "*." + t.Name
	case Address:
		return t.Prefix.Addr().String()
	case Range:
		return t.Prefix.String()
	}
	return ""
}

// IsNet reports whether the target is an address or a range (what the
// firewall's sets hold; names are the resolver's).
func (t Target) IsNet() bool { return t.Kind == Address || t.Kind == Range }

// MaxTargetLen bounds a target's text: a name is at most 253 characters,
// so nothing longer is a target of any kind.
const MaxTargetLen = 255

// ParseTarget parses a domain ("pypi.org"), a wildcard domain
// ("*.pythonhosted.org"), an IPv4 or IPv6 address or a CIDR range, and
// returns it normalised: names lower case without a trailing dot, ranges
// masked to their canonical form, IPv4-mapped IPv6 as IPv4. Anything else
// is an error of one line that names what is wrong.
func ParseTarget(s string) (Target, error) {
	switch {
	case s == "":
		return Target{}, fmt.Errorf("empty target: give a domain, *.domain, an address or a range")
	case len(s) > MaxTargetLen:
		return Target{}, fmt.Errorf("target %s is %d characters long; a domain has at most 253", quote(s), len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f {
			what := "a space or control character"
			if c >= 0x80 {
				what = "a non-ASCII character (write an international name in its xn-- form)"
			}
			return Target{}, fmt.Errorf("target %s has %s", quote(s), what)
		}
	}
	if strings.Contains(s, "/") {
		return parseRange(s)
	}
	if strings.Contains(s, ":") {
		return parseAddr(s)
	}
	if looksNumeric(s) {
		return parseAddr(s)
	}
	if rest, ok := strings.CutPrefix(s, "*."); ok {
		name, err := parseName(rest, s)
		if err != nil {
			return Target{}, err
		}
		return Target{Kind: Wildcard, Name: name}, nil
	}
	if strings.Contains(s, "*") {
		return Target{}, fmt.Errorf("target %s: a wildcard is allowed only as a whole first label, as in *.example.org", quote(s))
	}
	name, err := parseName(s, s)
	if err != nil {
		return Target{}, err
	}
	return Target{Kind: Domain, Name: name}, nil
}

// MustParseTargets parses targets known to be valid (tests, built-in
// lists); it panics on an invalid one.
func MustParseTargets(ss ...string) []Target {
	out := make([]Target, 0, len(ss))
	for _, s := range ss {
		t, err := ParseTarget(s)
		if err != nil {
			panic(err)
		}
		out = append(out, t)
	}
	return out
}

// looksNumeric: digits and dots only — meant as an IPv4 address, never a
// name (no top-level domain is numeric).
func looksNumeric(s string) bool {
	s = strings.TrimSuffix(s, ".")
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
			return false
		}
	}
	return true
}

func parseAddr(s string) (Target, error) {
	if strings.Contains(s, "%") {
		return Target{}, fmt.Errorf("target %s has a zone (%%...); give the address without it", quote(s))
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return Target{}, fmt.Errorf("target %s is not an IPv4 or IPv6 address", quote(s))
	}
	a = a.Unmap()
	return Target{Kind: Address, Prefix: netip.PrefixFrom(a, a.BitLen())}, nil
}

func parseRange(s string) (Target, error) {
	if strings.Contains(s, "%") {
		return Target{}, fmt.Errorf("range %s has a zone (%%...); give it without one", quote(s))
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		addr, bits, _ := strings.Cut(s, "/")
		if _, aerr := netip.ParseAddr(addr); aerr != nil {
			return Target{}, fmt.Errorf("range %s does not start with an IPv4 or IPv6 address", quote(s))
		}
		return Target{}, fmt.Errorf("range %s has a bad prefix length %s", quote(s), quote(bits))
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return Target{}, fmt.Errorf("range %s mixes IPv4-mapped and other IPv6 addresses", quote(s))
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	p = p.Masked()
	if p.IsSingleIP() {
		return Target{Kind: Address, Prefix: p}, nil
	}
	return Target{Kind: Range, Prefix: p}, nil
}

// parseName checks a domain by the rules of host names (RFC 1123):
// labels of letters, digits and hyphens (and underscores, which service
// names use), 1 to 63 characters, no hyphen at either end; at least two
// labels; at most 253 characters; the last label not numeric. orig is
// the text as given, for the error.
func parseName(s, orig string) (string, error) {
	s = strings.ToLower(strings.TrimSuffix(s, "."))
	switch {
	case s == "":
		return "", fmt.Errorf("target %s has no name", quote(orig))
	case len(s) > 253:
		return "", fmt.Errorf("name %s is longer than 253 characters", quote(orig))
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return "", fmt.Errorf("name %s is a single label; give a full name such as example.org", quote(orig))
	}
	for _, l := range labels {
		switch {
		case l == "":
			return "", fmt.Errorf("name %s has an empty label (two dots in a row, or a leading dot)", quote(orig))
		case len(l) > 63:
			return "", fmt.Errorf("name %s has a label longer than 63 characters", quote(orig))
		case l[0] == '-' || l[len(l)-1] == '-':
			return "", fmt.Errorf("name %s has a label that starts or ends with a hyphen", quote(orig))
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("name %s has the character %q, which no host name has", quote(orig), string(c))
			}
		}
	}
	if looksNumeric(labels[len(labels)-1]) {
		return "", fmt.Errorf("target %s is neither a name (its last label is a number) nor an address", quote(orig))
	}
	return s, nil
}

// quote quotes outside input for a one-line error, cut to a readable
// length.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return fmt.Sprintf("%q", s)
}
