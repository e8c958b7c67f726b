package config

import (
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	for in, want := range map[string]string{
		"Example.COM.":          "domain example.com",
		"*.pythonhosted.org":    "wildcard *.pythonhosted.org",
		"a-b.c_d.example":       "domain a-b.c_d.example",
		"192.0.2.7":             "address 192.0.2.7",
		"::ffff:192.0.2.7":      "address 192.0.2.7",
		"2001:DB8::7":           "address 2001:db8::7",
		"192.0.2.77/24":         "range 192.0.2.0/24",
		"2001:db8::1/32":        "range 2001:db8::/32",
		"::ffff:10.0.0.0/104":   "range 10.0.0.0/8",
		"xn--bcher-kva.example": "domain xn--bcher-kva.example",
	} {
		got, err := ParseTarget(in)
		if err != nil || string(got.Kind)+" "+got.String() != want {
			t.Errorf("ParseTarget(%q) = %v %v, want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "localhost", "*.com.", "exa mple.com", "-a.example.com", "a-.example.com", "*.*.example.com",
		"example.com:443", "http://example.com", "10.0.0.0/33", "fe80::1%eth0", "1.2.3", "999.1.1.1", "a..b", "ex\x00.com",
		"*", "*.", "exam;ple.com", strings.Repeat("a", 64) + ".com"} {
		if got, err := ParseTarget(bad); err == nil {
			t.Errorf("ParseTarget(%q) = %v, want an error", bad, got)
		}
	}
	w, _ := ParseTarget("*.example.com")
	if !w.Matches("a.example.com") || !w.Matches("a.b.example.com") || w.Matches("example.com") || w.Matches("badexample.com") {
		t.Error("wildcard matching")
	}
}

// Whatever ParseTarget accepts, it prints in a form it parses back to the
// same target; and it never accepts what nft could read as syntax.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"example.com", "*.example.com", "192.0.2.1", "10.0.0.0/8", "2001:db8::/32", "a b", "{", "1.2.3.4;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := ParseTarget(s)
		if err != nil {
			return
		}
		out := tg.String()
		if strings.ContainsAny(out, " \t\n{};\"'\\$#") {
			t.Fatalf("%q parsed into %q", s, out)
		}
		again, err := ParseTarget(out)
		if err != nil || again != tg {
			t.Fatalf("%q -> %q -> %v %v", s, out, again, err)
		}
	})
}
