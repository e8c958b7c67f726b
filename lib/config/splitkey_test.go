package config

import (
	"slices"
	"testing"
)

// SplitKey: dotted parts, quotes taken off with what they hold kept
// (dots and spaces too), spaces around bare parts dropped.
func TestSplitKey(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"shield", []string{"shield"}},
		{"vault.providers.x", []string{"vault", "providers", "x"}},
		{` vault . "a.b" `, []string{"vault", "a.b"}},
		{`"  spaced  ".'lit'`, []string{"  spaced  ", "lit"}},
	} {
		if got := SplitKey(c.in); !slices.Equal(got, c.want) {
			t.Errorf("SplitKey(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
