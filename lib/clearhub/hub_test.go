package clearhub

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/clearance"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/warden"
	"github.com/terok-ai/terok-go/lib/warden/clearsvc"
)

// fakeShield stands in for a task's shield service (a real one needs a
// task's network namespace): it records the changes asked of it.
type fakeShield struct {
	mu      sync.Mutex
	changes []string
}

func (f *fakeShield) Change(op warden.Op, ts []config.Target, _ string, _ time.Duration) (warden.Rules, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range ts {
		f.changes = append(f.changes, string(op)+" "+t.String())
	}
	return warden.Rules{}, nil
}

func (f *fakeShield) AuditClearance(clearance.AuditRecord) {}

func (f *fakeShield) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.changes...)
}

// fakeWarden is a task's real clearance service behind the real control
// socket, as a warden serves it.
type fakeWarden struct {
	svc    *clearsvc.Service
	shield *fakeShield
	stop   context.CancelFunc
}

func startWarden(t *testing.T, runtime, id, proj string) *fakeWarden {
	t.Helper()
	f := &fakeShield{}
	s := clearsvc.New(clearsvc.Config{Project: proj, Shield: f})
	if err := s.Start(context.Background(), &warden.Task{ID: id}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := warden.ServeControl(ctx, warden.ControlPath(runtime, id), s.Handle); err != nil {
		t.Fatal(err)
	}
	w := &fakeWarden{svc: s, shield: f, stop: func() { _ = s.Close(); cancel() }}
	t.Cleanup(w.stop)
	return w
}

func (w *fakeWarden) attempt(dest string) {
	w.svc.Attempt(clearance.Attempt{Dest: dest, Port: 443, Proto: clearance.ProtoTCP, Kind: clearance.KindBlocked})
}

func newHub(t *testing.T) (*Hub, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "hub") // short: a socket path is at most 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	p := config.Paths{Runtime: filepath.Join(dir, "run"), Config: filepath.Join(dir, "cfg")}
	h := New(p)
	h.Poll = 20 * time.Millisecond
	return h, dir
}

// collector runs Watch and gathers its events.
type collector struct {
	mu   sync.Mutex
	evs  []clearance.Event
	done chan error
}

func watch(t *testing.T, h *Hub, f Filter) *collector {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{done: make(chan error, 1)}
	go func() {
		c.done <- h.Watch(ctx, f, func(ev clearance.Event) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.evs = append(c.evs, ev)
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-c.done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("watch ended with %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("watch did not end with its context")
		}
	})
	return c
}

// wait returns the first event matching ok, within a few seconds.
func (c *collector) wait(t *testing.T, what string, ok func(clearance.Event) bool) clearance.Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		for _, ev := range c.evs {
			if ok(ev) {
				c.mu.Unlock()
				return ev
			}
		}
		c.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t.Fatalf("no event %s among %+v", what, c.evs)
	return clearance.Event{}
}

func (c *collector) all() []clearance.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]clearance.Event(nil), c.evs...)
}

func is(typ clearance.EventType, task, dest string) func(clearance.Event) bool {
	return func(ev clearance.Event) bool { return ev.Type == typ && ev.Task == task && ev.Dest == dest }
}

// Watch merges two wardens' events, the requests pending before it began
// first; it follows a task that starts later; a warden that accepts and
// never answers and a socket left by a dead warden stall nothing; a warden
// that ends hands on its pending requests as expired, and is followed
// again when it comes back.
func TestWatchMergesAndFollows(t *testing.T) {
	h, _ := newHub(t)
	a := startWarden(t, h.Runtime, "aaaa2345", "pa")
	b := startWarden(t, h.Runtime, "bbbb2345", "pb")
	a.attempt("early.example")

	// A warden that accepts but never answers.
	l, err := net.Listen("unix", warden.ControlPath(h.Runtime, "hhhh2345"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	// A socket left by a warden that was killed.
	dead, err := net.Listen("unix", warden.ControlPath(h.Runtime, "dddd2345"))
	if err != nil {
		t.Fatal(err)
	}
	dead.(*net.UnixListener).SetUnlinkOnClose(false)
	_ = dead.Close()

	c := watch(t, h, Filter{})
	c.wait(t, "early pending", is(clearance.EventPending, "aaaa2345", "early.example"))
	b.attempt("b.example")
	c.wait(t, "b pending", is(clearance.EventPending, "bbbb2345", "b.example"))

	// A task started after Watch began.
	n := startWarden(t, h.Runtime, "nnnn2345", "pn")
	time.Sleep(3 * h.Poll)
	n.attempt("late.example")
	c.wait(t, "late pending", is(clearance.EventPending, "nnnn2345", "late.example"))

	// Repeats of a request reach the watcher as updates.
	b.attempt("b.example")
	c.wait(t, "b updated", func(ev clearance.Event) bool {
		return ev.Type == clearance.EventUpdated && ev.Dest == "b.example" && ev.Count == 2
	})

	// b's warden ends: its pending request is expired; a new warden for
	// the task (a restart) is followed again.
	b.stop()
	c.wait(t, "b expired", is(clearance.EventExpired, "bbbb2345", "b.example"))
	for i := 0; i < 100; i++ { // the old server removes its socket as it ends
		if _, err := os.Stat(warden.ControlPath(h.Runtime, "bbbb2345")); err != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	b2 := startWarden(t, h.Runtime, "bbbb2345", "pb")
	time.Sleep(3 * h.Poll)
	b2.attempt("again.example")
	c.wait(t, "after restart", is(clearance.EventPending, "bbbb2345", "again.example"))
	for _, ev := range c.all() {
		if ev.Task == "hhhh2345" || ev.Task == "dddd2345" {
			t.Fatalf("an event of a warden that is not there: %+v", ev)
		}
	}
}

// Filters: by task, by project.
func TestWatchFilter(t *testing.T) {
	h, _ := newHub(t)
	a := startWarden(t, h.Runtime, "aaaa2345", "pa")
	b := startWarden(t, h.Runtime, "bbbb2345", "pb")
	byTask := watch(t, h, Filter{Task: "aaaa2345"})
	byProject := watch(t, h, Filter{Project: "pb"})
	time.Sleep(3 * h.Poll)
	a.attempt("a.example")
	b.attempt("b.example")
	byTask.wait(t, "a", is(clearance.EventPending, "aaaa2345", "a.example"))
	byProject.wait(t, "b", is(clearance.EventPending, "bbbb2345", "b.example"))
	time.Sleep(5 * h.Poll)
	for _, ev := range byTask.all() {
		if ev.Task != "aaaa2345" {
			t.Fatalf("task filter let through %+v", ev)
		}
	}
	for _, ev := range byProject.all() {
		if ev.Project != "pb" {
			t.Fatalf("project filter let through %+v", ev)
		}
	}
	if _, err := h.Pending(context.Background(), Filter{Task: "not a task"}); err == nil {
		t.Fatal("an invalid task id was taken")
	}
}

// Pending lists every warden's requests, oldest first, filtered; a warden
// that does not answer is left out.
func TestPending(t *testing.T) {
	h, _ := newHub(t)
	a := startWarden(t, h.Runtime, "aaaa2345", "pa")
	b := startWarden(t, h.Runtime, "bbbb2345", "pb")
	a.attempt("one.example")
	time.Sleep(5 * time.Millisecond)
	b.attempt("two.example")
	dead, err := net.Listen("unix", warden.ControlPath(h.Runtime, "dddd2345"))
	if err != nil {
		t.Fatal(err)
	}
	dead.(*net.UnixListener).SetUnlinkOnClose(false)
	_ = dead.Close()
	ctx := context.Background()
	all, err := h.Pending(ctx, Filter{})
	if err != nil || len(all) != 2 || all[0].Dest != "one.example" || all[1].Dest != "two.example" {
		t.Fatalf("pending %+v %v", all, err)
	}
	pb, err := h.Pending(ctx, Filter{Project: "pb"})
	if err != nil || len(pb) != 1 || pb[0].Task != "bbbb2345" {
		t.Fatalf("pending of pb %+v %v", pb, err)
	}
	ta, err := h.Pending(ctx, Filter{Task: "aaaa2345"})
	if err != nil || len(ta) != 1 || ta[0].Task != "aaaa2345" {
		t.Fatalf("pending of a %+v %v", ta, err)
	}
}

const projectTOML = `# my project
upstream = "https://example.com/x.git" # where it comes from

[shield]
# more hosts
allow = [
  "docs.example", # the docs
]
`

func writeProject(t *testing.T, h *Hub, name, src string) string {
	t.Helper()
	path := h.Projects.Paths.ProjectFile(name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Decide applies through the task's warden; a verdict for another
// destination, a stale id or an unknown one is refused with the queue's
// sentinel and changes nothing; scope project also writes the project's
// rule, keeping the rest of the file.
func TestDecide(t *testing.T) {
	h, _ := newHub(t)
	a := startWarden(t, h.Runtime, "aaaa2345", "pa")
	path := writeProject(t, h, "pa", projectTOML)
	ctx := context.Background()
	a.attempt("api.example")
	a.attempt("other.example")
	rs, err := h.Pending(ctx, Filter{})
	if err != nil || len(rs) != 2 {
		t.Fatalf("pending %+v %v", rs, err)
	}
	r, o := rs[0], rs[1]
	once := clearance.Verdict{Action: clearance.Allow, Scope: clearance.ScopeOnce, Surface: clearance.SurfaceCLI}
	proj := clearance.Verdict{Action: clearance.Allow, Scope: clearance.ScopeProject, Surface: clearance.SurfaceCLI}

	for _, v := range []clearance.Verdict{once, proj} {
		if _, err := h.Decide(ctx, "aaaa2345", r.ID, "evil.example", v); !errors.Is(err, clearance.ErrDestMismatch) {
			t.Fatalf("mismatched dest: %v", err)
		}
	}
	if _, err := h.Decide(ctx, "aaaa2345", strings.Repeat("a", 26), r.Dest, once); !errors.Is(err, clearance.ErrUnknownID) {
		t.Fatalf("unknown id: %v", err)
	}
	if _, err := h.Decide(ctx, "aaaa2345", "nonsense", r.Dest, once); !errors.Is(err, clearance.ErrUnknownID) {
		t.Fatalf("malformed id: %v", err)
	}
	if _, err := h.Decide(ctx, "bbbb2345", r.ID, r.Dest, once); !errors.Is(err, warden.ErrNoWarden) {
		t.Fatalf("a task without a warden: %v", err)
	}
	if got := a.shield.got(); len(got) != 0 {
		t.Fatalf("a refused verdict changed %v", got)
	}
	if b, _ := os.ReadFile(path); string(b) != projectTOML {
		t.Fatalf("a refused verdict wrote the project:\n%s", b)
	}

	ev, err := h.Decide(ctx, "aaaa2345", r.ID, r.Dest, proj)
	if err != nil || ev.Type != clearance.EventDecided || ev.ID != r.ID || ev.Scope != clearance.ScopeProject {
		t.Fatalf("decide: %+v %v", ev, err)
	}
	if got := a.shield.got(); len(got) != 1 || got[0] != "allow api.example" {
		t.Fatalf("changes %v", got)
	}
	b, _ := os.ReadFile(path)
	want := strings.Replace(projectTOML, "allow = [\n  \"docs.example\", # the docs\n]", `allow = ["docs.example", "api.example"]`, 1)
	if string(b) != want {
		t.Fatalf("project file:\n%s\nwant:\n%s", b, want)
	}
	if _, err := h.Decide(ctx, "aaaa2345", r.ID, r.Dest, once); !errors.Is(err, clearance.ErrStale) {
		t.Fatalf("stale: %v", err)
	}

	// A project file the edit cannot take refuses a project verdict
	// before the task changes.
	writeProject(t, h, "pa", "shield = { allow = [] }\n")
	deny := clearance.Verdict{Action: clearance.Deny, Scope: clearance.ScopeProject, Surface: clearance.SurfaceCLI}
	if _, err := h.Decide(ctx, "aaaa2345", o.ID, o.Dest, deny); err == nil {
		t.Fatal("a project verdict was taken though the project's file cannot be edited")
	}
	if got := a.shield.got(); len(got) != 1 {
		t.Fatalf("changes %v", got)
	}
	// Nor is a project-scoped verdict taken when the project is gone.
	if err := os.RemoveAll(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Decide(ctx, "aaaa2345", o.ID, o.Dest, deny); err == nil {
		t.Fatal("a project verdict was taken without a project")
	}
	if rs, _ := h.Pending(ctx, Filter{}); len(rs) != 1 || rs[0].ID != o.ID {
		t.Fatalf("pending %+v", rs)
	}
}
