package cli

import "bytes"

// Visible replaces control characters other than tab and newline with ^X
// notation (DEL with ^?, C1 controls with ?), so that nothing a task wrote —
// a commit message, a file's content, a diff — can drive the terminal it is
// shown on.
func Visible(text []byte) []byte {
	var b bytes.Buffer
	for _, r := range string(text) {
		switch {
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r < 0x20:
			b.WriteByte('^')
			b.WriteByte(byte(r) + '@')
		case r == 0x7f:
			b.WriteString("^?")
		case r >= 0x80 && r < 0xa0:
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	return b.Bytes()
}
