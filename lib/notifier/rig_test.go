package notifier

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/clearance"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/notifier/notifytest"
	"github.com/terok-ai/terok-go/lib/testenv"
	"github.com/terok-ai/terok-go/lib/warden"
	"github.com/terok-ai/terok-go/lib/warden/clearsvc"
)

// The rig: a real dbus-daemon of the test's own, the test notification
// server on it (the only stand-in: no desktop exists here), real clearance
// services behind real warden control sockets (with a shield that records
// the changes, as clearsvc's own tests have: a real shield needs a task's
// network namespace), and the notifier between them.

// recordingShield records what the clearance service asks of the shield.
type recordingShield struct {
	mu      sync.Mutex
	changes []string // "allow api.example.com"
	audit   []clearance.AuditRecord
	fail    error
}

func (f *recordingShield) Change(op warden.Op, ts []config.Target, _ string, _ time.Duration) (warden.Rules, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return warden.Rules{}, f.fail
	}
	for _, t := range ts {
		f.changes = append(f.changes, string(op)+" "+t.String())
	}
	return warden.Rules{}, nil
}

func (f *recordingShield) AuditClearance(r clearance.AuditRecord) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.audit = append(f.audit, r)
}

func (f *recordingShield) state() ([]string, []clearance.AuditRecord) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.changes...), append([]clearance.AuditRecord(nil), f.audit...)
}

// wardenTask is one task's clearance service behind its control socket.
type wardenTask struct {
	id     string
	svc    *clearsvc.Service
	shield *recordingShield
	client *warden.Client
}

func (w *wardenTask) attempt(dest string, port uint16) {
	a := clearance.Attempt{Dest: dest, Port: port, Proto: clearance.ProtoTCP, Kind: clearance.KindBlocked}
	if port == 0 {
		a.Proto, a.Kind = clearance.ProtoDNSName, clearance.KindRefused
	}
	w.svc.Attempt(a)
}

// wardens is the Source over some tasks' wardens: their streams merged
// (what lib/clearhub does for every task), a verdict sent to its task's.
type wardens struct {
	runtime string
	ids     []string
}

func (w wardens) Watch(ctx context.Context, each func(clearance.Event) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	errc := make(chan error, len(w.ids))
	for _, id := range w.ids {
		go func() {
			errc <- warden.NewClient(w.runtime, id).Watch(ctx, func(ev clearance.Event) error {
				mu.Lock()
				defer mu.Unlock()
				return each(ev)
			})
		}()
	}
	err := <-errc // one ending ends them all: the notifier watches again
	cancel()
	for range len(w.ids) - 1 { // the others end with the cancel
		if e := <-errc; err == nil {
			err = e
		}
	}
	return err
}

func (w wardens) Decide(ctx context.Context, task, id, dest string, v clearance.Verdict) (clearance.Event, error) {
	return warden.NewClient(w.runtime, task).Decide(ctx, id, dest, v)
}

type rig struct {
	t       testing.TB
	dir     string
	bus     *notifytest.Bus
	srv     *notifytest.Server
	runtime string
	tasks   map[string]*wardenTask
	src     wardens
	src2    Source // when set, the notifier's Source instead of src
	logs    *logBuffer
}

type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBuffer) logf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, a...))
}

func (l *logBuffer) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// newRig starts the bus, the server and a warden per task id (queues with
// qc's bounds). The notifier is started by run.
func newRig(t testing.TB, qc clearance.Config, ids ...string) *rig {
	t.Helper()
	testenv.Tool(t, "dbus-daemon", "dbus-daemon")
	dir, err := os.MkdirTemp("", "notifier") // short: socket paths are at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	r := &rig{t: t, dir: dir, runtime: filepath.Join(dir, "run"), tasks: map[string]*wardenTask{}, logs: &logBuffer{}}
	if r.bus, err = notifytest.StartBus(filepath.Join(dir, "bus")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.bus.Kill)
	r.srv = notifytest.New(r.bus.Addr)
	if err := r.srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.srv.Stop() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, id := range ids {
		f := &recordingShield{}
		svc := clearsvc.New(clearsvc.Config{Project: "proj", Shield: f, Queue: qc})
		if err := svc.Start(ctx, &warden.Task{ID: id}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = svc.Close() })
		if _, err := warden.ServeControl(ctx, warden.ControlPath(r.runtime, id), svc.Handle); err != nil {
			t.Fatal(err)
		}
		r.tasks[id] = &wardenTask{id: id, svc: svc, shield: f, client: warden.NewClient(r.runtime, id)}
	}
	r.src = wardens{runtime: r.runtime, ids: ids}
	return r
}

// run starts the notifier; it is stopped (and must have returned nil) at
// cleanup.
func (r *rig) run(o Options) {
	r.t.Helper()
	if o.Bus == "" {
		o.Bus = r.bus.Addr
	}
	o.Logf = r.logs.logf
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var src Source = r.src
	if r.src2 != nil {
		src = r.src2
	}
	go func() { done <- Run(ctx, src, o) }()
	r.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				r.t.Errorf("the notifier ended with %v", err)
			}
		case <-time.After(10 * time.Second):
			r.t.Error("the notifier did not end with its context")
		}
	})
}

// wait waits (up to 10 s) for a notification that ok accepts, among those
// after the first skip, and returns it.
func (r *rig) wait(skip int, what string, ok func(notifytest.Notification) bool) notifytest.Notification {
	r.t.Helper()
	var found notifytest.Notification
	got, err := r.srv.Wait(10*time.Second, func(ns []notifytest.Notification) bool {
		for _, n := range ns[min(skip, len(ns)):] {
			if ok(n) {
				found = n
				return true
			}
		}
		return false
	})
	if err != nil {
		r.t.Fatalf("%s: %v; the server got:\n%s\nthe notifier said: %q", what, err, dump(got), r.logs.all())
	}
	return found
}

// popupFor waits for a request popup (with actions) whose body names dest.
func (r *rig) popupFor(skip int, dest string) notifytest.Notification {
	r.t.Helper()
	return r.wait(skip, "a popup for "+dest, func(n notifytest.Notification) bool {
		return len(n.Actions) > 0 && strings.Contains(n.Body, "<b>"+dest+"</b>")
	})
}

func dump(ns []notifytest.Notification) string {
	var b strings.Builder
	for _, n := range ns {
		b.WriteString("  " + strings.ReplaceAll(strings.Join([]string{
			itoa(n.ID), "replaces " + itoa(n.ReplacesID), n.Summary, n.Body, strings.Join(n.Labels(), "/")}, " | "), "\n", "\\n") + "\n")
	}
	return b.String()
}

func itoa(u uint32) string { return strconv.FormatUint(uint64(u), 10) }
