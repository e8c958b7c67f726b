package manual

import (
	"strings"
)

// roffText escapes the characters that roff would otherwise take as
// requests or render as something else than typed: the backslash, the
// hyphen (so that options and command names stay ASCII minus signs a
// person can copy), quotes and accents (typeset as curly ones otherwise),
// tilde and caret.
var roffText = strings.NewReplacer(
	`\`, `\e`,
	`-`, `\-`,
	`'`, `\(aq`,
	"`", `\(ga`,
	`~`, `\(ti`,
	`^`, `\(ha`,
)

// escape makes s safe as text on a roff line (not at its start: see
// roff.line, which guards a leading dot).
func escape(s string) string { return roffText.Replace(s) }

func bold(s string) string   { return `\fB` + escape(s) + `\fR` }
func italic(s string) string { return `\fI` + escape(s) + `\fR` }

// quoted is s as one argument of a macro.
func quoted(s string) string {
	return `"` + strings.ReplaceAll(escape(s), `"`, `\(dq`) + `"`
}

// roff writes a man(7) page.
type roff struct{ b strings.Builder }

// macro writes a request line: .NAME args (each already formatted).
func (r *roff) macro(name string, args ...string) {
	r.b.WriteString("." + name)
	for _, a := range args {
		r.b.WriteString(" " + a)
	}
	r.b.WriteByte('\n')
}

// comment writes a roff comment line.
func (r *roff) comment(s string) { r.b.WriteString(`.\" ` + s + "\n") }

// line writes one line of already escaped text. A leading dot or
// apostrophe would make it a request, and leading spaces a break: both
// are guarded with the zero-width \&.
func (r *roff) line(s string) {
	if s == "" {
		return
	}
	if s[0] == '.' || s[0] == '\'' || s[0] == ' ' {
		s = `\&` + s
	}
	r.b.WriteString(s + "\n")
}

// example writes one line of an example (between .EX and .EE) as it is;
// an empty one stays a blank line.
func (r *roff) example(s string) {
	if s == "" {
		r.b.WriteString(`\&` + "\n")
		return
	}
	r.line(escape(s))
}

// text writes plain text, escaped, as one filled line.
func (r *roff) text(s string) { r.line(escape(oneLine(s))) }

// item writes a tagged paragraph: tag (escaped and formatted already),
// then the text.
func (r *roff) item(tag, text string) {
	r.macro("TP")
	r.line(tag)
	r.text(text)
}

// section writes a section heading.
func (r *roff) section(title string) {
	if strings.ContainsAny(title, " \"") {
		title = quoted(title)
	} else {
		title = escape(title)
	}
	r.macro("SH", title)
}

func (r *roff) String() string { return r.b.String() }

// oneLine collapses runs of white space, newlines included, to one space.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// writeBody writes a cli.Section's body as roff. The body is paragraphs
// separated by blank lines; within it, a line of the form
// "  name  text" (two leading spaces, then two spaces between) is an item
// of a list (.TP, the name in bold), any other indented line is a line of
// an example, shown as it is, and other lines are running text (.PP).
func writeBody(r *roff, body string) {
	const (
		none = iota
		para
		list
		example
	)
	state := none
	var text []string
	flush := func() {
		if len(text) > 0 {
			r.macro("PP")
			r.text(strings.Join(text, " "))
			text = nil
		}
	}
	endExample := func() {
		if state == example {
			r.macro("EE")
		}
	}
	// Only blank lines are trimmed: the first line may be an indented one.
	body = strings.Trim(strings.ReplaceAll(body, "\r\n", "\n"), "\n")
	for _, ln := range strings.Split(body, "\n") {
		ln = strings.TrimRight(ln, " \t")
		switch {
		case ln == "":
			flush()
			endExample()
			state = none
		case strings.HasPrefix(ln, "  ") && isItem(ln):
			flush()
			endExample()
			name, desc, _ := strings.Cut(strings.TrimLeft(ln, " "), "  ")
			r.item(bold(name), strings.TrimSpace(desc))
			state = list
		case strings.HasPrefix(ln, "  ") || strings.HasPrefix(ln, "\t"):
			flush()
			if state != example {
				r.macro("IP")
				r.macro("EX")
				state = example
			}
			r.example(strings.TrimPrefix(strings.TrimPrefix(ln, "\t"), "  "))
		default:
			endExample()
			text = append(text, strings.TrimSpace(ln))
			state = para
		}
	}
	flush()
	endExample()
}

// isItem reports whether an indented line is "  name  text".
func isItem(ln string) bool {
	s := strings.TrimLeft(ln, " ")
	name, desc, ok := strings.Cut(s, "  ")
	return ok && name != "" && strings.TrimSpace(desc) != ""
}
