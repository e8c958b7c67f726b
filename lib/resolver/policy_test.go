package resolver

import (
	"strings"
	"testing"
)

// Only plain host names reach the policy.
func TestValidHostname(t *testing.T) {
	for _, s := range []string{"pypi.org", "a.b.c", "_dmarc.example.com", "xn--bcher-kva.ch", "localhost", "1.2.3.4",
		strings.Repeat("a", 63) + ".com", strings.Repeat("abcdefgh.", 28) + "a"} {
		if !validHostname(s) {
			t.Errorf("%q refused", s)
		}
	}
	for _, s := range []string{"", ".", "a..b", ".a", "a.", "Pypi.org", "a b.c", `a\.b.c`, `a\000.b`, "a/b.c", "*.a.b",
		"bücher.ch", strings.Repeat("a", 64) + ".com", strings.Repeat("abcdefgh.", 28) + "ab"} {
		if validHostname(s) {
			t.Errorf("%q accepted", s)
		}
	}
}
