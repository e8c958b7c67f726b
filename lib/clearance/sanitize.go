package clearance

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// DisplayMax is the longest a destination is shown (Display, Markup).
const DisplayMax = 64

// minSanitize is the smallest cap Sanitize honours: room for the marker
// and a little of either end.
const minSanitize = 16

// cutMarker stands for what a cut left out. Its brackets are always
// escaped in the text itself, so no destination can forge it.
const cutMarker = "[...]"

// Sanitize makes s, a destination a task chose, harmless to show to a
// person on a terminal or in a table, in at most limit bytes (at least 16):
//
//   - only printable ASCII without spaces comes out: a space, a control
//     character or DEL is shown as \xNN, a byte that is not UTF-8 as \xNN,
//     any other character as \uXXXX or \UXXXXXXXX (so Unicode lookalikes,
//     bidirectional overrides and ANSI escapes are visible and inert;
//     punycode, being ASCII, is shown as it is), a backslash as \\ and the
//     brackets as \x5b and \x5d (they are the cut marker's);
//   - a longer result is cut in the middle, never inside an escape, as
//     HEAD[...]TAIL; the head gets at most a quarter, the tail the rest
//     and starts at a label boundary when it keeps at least two whole
//     labels, so the end of the name, where its registered domain is, is
//     always shown and a cut label is never taken for a whole one.
//
// A short printable name is shown unchanged; an uncut result can be turned
// back into s exactly (the escapes are unambiguous).
func Sanitize(s string, limit int) string {
	limit = max(limit, minSanitize)
	toks := tokens(s)
	total := 0
	for _, t := range toks {
		total += len(t)
	}
	if total <= limit {
		return strings.Join(toks, "")
	}
	budget := limit - len(cutMarker)
	headCap := budget / 4

	// The tail: the longest run of whole tokens at the end that fits ...
	start, n := len(toks), 0
	for start > 0 && n+len(toks[start-1]) <= budget-headCap {
		start--
		n += len(toks[start])
	}
	// ... moved to its first label boundary when two labels remain.
	if first := dotAfter(toks, start); first > start && dotAfter(toks, first+1) >= 0 {
		start = first
	}
	// The head: what fits of the beginning in its quarter.
	end, h := 0, 0
	for end < start && h+len(toks[end]) <= headCap {
		h += len(toks[end])
		end++
	}
	return strings.Join(toks[:end], "") + cutMarker + strings.Join(toks[start:], "")
}

// dotAfter is the index of the first "." token at or after i, or -1.
func dotAfter(toks []string, i int) int {
	for ; i < len(toks); i++ {
		if toks[i] == "." {
			return i
		}
	}
	return -1
}

// tokens splits s into what it is shown as: one token per character (or
// undecodable byte), each printable ASCII.
func tokens(s string) []string {
	toks := make([]string, 0, len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			toks = append(toks, fmt.Sprintf(`\x%02x`, s[i]))
		case r == '\\':
			toks = append(toks, `\\`)
		case r == '[' || r == ']' || r <= ' ' || r == 0x7f:
			toks = append(toks, fmt.Sprintf(`\x%02x`, r))
		case r < 0x7f:
			toks = append(toks, s[i:i+1])
		case r <= 0xffff:
			toks = append(toks, fmt.Sprintf(`\u%04x`, r))
		default:
			toks = append(toks, fmt.Sprintf(`\U%08x`, r))
		}
		i += size
	}
	return toks
}

// Display is s sanitised for a terminal or a table, at most DisplayMax
// bytes.
func Display(s string) string { return Sanitize(s, DisplayMax) }

// markupEscaper escapes the characters that are markup in a desktop
// notification body (a subset of HTML).
var markupEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;")

// Markup is s sanitised for a desktop notification body: Display, with the
// markup characters escaped (after the cut, so the cap counts what is
// seen).
func Markup(s string) string { return markupEscaper.Replace(Display(s)) }
