package notifier

import (
	"fmt"
	"html"
	"strings"

	"github.com/terok-ai/terok-go/lib/clearance"
)

// render is a request's popup. The summary is plain text (the
// specification's) and holds no string a task chose; the body is the
// markup subset, and every string in it that did not come from terok
// itself (the destination, the protocol, the task and project names) is
// clearance.Markup's: printable ASCII, at most DisplayMax long, markup
// escaped.
func render(r clearance.Request) (summary, body string) {
	where := fmt.Sprintf("task %s, project %s", clearance.Markup(r.Task), clearance.Markup(r.Project))
	if r.Kind == clearance.KindOverflow {
		return "terok: more destinations blocked",
			fmt.Sprintf("and %d more destinations (%d attempts)\n%s\nDecide them in a terminal: terok-clearance", r.More, r.Count, where)
	}
	summary = "terok: blocked connection"
	if r.Kind == clearance.KindRefused {
		summary = "terok: refused name"
	}
	if r.Count > 1 {
		summary += fmt.Sprintf(" (%d attempts)", r.Count)
	}
	return summary, destination(r) + "\n" + where
}

// destination is the request's destination in bold, with its port and
// protocol when it has them.
func destination(r clearance.Request) string {
	s := "<b>" + clearance.Markup(r.Dest) + "</b>"
	if r.Port != 0 {
		s += fmt.Sprintf(" port %d/%s", r.Port, clearance.Markup(r.Proto))
	}
	return s
}

// renderFinal is the popup that replaces a request's once it is decided:
// ev is the decided event; err, when set, is why a click decided nothing.
func renderFinal(r clearance.Request, ev clearance.Event, err error) (summary, body string) {
	body = destination(r) + "\n" + fmt.Sprintf("task %s, project %s", clearance.Markup(r.Task), clearance.Markup(r.Project))
	switch {
	case err != nil:
		return "Not decided", body + "\n" + message(err.Error())
	case ev.Error != "":
		summary = "Allow failed"
		if ev.Action == clearance.Deny {
			summary = "Deny failed"
		}
		return summary, body + "\n" + message(ev.Error)
	case ev.Action == clearance.Allow && ev.Scope == clearance.ScopeProject:
		summary = "Allowed for project"
	case ev.Action == clearance.Allow:
		summary = "Allowed"
	default:
		summary = "Denied"
	}
	if ev.Surface != "" && ev.Surface != clearance.SurfaceNotify {
		body += "\n(decided in " + html.EscapeString(string(ev.Surface)) + ")"
	}
	return summary, body
}

// maxMessage is the longest failure text shown.
const maxMessage = 200

// message is an error's text for a body: it may quote what a task chose,
// so it is cut to maxMessage bytes, anything but printable ASCII becomes
// "?" and markup is escaped.
func message(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < maxMessage; i++ {
		c := s[i]
		if c < ' ' || c > '~' {
			c = '?'
		}
		b.WriteByte(c)
	}
	if b.Len() < len(s) {
		b.WriteString("...")
	}
	return html.EscapeString(b.String())
}
