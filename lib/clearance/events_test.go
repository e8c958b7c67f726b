package clearance

import (
	"encoding/json"
	"testing"
	"time"
)

// The field names of Event are the JSON lines of `terok-clearance watch`:
// they must not change by accident.
func TestEventJSON(t *testing.T) {
	q, clk := newTestQueue(t, Config{Task: "t9", Project: "web"})
	sub, _ := q.Subscribe()
	r, _ := mustAdd(t, q, Attempt{Dest: "192.0.2.1", Port: 443, Proto: ProtoTCP, Kind: KindBlocked})
	clk.Advance(time.Second)
	if _, err := q.Decide(r.ID, r.Dest, Verdict{Action: Allow, Scope: ScopeDuration, Duration: time.Hour, Who: 0, Surface: SurfaceJSON}); err != nil {
		t.Fatal(err)
	}
	sub.Close()
	var lines []string
	for ev := range sub.C {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(b))
	}
	want := []string{
		`{"type":"pending","id":"` + r.ID + `","task":"t9","project":"web","dest":"192.0.2.1","port":443,"proto":"tcp","kind":"blocked","first_seen":"2026-01-02T03:04:05Z","last_seen":"2026-01-02T03:04:05Z","count":1}`,
		// who 0 is root, and is shown.
		`{"type":"decided","id":"` + r.ID + `","task":"t9","project":"web","dest":"192.0.2.1","port":443,"proto":"tcp","kind":"blocked","first_seen":"2026-01-02T03:04:05Z","last_seen":"2026-01-02T03:04:05Z","count":1,"action":"allow","scope":"for-duration","duration":"1h0m0s","who":0,"surface":"json"}`,
	}
	if len(lines) != len(want) {
		t.Fatalf("events %q", lines)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("event %d:\n got %s\nwant %s", i, lines[i], want[i])
		}
	}
	// An overflow request says how many more; a refused name has no port.
	q2, _ := newTestQueue(t, Config{Task: "t9", Project: "web", MaxPending: 1})
	mustAdd(t, q2, name("a.example"))
	of, _ := mustAdd(t, q2, name("b.example"))
	b, _ := json.Marshal(Event{Type: EventPending, Request: of})
	wantOf := `{"type":"pending","id":"` + of.ID + `","task":"t9","project":"web","dest":"","kind":"overflow","first_seen":"2026-01-02T03:04:05Z","last_seen":"2026-01-02T03:04:05Z","count":1,"more":1}`
	if string(b) != wantOf {
		t.Errorf("overflow event:\n got %s\nwant %s", b, wantOf)
	}
}
