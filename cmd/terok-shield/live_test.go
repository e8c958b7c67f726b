package shieldcmd

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/cli"
)

// Audit lines are printed as the warden wrote them when piped, and as a
// line a person reads on a terminal; what is not an event is skipped.
func TestAuditStream(t *testing.T) {
	lines := []string{
		`{"time":"2026-01-02T03:04:05.5Z","task":"2345abcd","event":"blocked","reason":"deny","name":"evil.example","dst":"192.0.2.7","port":443,"protocol":"tcp","repeats":2,"later":"a field this version does not know"}`,
		`{"time":"2026-01-02T03:04:06Z","task":"2345abcd","event":"refused","name":"x.example","qtype":"AAAA"}`,
		`{"time":"2026-01-02T03:04:07Z","task":"2345abcd","event":"down","until":"2026-01-02T03:14:07.25Z"}`,
		`{"time":"2026-01-02T03:04:08Z","task":"2345abcd","event":"allow","targets":["a.example","192.0.2.0/24"]}`,
		`{"time":"2026-01-02T03:04:09Z","task":"2345abcd","event":"down-connection","dst":"198.51.100.1","port":80,"protocol":"tcp"}`,
		`{"time":"2026-01-02T03:04`,
		``,
	}
	var events []auditLine
	for _, l := range lines {
		if e, ok := parseAudit(l); ok {
			events = append(events, e)
		}
	}
	if len(events) != 5 {
		t.Fatalf("%d events parsed, want 5", len(events))
	}
	var piped bytes.Buffer
	out := auditStream(&cli.Env{Stdout: &piped})
	for _, e := range events {
		out.Print(e)
	}
	if want := strings.Join(lines[:5], "\n") + "\n"; piped.String() != want {
		t.Fatalf("piped:\n%s\nwant\n%s", piped.String(), want)
	}
	var tty bytes.Buffer
	out = auditStream(&cli.Env{Stdout: &tty, StdoutTTY: true})
	for _, e := range events {
		out.Print(e)
	}
	at := func(s string) string {
		tm, _ := time.Parse(time.RFC3339, s)
		return tm.Local().Format("15:04:05")
	}
	want := at("2026-01-02T03:04:05Z") + "  2345abcd  blocked         tcp 192.0.2.7:443 (deny) evil.example\n" +
		at("2026-01-02T03:04:06Z") + "  2345abcd  refused         name x.example (AAAA)\n" +
		at("2026-01-02T03:04:07Z") + "  2345abcd  down             until 2026-01-02T03:14:07.25Z\n" +
		at("2026-01-02T03:04:08Z") + "  2345abcd  allow           a.example 192.0.2.0/24\n" +
		at("2026-01-02T03:04:09Z") + "  2345abcd  down-connection tcp 198.51.100.1:80\n"
	if tty.String() != want {
		t.Fatalf("on a terminal:\n%q\nwant\n%q", tty.String(), want)
	}
}
