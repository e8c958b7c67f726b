package shieldsvc

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/clearance"
)

func readEvents(t *testing.T, path string) []Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

// Events land in the log in the order they were added, and in time
// order, however many goroutines add them; nothing added before close is
// lost, nor anything added after.
func TestAuditInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit", "abcd2345.jsonl")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	a := openAudit(path, "abcd2345")
	// One goroutine's changes, in order, while others add their own.
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				a.add(Event{Event: "deny", Targets: []string{fmt.Sprintf("g%d-%03d.example", g, i)}})
			}
		}()
	}
	for i := range 200 {
		a.add(Event{Event: "allow", Targets: []string{fmt.Sprintf("%03d.example", i)}})
	}
	wg.Wait()
	a.close()
	a.add(Event{Event: "quarantine"})
	evs := readEvents(t, path)
	if len(evs) != 401 {
		t.Fatalf("%d events, want 401", len(evs))
	}
	next := 0
	last := map[string]string{}
	for i, e := range evs {
		if e.Task != "abcd2345" {
			t.Fatalf("event %d of task %q", i, e.Task)
		}
		if i > 0 && e.Time.Before(evs[i-1].Time) {
			t.Fatalf("event %d (%s) is older than the one before it", i, e.Time)
		}
		switch e.Event {
		case "allow":
			if want := fmt.Sprintf("%03d.example", next); e.Targets[0] != want {
				t.Fatalf("event %d allows %s, want %s: out of order", i, e.Targets[0], want)
			}
			next++
		case "deny":
			g := e.Targets[0][:2]
			if e.Targets[0] <= last[g] {
				t.Fatalf("event %d denies %s after %s: out of order", i, e.Targets[0], last[g])
			}
			last[g] = e.Targets[0]
		}
	}
	if evs[400].Event != "quarantine" {
		t.Fatalf("the event added after close: %+v", evs[400])
	}
}

// Repeated blocked attempts to one destination within AuditWindow are one
// event; the next one after the window says how many were folded.
func TestAuditFolds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "abcd2345.jsonl")
	a := openAudit(path, "abcd2345")
	blocked := Event{Event: "blocked", Reason: "blocked", Dst: "192.0.2.1", Port: 443, Protocol: "tcp"}
	for range 5 {
		a.add(blocked)
	}
	a.add(Event{Event: "refused", Name: "x.example", QType: "A"})
	a.add(Event{Event: "refused", Name: "x.example", QType: "AAAA"})
	other := blocked
	other.Port = 80
	a.add(other)
	a.close()
	evs := readEvents(t, path)
	var got []string
	for _, e := range evs {
		got = append(got, fmt.Sprintf("%s %s %d", e.Event, e.Dst+e.Name, e.Port))
	}
	want := []string{"blocked 192.0.2.1 443", "refused x.example 0", "blocked 192.0.2.1 80"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	// Past the window, the next attempt is logged with the repeats.
	a = openAudit(path, "abcd2345")
	for range 3 {
		a.add(blocked)
	}
	key := fmt.Sprintf("%s %s %s %d %s", blocked.Event, blocked.Name, blocked.Dst, blocked.Port, blocked.Protocol)
	a.close()
	se := a.seen[key]
	se.last = se.last.Add(-AuditWindow)
	a.add(blocked)
	evs = readEvents(t, path)
	if e := evs[len(evs)-1]; e.Event != "blocked" || e.Repeats != 2 {
		t.Fatalf("after the window: %+v, want 2 repeats", e)
	}
}

// A clearance record is written as it is, in order with the shield's own
// events (never folded), and after close too.
func TestAuditClearanceRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "abcd2345.jsonl")
	a := openAudit(path, "abcd2345")
	s := &Service{audit: a}
	r := clearance.Request{ID: "abcdefghijklmnopqrstuvwxyz", Task: "abcd2345", Dest: "203.0.113.9", Port: 443, Proto: "tcp", Kind: clearance.KindBlocked, Count: 2}
	a.add(Event{Event: "blocked", Dst: "203.0.113.9", Port: 443, Protocol: "tcp"})
	s.AuditClearance(clearance.RequestRecord(r, time.Now()))
	s.AuditClearance(clearance.RequestRecord(r, time.Now())) // a record is never folded
	a.add(Event{Event: "allow", Targets: []string{"203.0.113.9"}})
	a.close()
	s.AuditClearance(clearance.VerdictRecord(r, clearance.Verdict{Action: clearance.Allow, Scope: clearance.ScopeOnce, Surface: clearance.SurfaceCLI, Who: 7}, time.Now()))
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec clearance.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		got = append(got, rec.Event+" "+rec.ID+" "+rec.Dst)
	}
	want := []string{"blocked  203.0.113.9", "request " + r.ID + " 203.0.113.9", "request " + r.ID + " 203.0.113.9", "allow  ", "verdict " + r.ID + " 203.0.113.9"}
	if !slices.Equal(got, want) {
		t.Fatalf("audit log\n%q\nwant\n%q", got, want)
	}
}
