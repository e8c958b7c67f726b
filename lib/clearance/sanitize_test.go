package clearance

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSanitizeHostile(t *testing.T) {
	long := strings.Repeat("a", 10*1024) + ".evil.example"
	for _, c := range []struct {
		what, in, display, markup string
	}{
		{"plain name", "api.example.com", "api.example.com", "api.example.com"},
		{"address", "2001:db8::1", "2001:db8::1", "2001:db8::1"},
		{"punycode stays as it is", "xn--80ak6aa92e.com", "xn--80ak6aa92e.com", "xn--80ak6aa92e.com"},
		{"a Cyrillic lookalike", "\u0430pple.com", `\u0430pple.com`, `\u0430pple.com`},
		{"ANSI escape", "\x1b[31mred\x1b[0m.example", `\x1b\x5b31mred\x1b\x5b0m.example`, `\x1b\x5b31mred\x1b\x5b0m.example`},
		{"bold markup", "<b>bold</b>.example", `<b>bold</b>.example`, `&lt;b&gt;bold&lt;/b&gt;.example`},
		{"an entity", "&amp;.example", `&amp;.example`, `&amp;amp;.example`},
		{"a link", `<a href="x">y</a>`, `<a\x20href="x">y</a>`, `&lt;a\x20href=&quot;x&quot;&gt;y&lt;/a&gt;`},
		{"quote", "it's", "it's", "it&#39;s"},
		{"RTL override", "moc.\u202eevil.example", `moc.\u202eevil.example`, `moc.\u202eevil.example`},
		{"NUL", "a\x00b", `a\x00b`, `a\x00b`},
		{"newline and tab", "a\nb\tc\r", `a\x0ab\x09c\x0d`, `a\x0ab\x09c\x0d`},
		{"space", "a b", `a\x20b`, `a\x20b`},
		{"DEL and C1", "a\x7fb\u009bc", `a\x7fb\u009bc`, `a\x7fb\u009bc`},
		{"a backslash cannot forge an escape", `\u0430`, `\\u0430`, `\\u0430`},
		{"brackets cannot forge the cut marker", "a[...]b", `a\x5b...\x5db`, `a\x5b...\x5db`},
		{"invalid UTF-8", "a\xffb\xc3", `a\xffb\xc3`, `a\xffb\xc3`},
		{"astral", "\U0001F600.example", `\U0001f600.example`, `\U0001f600.example`},
		{"zero width joiner", "pay\u200dpal.com", `pay\u200dpal.com`, `pay\u200dpal.com`},
		{"10 KB name keeps its end", long, "aaaaaaaaaaaaaa[...].evil.example", "aaaaaaaaaaaaaa[...].evil.example"},
		{"a long lookalike shows its real domain", "accounts.google.com." + strings.Repeat("x", 60) + ".login.evil.example",
			"accounts.googl[...].login.evil.example", "accounts.googl[...].login.evil.example"},
		{"empty", "", "", ""},
	} {
		if got := Display(c.in); got != c.display {
			t.Errorf("%s: Display = %q, want %q", c.what, got, c.display)
		}
		if got := Markup(c.in); got != c.markup {
			t.Errorf("%s: Markup = %q, want %q", c.what, got, c.markup)
		}
	}
}

func TestSanitizeCut(t *testing.T) {
	for _, c := range []struct {
		in    string
		limit int
		want  string
	}{
		// Exactly at the cap: not cut.
		{strings.Repeat("b", 20), 20, strings.Repeat("b", 20)},
		// One over: cut, the head a quarter at most, the tail the rest.
		{strings.Repeat("b", 21), 20, "bbb[...]bbbbbbbbbbbb"},
		// An escape is never split: the head stops short of it.
		{"\x00\x00" + strings.Repeat("d", 40), 20, "[...]dddddddddddd"},
		// The tail starts at a label when two labels remain ...
		{"head.aaaaaaaa.bb.cc", 16, "he[...].bb.cc"},
		// ... and not when only one would.
		{"head.aaaaaaaaaaaaaaaa.cc", 16, "he[...]aaaaaa.cc"},
		// A cap below the minimum is the minimum.
		{strings.Repeat("c", 40), 1, "cc[...]ccccccccc"},
	} {
		if got := Sanitize(c.in, c.limit); got != c.want {
			t.Errorf("Sanitize(%q, %d) = %q, want %q", c.in, c.limit, got, c.want)
		}
	}
}

// unescape turns an uncut Sanitize result back into its input.
func unescape(t *testing.T, s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '\\':
			b.WriteByte('\\')
			i++
		case 'x':
			n, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
			if err != nil {
				t.Fatalf("bad escape in %q", s)
			}
			b.WriteByte(byte(n))
			i += 3
		case 'u', 'U':
			w := 4
			if s[i+1] == 'U' {
				w = 8
			}
			n, err := strconv.ParseUint(s[i+2:i+2+w], 16, 32)
			if err != nil {
				t.Fatalf("bad escape in %q", s)
			}
			b.WriteRune(rune(n))
			i += 1 + w
		default:
			t.Fatalf("unknown escape in %q", s)
		}
	}
	return b.String()
}

func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"api.example.com", "\x1b[2J", "<b>x</b>", "&amp;", "\u202e", "a\x00b", "\xff\xfe",
		strings.Repeat("x", 300) + ".example", `\u0041`, "[...]", "xn--80ak6aa92e.com"} {
		f.Add(s, 64)
	}
	f.Fuzz(func(t *testing.T, s string, limit int) {
		limit = limit%300 + 1
		if limit < 0 {
			limit += 300
		}
		out := Sanitize(s, limit)
		for i := 0; i < len(out); i++ {
			if out[i] <= ' ' || out[i] >= 0x7f {
				t.Fatalf("Sanitize(%q) = %q: byte %#x", s, out, out[i])
			}
		}
		if len(out) > max(limit, minSanitize) {
			t.Fatalf("Sanitize(%q, %d) = %q: %d bytes", s, limit, out, len(out))
		}
		full := Sanitize(s, 1<<30)
		if strings.Contains(full, "[") || strings.Contains(full, "]") {
			t.Fatalf("uncut %q has a bracket: %q", s, full)
		}
		if out == full {
			if got := unescape(t, out); got != s {
				t.Fatalf("Sanitize(%q) = %q does not map back (got %q)", s, out, got)
			}
		} else {
			head, tail, ok := strings.Cut(out, cutMarker)
			if !ok || strings.Contains(tail, cutMarker) || !strings.HasPrefix(full, head) || !strings.HasSuffix(full, tail) ||
				len(head) > (max(limit, minSanitize)-len(cutMarker))/4 {
				t.Fatalf("Sanitize(%q, %d) = %q: not a head and a tail of %q", s, limit, out, full)
			}
		}
		if !utf8.ValidString(out) {
			t.Fatal("invalid UTF-8")
		}
		m := Markup(s)
		if strings.ContainsAny(m, `<>"'`) {
			t.Fatalf("Markup(%q) = %q has markup", s, m)
		}
		if strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(m,
			"&amp;", ""), "&lt;", ""), "&gt;", ""), "&quot;", ""), "&#39;", "") != strings.Map(func(r rune) rune {
			if strings.ContainsRune(`&<>"'`, r) {
				return -1
			}
			return r
		}, Display(s)) {
			t.Fatalf("Markup(%q) = %q: not Display with entities", s, m)
		}
	})
}
