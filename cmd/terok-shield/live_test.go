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
		`{"time":"2026-01-02T03:04:10Z","task":"2345abcd","event":"request","id":"c-7f3a","kind":"refused","name":"api.example","protocol":"dns-name"}`,
		`{"time":"2026-01-02T03:04:11Z","task":"2345abcd","event":"verdict","id":"c-7f3a","kind":"refused","name":"api.example","protocol":"dns-name","count":3,"action":"allow","scope":"for-duration","until":"2026-01-02T04:04:11Z","who":1000,"surface":"cli"}`,
		`{"time":"2026-01-02T03:04:12Z","task":"2345abcd","event":"verdict","id":"c-0b1c","kind":"blocked","dst":"192.0.2.9","port":443,"protocol":"tcp","count":1,"action":"deny","scope":"once","who":0,"surface":"notify","error":"the warden is gone"}`,
		`{"time":"2026-01-02T03:04:13Z","task":"2345abcd","event":"refused","name":"x\u001b[2J\u001b]0;pwned\u0007.example","qtype":"A"}`,
		`{"time":"2026-01-02T03:04`,
		``,
	}
	var events []auditLine
	for _, l := range lines {
		if e, ok := parseAudit(l); ok {
			events = append(events, e)
		}
	}
	if len(events) != 9 {
		t.Fatalf("%d events parsed, want 9", len(events))
	}
	var piped bytes.Buffer
	out := auditStream(&cli.Env{Stdout: &piped})
	for _, e := range events {
		if err := out.Print(e); err != nil {
			t.Fatal(err)
		}
	}
	if want := strings.Join(lines[:9], "\n") + "\n"; piped.String() != want {
		t.Fatalf("piped:\n%s\nwant\n%s", piped.String(), want)
	}
	var tty bytes.Buffer
	out = auditStream(&cli.Env{Stdout: &tty, StdoutTTY: true})
	for _, e := range events {
		if err := out.Print(e); err != nil {
			t.Fatal(err)
		}
	}
	at := func(s string) string {
		tm, _ := time.Parse(time.RFC3339, s)
		return tm.Local().Format("15:04:05")
	}
	want := at("2026-01-02T03:04:05Z") + "  2345abcd  blocked         tcp 192.0.2.7:443 (deny) evil.example\n" +
		at("2026-01-02T03:04:06Z") + "  2345abcd  refused         name x.example (AAAA)\n" +
		at("2026-01-02T03:04:07Z") + "  2345abcd  down             until 2026-01-02T03:14:07.25Z\n" +
		at("2026-01-02T03:04:08Z") + "  2345abcd  allow           a.example 192.0.2.0/24\n" +
		at("2026-01-02T03:04:09Z") + "  2345abcd  down-connection tcp 198.51.100.1:80\n" +
		at("2026-01-02T03:04:10Z") + "  2345abcd  request         c-7f3a api.example dns-name (refused)\n" +
		at("2026-01-02T03:04:11Z") + "  2345abcd  verdict         c-7f3a api.example dns-name allow for-duration until 2026-01-02T04:04:11Z by uid 1000 via cli (3 attempts)\n" +
		at("2026-01-02T03:04:12Z") + "  2345abcd  verdict         c-0b1c 192.0.2.9:443 tcp deny once by uid 0 via notify: failed: the warden is gone\n"
	if got, _, _ := strings.Cut(tty.String(), at("2026-01-02T03:04:13Z")); got != want {
		t.Fatalf("on a terminal:\n%q\nwant\n%q", tty.String(), want)
	}
	// A name a task chose reaches the terminal without its escapes.
	last := tty.String()[len(want):]
	if strings.ContainsAny(last, "\x1b\x07") || !strings.Contains(last, "refused") {
		t.Fatalf("a hostile name on a terminal: %q", last)
	}
}
