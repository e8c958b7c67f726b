package config

import (
	"strings"
)

// keyLine finds the line on which key is defined in TOML source that has
// already parsed. The TOML library does not expose key positions, so this
// reads the lines itself: table headers set the current table, and
// "key = value" lines (bare, quoted or dotted keys) define keys in it.
// Multi-line strings are skipped. It returns 0 when the key is not found
// (for example when it is defined in an inline table).
func keyLine(src []byte, key []string) int {
	want := strings.Join(key, "\x00")
	var table []string
	inMulti := ""
	for i, line := range strings.Split(string(src), "\n") {
		s := strings.TrimSpace(line)
		if inMulti != "" {
			if strings.Contains(s, inMulti) {
				inMulti = ""
			}
			continue
		}
		if s == "" || s[0] == '#' {
			continue
		}
		if s[0] == '[' {
			table = SplitKey(strings.TrimSpace(strings.Trim(strings.SplitN(s, "#", 2)[0], " \t[]")))
			if strings.Join(table, "\x00") == want {
				return i + 1
			}
			continue
		}
		eq := keyEnd(s)
		if eq < 0 {
			continue
		}
		full := append(append([]string{}, table...), SplitKey(strings.TrimSpace(s[:eq]))...)
		if j := strings.Join(full, "\x00"); j == want || strings.HasPrefix(j, want+"\x00") {
			return i + 1
		}
		rest := s[eq+1:]
		for _, q := range []string{`"""`, `'''`} {
			if strings.Count(rest, q) == 1 {
				inMulti = q
			}
		}
	}
	return 0
}

// keyEnd returns the index of the '=' that ends the key part of s, minding
// quoted keys, or -1.
func keyEnd(s string) int {
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			}
		case c == '"' || c == '\'':
			q = c
		case c == '=':
			return i
		}
	}
	return -1
}

// SplitKey splits a dotted TOML key into its parts: quoted parts
// unquoted (their spaces kept), spaces and tabs around bare parts and
// dots dropped.
func SplitKey(s string) []string {
	var parts []string
	var cur strings.Builder
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '"' || c == '\'':
			q = c
		case c == '.':
			parts = append(parts, cur.String())
			cur.Reset()
		case c == ' ' || c == '\t':
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, cur.String())
}
