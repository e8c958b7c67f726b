package resolver

import (
	"strings"
	"testing"
)

func TestMatcher(t *testing.T) {
	m, err := NewMatcher(
		[]string{"pypi.org", "*.pythonhosted.org", "Example.COM.", "*.deep.example.net", "api.example.org"},
		[]string{"evil.pythonhosted.org", "*.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"pypi.org":                    true,
		"PyPI.org.":                   true,
		"www.pypi.org":                false, // exact names are exact
		"files.pythonhosted.org":      true,
		"a.b.files.pythonhosted.org":  true,
		"pythonhosted.org":            false, // a wildcard is not its apex
		"xpythonhosted.org":           false,
		"evil.pythonhosted.org":       false, // deny beats allow
		"a.evil.pythonhosted.org":     true,  // an exact deny is exact
		"example.com":                 true,
		"x.deep.example.net":          true,
		"deep.example.net":            false,
		"example.net":                 false,
		"api.example.org":             false, // a wildcard deny beats an exact allow
		"org":                         false,
		"":                            false,
		"pypi.org.evil.test":          false,
		"files.pythonhosted.org.evil": false,
	} {
		if got := m.Allowed(name); got != want {
			t.Errorf("Allowed(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestParsePattern(t *testing.T) {
	good := map[string]struct {
		name     string
		wildcard bool
	}{
		"pypi.org":                       {"pypi.org", false},
		" PyPI.Org. ":                    {"pypi.org", false},
		"*.github.com":                   {"github.com", true},
		"_dmarc.example.com":             {"_dmarc.example.com", false},
		"xn--bcher-kva.ch":               {"xn--bcher-kva.ch", false},
		"localhost":                      {"localhost", false},
		strings.Repeat("a", 63) + ".com": {strings.Repeat("a", 63) + ".com", false},
	}
	for in, want := range good {
		name, wildcard, err := ParsePattern(in)
		if err != nil || name != want.name || wildcard != want.wildcard {
			t.Errorf("ParsePattern(%q) = %q, %v, %v", in, name, wildcard, err)
		}
	}
	for _, in := range []string{"", "*", "*.", ".", "a..b", ".a.b", "a.*.b", "**.a", "*a.b", "a b.c", "a/b.c",
		"a\\.b.c", "1.2.3.4/24", "[::1]", "bücher.ch", strings.Repeat("a", 64) + ".com",
		strings.Repeat("abcdefghi.", 26) + "com"} {
		if _, _, err := ParsePattern(in); err == nil {
			t.Errorf("ParsePattern(%q) accepted", in)
		}
	}
	if _, err := NewMatcher([]string{"ok.test", "bad name"}, nil); err == nil {
		t.Error("NewMatcher accepted a bad allow pattern")
	}
	if _, err := NewMatcher(nil, []string{"*"}); err == nil {
		t.Error("NewMatcher accepted a bad deny pattern")
	}
}
