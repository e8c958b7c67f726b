package manual

import (
	"strings"
	"testing"
)

func TestEscape(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain", "plain"},
		{`back\slash`, `back\eslash`},
		{"--json", `\-\-json`},
		{"terok-project", `terok\-project`},
		{"it's", `it\(aqs`},
		{"`tick`", `\(gatick\(ga`},
		{"~/src", `\(ti/src`},
		{"a^b", `a\(hab`},
		{`\fB`, `\efB`},
		{`."dot"`, `."dot"`}, // a leading dot is guarded by roff.line
	} {
		if got := escape(c.in); got != c.want {
			t.Errorf("escape(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestLineGuardsRequests(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{".TH oops", `\&.TH oops`},
		{"'br", `\&'br`},
		{"  indented", `\&  indented`},
		{"fine.", "fine."},
	} {
		r := &roff{}
		r.line(c.in)
		if got := strings.TrimSuffix(r.String(), "\n"); got != c.want {
			t.Errorf("line(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	r := &roff{}
	r.text(".starts with a dot, it's\nover two lines")
	if got, want := r.String(), `\&.starts with a dot, it\(aqs over two lines`+"\n"; got != want {
		t.Errorf("text = %q, want %q", got, want)
	}
}

func TestQuoted(t *testing.T) {
	if got, want := quoted(`say "hi" -x`), `"say \(dqhi\(dq \-x"`; got != want {
		t.Errorf("quoted = %q, want %q", got, want)
	}
}

func TestWriteBody(t *testing.T) {
	r := &roff{}
	writeBody(r, `  0  success
  124  too slow

Text that runs
over two lines.

  terok-project ls | jq -r .name

  cmd --a  b`)
	want := `.TP
\fB0\fR
success
.TP
\fB124\fR
too slow
.PP
Text that runs over two lines.
.IP
.EX
terok\-project ls | jq \-r .name
.EE
.TP
\fBcmd \-\-a\fR
b
`
	if got := r.String(); got != want {
		t.Errorf("writeBody:\n%s\nwant:\n%s", got, want)
	}
}
