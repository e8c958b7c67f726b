package shield

import (
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	ok := []struct{ in, want, kind string }{
		{"pypi.org", "pypi.org", "domain"},
		{"PyPI.Org.", "pypi.org", "domain"},
		{"files.pythonhosted.org", "files.pythonhosted.org", "domain"},
		{"_acme-challenge.example.org", "_acme-challenge.example.org", "domain"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", "domain"},
		{"*.pythonhosted.org", "*.pythonhosted.org", "wildcard"},
		{"*.Example.ORG.", "*.example.org", "wildcard"},
		{"1.2.3.4", "1.2.3.4", "address"},
		{"2001:DB8::1", "2001:db8::1", "address"},
		{"::ffff:10.1.2.3", "10.1.2.3", "address"},
		{"10.0.0.0/8", "10.0.0.0/8", "range"},
		{"10.1.2.3/8", "10.0.0.0/8", "range"},
		{"10.1.2.3/32", "10.1.2.3", "address"},
		{"2001:db8:1:2::/32", "2001:db8::/32", "range"},
		{"::ffff:192.168.0.0/112", "192.168.0.0/16", "range"},
		{"0.0.0.0/0", "0.0.0.0/0", "range"},
	}
	for _, c := range ok {
		got, err := ParseTarget(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if got.String() != c.want || got.Kind.String() != c.kind {
			t.Errorf("%q: got %s %q, want %s %q", c.in, got.Kind, got, c.kind, c.want)
		}
	}
	bad := []struct{ in, says string }{
		{"", "empty"},
		{"localhost", "single label"},
		{"exa mple.org", "space"},
		{"example.org\n", "control"},
		{"bücher.example", "xn--"},
		{"a..b", "empty label"},
		{".example.org", "empty label"},
		{"-a.example.org", "hyphen"},
		{"a-.example.org", "hyphen"},
		{"a/b.example.org", "does not start with"},
		{"ex!ample.org", `"!"`},
		{"*", "wildcard"},
		{"*.", "no name"},
		{"*.com", "single label"},
		{"a.*.example.org", "wildcard"},
		{"**.example.org", "wildcard"},
		{"*example.org", "wildcard"},
		{"1.2.3", "not an IPv4"},
		{"1.2.3.256", "not an IPv4"},
		{"01.2.3.4", "not an IPv4"},
		{"1.2.3.4.5", "not an IPv4"},
		{"example.123", "last label is a number"},
		{"10.0.0.0/33", "prefix length"},
		{"10.0.0.0/", "prefix length"},
		{"10.0.0.0/-1", "prefix length"},
		{"10.0.0.0/8/8", "prefix length"},
		{"fe80::1%eth0", "zone"},
		{"fe80::%eth0/64", "zone"},
		{"::ffff:0:0/64", "IPv4-mapped"},
		{"1:2:3", "not an IPv4 or IPv6"},
		{strings.Repeat("a", 64) + ".org", "longer than 63"},
		{strings.Repeat("abcdefgh.", 30) + "org", "characters long"},
		{strings.Repeat("abcdefg.", 31) + "orgxyz", "longer than 253"},
	}
	for _, c := range bad {
		_, err := ParseTarget(c.in)
		if err == nil {
			t.Errorf("%q: accepted", c.in)
			continue
		}
		if !strings.Contains(err.Error(), c.says) {
			t.Errorf("%q: error %q does not say %q", c.in, err, c.says)
		}
		if strings.ContainsAny(err.Error(), "\n\r") {
			t.Errorf("%q: error has more than one line: %q", c.in, err)
		}
	}
}

// Nothing reaches nftables or the resolver unparsed: whatever is accepted
// is normalised (parsing its string gives it back) and made of the
// characters a name or an address has.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"pypi.org", "*.example.org", "1.2.3.4", "10.0.0.0/8", "2001:db8::/32",
		"::ffff:1.2.3.4", "fe80::1%eth0", "EXAMPLE.org.", "a..b", "1.2.3", "*", "*.a.b", "0.0.0.0/0",
		"::ffff:10.0.0.0/104", "\x00", "a\nb.org", "xn--bcher-kva.example", "_srv._tcp.example.org"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTarget(s)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("%q: error of more than one line: %q", s, err)
			}
			return
		}
		norm := got.String()
		again, err := ParseTarget(norm)
		if err != nil || again != got || again.String() != norm {
			t.Fatalf("%q → %q → %v %v", s, norm, again, err)
		}
		for _, c := range norm {
			if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyz0123456789-_.*:/", c) {
				t.Fatalf("%q → %q has %q", s, norm, c)
			}
		}
		if got.IsNet() != got.Prefix.IsValid() || got.IsNet() == (got.Name != "") {
			t.Fatalf("%q → inconsistent target %+v", s, got)
		}
		if got.Prefix.IsValid() && (got.Prefix != got.Prefix.Masked() || got.Prefix.Addr().Is4In6() || got.Prefix.Addr().Zone() != "") {
			t.Fatalf("%q → prefix not canonical: %v", s, got.Prefix)
		}
	})
}
