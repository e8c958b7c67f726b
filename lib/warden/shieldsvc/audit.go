package shieldsvc

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/terok-ai/terok-go/lib/store"
)

// AuditWindow is how long a repeated blocked attempt to one destination
// stays one audit event.
const AuditWindow = 30 * time.Second

// Event is a line of a task's shield audit log.
type Event struct {
	Time     time.Time `json:"time"`
	Task     string    `json:"task"`
	Event    string    `json:"event"`            // blocked, refused, allow, deny, allow-ended, down, up, quarantine, start, down-connection; the clearance's request and verdict (clearance.AuditRecord)
	Reason   string    `json:"reason,omitempty"` // blocked: deny, restricted, dns, blocked; name, no-name (the egress forwarder)
	Name     string    `json:"name,omitempty"`   // refused: the name; blocked: the name last resolved for the address
	QType    string    `json:"qtype,omitempty"`
	Dst      string    `json:"dst,omitempty"`
	Port     uint16    `json:"port,omitempty"`
	Protocol string    `json:"protocol,omitempty"`
	Targets  []string  `json:"targets,omitempty"`
	Until    time.Time `json:"until,omitzero"`
	Repeats  int       `json:"repeats,omitempty"` // attempts folded into this one since the last event for the destination
}

// auditLog writes a task's audit events from one goroutine, in the order
// they were added (and so in time order): the control handler, the
// resolver and the firewall log reader all add to it. Blocked attempts,
// refused names and connections while down are folded per destination
// over AuditWindow.
type auditLog struct {
	path string
	task string

	mu     sync.Mutex // orders add: time stamp and queue together
	closed bool
	queue  chan *queued // pointers: a buffer of 256 events would hold 56 KiB for the task's life
	done   chan struct{}

	seen map[string]*seenEntry // the writer's own
}

// queued is an event (or a record of another kind, written as it is) and
// what its writing closes.
type queued struct {
	e       Event
	rec     any
	written chan struct{}
}

type seenEntry struct {
	last    time.Time
	repeats int
}

func openAudit(path, task string) *auditLog {
	a := &auditLog{path: path, task: task, queue: make(chan *queued, 256), done: make(chan struct{}),
		seen: map[string]*seenEntry{}}
	go a.write()
	return a
}

// add stamps an event, queues it for the writer and returns once it is
// written (or folded): a refused name is on record before the resolver
// answers, a live change before its reply. After close it writes the event
// itself (a control request still being answered when the warden ends),
// still after everything queued before.
func (a *auditLog) add(e Event) {
	a.mu.Lock()
	e.Time, e.Task = time.Now().UTC(), a.task
	if a.closed {
		defer a.mu.Unlock()
		<-a.done // the writer has written everything queued
		a.append(e)
		return
	}
	q := &queued{e: e, written: make(chan struct{})}
	a.queue <- q
	a.mu.Unlock()
	<-q.written
}

// addRecord is add for a record of another kind (the clearance's): it is
// written as it is, with its own time stamp, never folded.
func (a *auditLog) addRecord(r any) {
	a.mu.Lock()
	if a.closed {
		defer a.mu.Unlock()
		<-a.done
		a.appendRecord(r)
		return
	}
	q := &queued{rec: r, written: make(chan struct{})}
	a.queue <- q
	a.mu.Unlock()
	<-q.written
}

func (a *auditLog) appendRecord(r any) {
	if err := store.AppendJSON(a.path, r); err != nil {
		fmt.Fprintf(os.Stderr, "warden: audit: %v\n", err)
	}
}

// close writes what is queued and stops the writer.
func (a *auditLog) close() {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		close(a.queue)
	}
	a.mu.Unlock()
	<-a.done
}

func (a *auditLog) write() {
	defer close(a.done)
	for q := range a.queue {
		if q.rec != nil {
			a.appendRecord(q.rec)
		} else {
			a.append(q.e)
		}
		close(q.written)
	}
}

// append writes an event unless it folds into an earlier one. Only one
// goroutine runs it at a time: the writer, or add once the writer is done.
func (a *auditLog) append(e Event) {
	if e.Event == "blocked" || e.Event == "refused" || e.Event == "down-connection" {
		key := fmt.Sprintf("%s %s %s %d %s", e.Event, e.Name, e.Dst, e.Port, e.Protocol)
		if e.Event == "refused" {
			key = "refused " + e.Name
		}
		se := a.seen[key]
		if se != nil && e.Time.Sub(se.last) < AuditWindow {
			se.repeats++
			return
		}
		if se != nil {
			e.Repeats = se.repeats
		}
		if len(a.seen) > 4096 {
			// A task that tries many destinations: forget the quiet ones.
			for k, v := range a.seen {
				if e.Time.Sub(v.last) >= AuditWindow {
					delete(a.seen, k)
				}
			}
		}
		a.seen[key] = &seenEntry{last: e.Time}
	}
	if err := store.AppendJSON(a.path, e); err != nil {
		fmt.Fprintf(os.Stderr, "warden: audit: %v\n", err)
	}
}
