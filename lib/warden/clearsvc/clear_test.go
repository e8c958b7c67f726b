package clearsvc

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/clearance"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/warden"
)

// fakeShield records the changes and audit records the service asks of
// the shield: a real shield service needs a task's network namespace.
type fakeShield struct {
	mu      sync.Mutex
	changes []change
	audit   []clearance.AuditRecord
	fail    error
}

type change struct {
	op      warden.Op
	targets []string
	from    string
	d       time.Duration
}

func (f *fakeShield) Change(op warden.Op, ts []config.Target, from string, d time.Duration) (warden.Rules, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return warden.Rules{}, f.fail
	}
	var out []string
	for _, t := range ts {
		out = append(out, t.String())
	}
	f.changes = append(f.changes, change{op, out, from, d})
	return warden.Rules{}, nil
}

func (f *fakeShield) AuditClearance(r clearance.AuditRecord) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.audit = append(f.audit, r)
}

func (f *fakeShield) state() ([]change, []clearance.AuditRecord) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]change(nil), f.changes...), append([]clearance.AuditRecord(nil), f.audit...)
}

func start(t *testing.T) (*Service, *fakeShield) {
	t.Helper()
	f := &fakeShield{}
	s := New(Config{Project: "proj", Shield: f})
	s.Attempt(clearance.Attempt{Dest: "early.example", Proto: clearance.ProtoDNSName, Kind: clearance.KindRefused}) // before Start: dropped
	if err := s.Start(context.Background(), &warden.Task{ID: "abcd2345"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, f
}

// peer is a control handler's context with the caller's uid.
func peer(t *testing.T, s *Service) (*warden.Client, context.Context) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, err := warden.ServeControl(ctx, warden.ControlPath(dir, "abcd2345"), s.Handle); err != nil {
		t.Fatal(err)
	}
	return warden.NewClient(dir, "abcd2345"), ctx
}

func pendingOne(t *testing.T, c *warden.Client, ctx context.Context) clearance.Request {
	t.Helper()
	ps, err := c.Pending(ctx)
	if err != nil || len(ps) != 1 {
		t.Fatalf("pending: %+v %v", ps, err)
	}
	return ps[0]
}

// An attempt becomes a pending request (on record in the audit log once);
// an allow is applied through the shield as terok-shield allow is, with
// the caller's uid, and leaves a verdict record; the request is gone.
func TestDecideAllow(t *testing.T) {
	s, f := start(t)
	c, ctx := peer(t, s)
	for range 3 {
		s.Attempt(clearance.Attempt{Dest: "api.example.com", Port: 443, Proto: clearance.ProtoTCP, Kind: clearance.KindBlocked})
	}
	r := pendingOne(t, c, ctx)
	if r.Dest != "api.example.com" || r.Count != 3 || r.Task != "abcd2345" || r.Project != "proj" {
		t.Fatalf("request %+v", r)
	}
	ev, err := c.Decide(ctx, r.ID, r.Dest, clearance.Verdict{Action: clearance.Allow, Scope: clearance.ScopeOnce, Surface: clearance.SurfaceCLI, Who: 4242})
	if err != nil || ev.Type != clearance.EventDecided || ev.ID != r.ID || ev.Who == nil || *ev.Who != uint32(os.Getuid()) {
		t.Fatalf("decide: %+v %v", ev, err)
	}
	changes, audit := f.state()
	if len(changes) != 1 || changes[0].op != warden.OpAllow || changes[0].targets[0] != "api.example.com" || changes[0].from != "terok-clearance allow" || changes[0].d != 0 {
		t.Fatalf("changes %+v", changes)
	}
	if len(audit) != 2 || audit[0].Event != clearance.AuditRequest || audit[1].Event != clearance.AuditVerdict ||
		audit[1].ID != r.ID || audit[1].Name != "api.example.com" || audit[1].Count != 3 || *audit[1].Who != uint32(os.Getuid()) {
		t.Fatalf("audit %+v", audit)
	}
	if ps, _ := c.Pending(ctx); len(ps) != 0 {
		t.Fatalf("still pending: %+v", ps)
	}
	// A second verdict on it is stale.
	if _, err := c.Decide(ctx, r.ID, r.Dest, clearance.Verdict{Action: clearance.Deny, Scope: clearance.ScopeOnce, Surface: clearance.SurfaceCLI}); err == nil {
		t.Fatal("a second verdict was taken")
	}
}

// A verdict for another destination than its request's, or a malformed
// one, is refused and changes nothing: no rule, no audit line, the
// request still pending.
func TestDecideMismatchChangesNothing(t *testing.T) {
	s, f := start(t)
	c, ctx := peer(t, s)
	s.Attempt(clearance.Attempt{Dest: "203.0.113.7", Port: 22, Proto: clearance.ProtoTCP, Kind: clearance.KindBlocked})
	r := pendingOne(t, c, ctx)
	allow := clearance.Verdict{Action: clearance.Allow, Scope: clearance.ScopeOnce, Surface: clearance.SurfaceJSON}
	for _, bad := range []struct {
		dest string
		v    clearance.Verdict
	}{
		{"203.0.113.8", allow},
		{"evil.example", allow},
		{r.Dest, clearance.Verdict{Action: clearance.Deny, Scope: clearance.ScopeDuration, Duration: time.Hour, Surface: clearance.SurfaceJSON}},
		{r.Dest, clearance.Verdict{Action: clearance.Allow, Scope: clearance.ScopeDuration, Duration: 48 * time.Hour, Surface: clearance.SurfaceJSON}},
		{r.Dest, clearance.Verdict{Action: clearance.Allow, Scope: clearance.ScopeOnce, Surface: "popup"}},
	} {
		if _, err := c.Decide(ctx, r.ID, bad.dest, bad.v); err == nil {
			t.Errorf("verdict %+v for %s taken", bad.v, bad.dest)
		}
	}
	if _, err := c.Decide(ctx, "aaaaaaaaaaaaaaaaaaaaaaaaaa", r.Dest, allow); err == nil {
		t.Error("verdict on an unknown id taken")
	}
	changes, audit := f.state()
	if len(changes) != 0 || len(audit) != 1 {
		t.Fatalf("a refused verdict changed something: %+v %+v", changes, audit)
	}
	if p := pendingOne(t, c, ctx); p.ID != r.ID {
		t.Fatalf("pending %+v", p)
	}
}

// A verdict the shield cannot apply still decides the request, with the
// error in the event, the reply and the audit record; a temporary allow
// reaches the shield with its duration.
func TestDecideFailsAndDuration(t *testing.T) {
	s, f := start(t)
	c, ctx := peer(t, s)
	s.Attempt(clearance.Attempt{Dest: "a.example", Proto: clearance.ProtoDNSName, Kind: clearance.KindRefused})
	s.Attempt(clearance.Attempt{Dest: "b.example", Proto: clearance.ProtoDNSName, Kind: clearance.KindRefused})
	ps, _ := c.Pending(ctx)
	if len(ps) != 2 {
		t.Fatalf("pending %+v", ps)
	}
	f.mu.Lock()
	f.fail = errors.New("netlink says no")
	f.mu.Unlock()
	ev, err := c.Decide(ctx, ps[0].ID, "a.example", clearance.Verdict{Action: clearance.Allow, Scope: clearance.ScopeOnce, Surface: clearance.SurfaceNotify})
	if err == nil || ev.Error != "netlink says no" {
		t.Fatalf("failed verdict: %+v %v", ev, err)
	}
	f.mu.Lock()
	f.fail = nil
	f.mu.Unlock()
	if _, err := c.Decide(ctx, ps[1].ID, "b.example", clearance.Verdict{Action: clearance.Allow, Scope: clearance.ScopeDuration, Duration: 10 * time.Minute, Surface: clearance.SurfaceTerminal}); err != nil {
		t.Fatal(err)
	}
	changes, audit := f.state()
	if len(changes) != 1 || changes[0].d != 10*time.Minute || changes[0].targets[0] != "b.example" {
		t.Fatalf("changes %+v", changes)
	}
	if len(audit) != 4 || audit[2].Error != "netlink says no" || audit[3].Scope != clearance.ScopeDuration || audit[3].Until.IsZero() {
		t.Fatalf("audit %+v", audit)
	}
	if ps, _ := c.Pending(ctx); len(ps) != 0 {
		t.Fatalf("still pending: %+v", ps)
	}
}

// Watch streams over the real control socket: the requests pending when
// it starts, then new ones and verdicts as they happen; it ends when the
// watcher hangs up, and when the service closes.
func TestWatch(t *testing.T) {
	s, _ := start(t)
	c, ctx := peer(t, s)
	s.Attempt(clearance.Attempt{Dest: "first.example", Proto: clearance.ProtoDNSName, Kind: clearance.KindRefused})
	evs := make(chan clearance.Event, 16)
	done := make(chan error, 1)
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	go func() { done <- c.Watch(wctx, func(ev clearance.Event) error { evs <- ev; return nil }) }()
	next := func() clearance.Event {
		t.Helper()
		select {
		case ev := <-evs:
			return ev
		case <-time.After(5 * time.Second):
			t.Fatal("no event")
		}
		return clearance.Event{}
	}
	if ev := next(); ev.Type != clearance.EventPending || ev.Dest != "first.example" {
		t.Fatalf("first %+v", ev)
	}
	s.Attempt(clearance.Attempt{Dest: "198.51.100.1", Port: 53, Proto: clearance.ProtoUDP, Kind: clearance.KindBlocked})
	ev := next()
	if ev.Type != clearance.EventPending || ev.Dest != "198.51.100.1" || ev.Port != 53 {
		t.Fatalf("second %+v", ev)
	}
	if _, err := c.Decide(ctx, ev.ID, ev.Dest, clearance.Verdict{Action: clearance.Deny, Scope: clearance.ScopeOnce, Surface: clearance.SurfaceCLI}); err != nil {
		t.Fatal(err)
	}
	if d := next(); d.Type != clearance.EventDecided || d.ID != ev.ID || d.Action != clearance.Deny || d.Who == nil {
		t.Fatalf("decided %+v", d)
	}
	wcancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("hung-up watch: %v", err)
	}
	// The warden ends: a watch ends without an error.
	go func() { done <- c.Watch(ctx, func(clearance.Event) error { return nil }) }()
	time.Sleep(50 * time.Millisecond) // let it subscribe; closing first ends it the same way
	_ = s.Close()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, clearance.ErrClosed) {
			t.Fatalf("watch at the end: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the watch did not end with the service")
	}
}

// Hold (the resolver's held query in hold mode): the name becomes a
// request, repeats join it, and an allow decided through the control
// socket releases every holder with true, after the change was applied;
// a deny, a failed change, the hold's end and the overflow request give
// false.
func TestHold(t *testing.T) {
	s, f := start(t)
	c, ctx := peer(t, s)
	a := func(name string) clearance.Attempt {
		return clearance.Attempt{Dest: name, Proto: clearance.ProtoDNSName, Kind: clearance.KindRefused}
	}
	holding := func(name string, n int) <-chan bool {
		out := make(chan bool, n)
		for range n {
			go func() { out <- s.Hold(context.Background(), a(name)) }()
		}
		return out
	}
	waitCount := func(name string, n int) clearance.Request {
		t.Helper()
		for range 1000 {
			ps, _ := c.Pending(ctx)
			for _, r := range ps {
				if r.Dest == name && r.Count == n {
					return r
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("no request for %s with %d attempts", name, n)
		return clearance.Request{}
	}
	verdict := func(act clearance.Action) clearance.Verdict {
		return clearance.Verdict{Action: act, Scope: clearance.ScopeOnce, Surface: clearance.SurfaceCLI}
	}
	got := func(ch <-chan bool, n int, want bool) {
		t.Helper()
		for range n {
			select {
			case g := <-ch:
				if g != want {
					t.Fatalf("Hold returned %v, want %v", g, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Hold did not return after the verdict")
			}
		}
	}

	allowed := holding("held.example", 3)
	r := waitCount("held.example", 3)
	select {
	case g := <-allowed:
		t.Fatalf("Hold returned %v before a verdict", g)
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := c.Decide(ctx, r.ID, r.Dest, verdict(clearance.Allow)); err != nil {
		t.Fatal(err)
	}
	got(allowed, 3, true)
	if changes, audit := f.state(); len(changes) != 1 || changes[0].targets[0] != "held.example" || len(audit) != 2 {
		t.Fatalf("changes %+v audit %+v", changes, audit)
	}

	denied := holding("no.example", 1)
	r = waitCount("no.example", 1)
	if _, err := c.Decide(ctx, r.ID, r.Dest, verdict(clearance.Deny)); err != nil {
		t.Fatal(err)
	}
	got(denied, 1, false)

	f.mu.Lock()
	f.fail = errors.New("nft says no")
	f.mu.Unlock()
	failed := holding("fail.example", 1)
	r = waitCount("fail.example", 1)
	if _, err := c.Decide(ctx, r.ID, r.Dest, verdict(clearance.Allow)); err == nil {
		t.Fatal("a failed allow reported no error")
	}
	got(failed, 1, false)

	tctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if s.Hold(tctx, a("late.example")) {
		t.Fatal("Hold past its context said allowed")
	}
	if r := waitCount("late.example", 1); r.Kind != clearance.KindRefused {
		t.Fatalf("the timed-out request: %+v", r)
	}
}

// A name beyond the queue's bound is not held: the overflow request
// cannot be decided.
func TestHoldOverflow(t *testing.T) {
	f := &fakeShield{}
	s := New(Config{Project: "proj", Shield: f, Queue: clearance.Config{MaxPending: 1}})
	if err := s.Start(context.Background(), &warden.Task{ID: "abcd2345"}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	go s.Hold(context.Background(), clearance.Attempt{Dest: "one.example", Proto: clearance.ProtoDNSName, Kind: clearance.KindRefused})
	for range 1000 {
		if ps := s.q.Load().Pending(); len(ps) == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if s.Hold(context.Background(), clearance.Attempt{Dest: "two.example", Proto: clearance.ProtoDNSName, Kind: clearance.KindRefused}) {
		t.Fatal("the overflow request was granted")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("the overflow request was held %s", d)
	}
}
