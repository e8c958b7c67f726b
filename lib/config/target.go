package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// TargetKind is what an egress target names.
type TargetKind string

const (
	TargetDomain   TargetKind = "domain"   // example.com: that name
	TargetWildcard TargetKind = "wildcard" // *.example.com: every name under it, not itself
	TargetAddr     TargetKind = "address"  // 192.0.2.7 or 2001:db8::7
	TargetRange    TargetKind = "range"    // 192.0.2.0/24 or 2001:db8::/32
)

// Target is a parsed egress target: what shield.allow and shield.deny, the
// shield's profiles and `terok-shield allow|deny` name.
type Target struct {
	Kind   TargetKind
	Name   string       // domain and wildcard: lower case, no trailing dot, without "*."
	Prefix netip.Prefix // address (a /32 or /128) and range: canonical
}

// String is the target's canonical form.
func (t Target) String() string {
	switch t.Kind {
	case TargetDomain:
		return t.Name
	case TargetWildcard:
		return "*." + t.Name
	case TargetAddr:
		return t.Prefix.Addr().String()
	}
	return t.Prefix.String()
}

// Matches reports whether a domain or wildcard target matches name (a
// lower-case name without its trailing dot).
func (t Target) Matches(name string) bool {
	switch t.Kind {
	case TargetDomain:
		return name == t.Name
	case TargetWildcard:
		return strings.HasSuffix(name, "."+t.Name)
	}
	return false
}

// ParseTarget parses a domain, a "*." wildcard domain, an IPv4 or IPv6
// address, or a CIDR range. Anything else is an error naming what is wrong:
// nothing reaches the firewall unparsed.
func ParseTarget(s string) (Target, error) {
	if s == "" {
		return Target{}, fmt.Errorf("empty target")
	}
	if len(s) > 300 {
		return Target{}, fmt.Errorf("target longer than 300 characters")
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Target{}, fmt.Errorf("not an address range (like 192.0.2.0/24): %q", s)
		}
		if p.Addr().Zone() != "" {
			return Target{}, fmt.Errorf("a range with a zone: %q", s)
		}
		p = p.Masked()
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked()
		}
		return Target{Kind: TargetRange, Prefix: p}, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return Target{}, fmt.Errorf("an address with a zone: %q", s)
		}
		a = a.Unmap()
		return Target{Kind: TargetAddr, Prefix: netip.PrefixFrom(a, a.BitLen())}, nil
	}
	name := strings.TrimSuffix(strings.ToLower(s), ".")
	kind := TargetDomain
	if rest, ok := strings.CutPrefix(name, "*."); ok {
		kind, name = TargetWildcard, rest
	}
	if err := validDomain(name); err != nil {
		return Target{}, fmt.Errorf("%q: %w", s, err)
	}
	return Target{Kind: kind, Name: name}, nil
}

// validDomain: labels of letters, digits and inner hyphens (underscores
// too, as in service names), at least two labels, the last not all digits.
func validDomain(name string) error {
	if len(name) > 253 {
		return fmt.Errorf("domain longer than 253 characters")
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return fmt.Errorf("not a domain, an address or a range (a domain has a dot, like example.com)")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("a domain label is empty or longer than 63 characters")
		}
		for i, c := range l {
			ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' && i > 0 && i < len(l)-1
			if !ok {
				return fmt.Errorf("%q is not allowed in a domain", c)
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return fmt.Errorf("not a domain: its last label is a number")
	}
	return nil
}

// ValidTargets checks a list of targets.
func ValidTargets(list []string) error {
	for _, s := range list {
		if _, err := ParseTarget(s); err != nil {
			return err
		}
	}
	return nil
}

// ValidProfileName: a shield profile's name (a file name without .toml).
func ValidProfileName(n string) error {
	if n == "" || len(n) > 40 {
		return fmt.Errorf("profile name %.40q: 1 to 40 characters", n)
	}
	for i, c := range n {
		if !(c >= 'a' && c <= 'z' || i > 0 && (c >= '0' && c <= '9' || c == '-')) {
			return fmt.Errorf("profile name %q: lower-case letters, digits and hyphens, starting with a letter", n)
		}
	}
	return nil
}

// ResolverAddr parses a DNS server as an address or address:port (port 53
// by default) and returns it as host:port.
func ResolverAddr(s string) (string, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Port() != 0 {
		return ap.String(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return "", fmt.Errorf("not an address or address:port: %q", s)
	}
	return netip.AddrPortFrom(a, 53).String(), nil
}

// Metadata are the cloud metadata services' addresses.
var Metadata = []netip.Addr{netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("fd00:ec2::254")}

// CheckAllow refuses an allow target that would open a metadata address
// without naming it: a range that holds one (0.0.0.0/0, 169.254.0.0/16) is
// not a rule naming the metadata service, so it is an error rather than a
// silent exposure. The address itself may be allowed.
func CheckAllow(t Target) error {
	if t.Kind != TargetRange {
		return nil
	}
	for _, m := range Metadata {
		if t.Prefix.Contains(m) {
			return fmt.Errorf("the range %s holds the cloud metadata address %s; allow narrower ranges (or that address alone, if it is meant)", t, m)
		}
	}
	return nil
}
