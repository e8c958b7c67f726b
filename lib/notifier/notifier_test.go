package notifier

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/clearance"
	"github.com/terok-ai/terok-go/lib/notifier/notifytest"
	"github.com/terok-ai/terok-go/lib/schedule"
)

const task1 = "abcd2345"

// A request becomes one popup: app terok, the three actions, critical,
// resident, never expiring, its destination in the body; repeats replace
// that popup with the count, and no second popup opens.
func TestRequestPopup(t *testing.T) {
	r := newRig(t, clearance.Config{}, task1)
	r.run(Options{})
	w := r.tasks[task1]
	w.attempt("api.example.com", 443)
	p := r.popupFor(0, "api.example.com")
	if p.App != "terok" || p.ReplacesID != 0 || p.Urgency() != 2 || !p.Resident() || p.Timeout != 0 ||
		!slices.Equal(p.Labels(), []string{"Allow", "Allow for project", "Deny"}) {
		t.Fatalf("the popup: %+v", p)
	}
	if !strings.Contains(p.Body, "<b>api.example.com</b> port 443/tcp") || !strings.Contains(p.Body, "task "+task1+", project proj") ||
		p.Summary != "terok: blocked connection" {
		t.Fatalf("the popup says %q / %q", p.Summary, p.Body)
	}
	for range 3 {
		w.attempt("api.example.com", 443)
	}
	u := r.wait(1, "the popup with the count", func(n notifytest.Notification) bool {
		return strings.Contains(n.Summary, "(4 attempts)")
	})
	if u.ReplacesID != p.ID || u.ID != p.ID || len(u.Actions) != 6 || !u.Resident() {
		t.Fatalf("the repeat did not replace the popup: %+v (first %d)", u, p.ID)
	}
	for _, n := range r.srv.Notifications() {
		if n.ReplacesID == 0 && n.ID != p.ID {
			t.Fatalf("a second popup: %s", dump(r.srv.Notifications()))
		}
	}
	if r.srv.Open() != 1 {
		t.Fatalf("%d popups open", r.srv.Open())
	}
}

// A click decides the request through the warden, with surface notify:
// the shield gets the change, the audit log the verdict, the queue is
// empty, and the popup is replaced by what was decided, not resident. The
// signals may come from another sender than the server (a portal).
func TestClick(t *testing.T) {
	for _, c := range []struct {
		label, summary, change string
		scope                  clearance.Scope
		relay                  bool
	}{
		{"Allow", "Allowed", "allow api.example.com", clearance.ScopeOnce, true},
		{"Allow for project", "Allowed for project", "allow api.example.com", clearance.ScopeProject, false},
		{"Deny", "Denied", "deny api.example.com", clearance.ScopeOnce, false},
	} {
		t.Run(c.label, func(t *testing.T) {
			r := newRig(t, clearance.Config{}, task1)
			if c.relay {
				_ = r.srv.Stop()
				r.srv.Relay = true
				if err := r.srv.Start(); err != nil {
					t.Fatal(err)
				}
			}
			r.run(Options{})
			w := r.tasks[task1]
			w.attempt("api.example.com", 443)
			p := r.popupFor(0, "api.example.com")
			if err := r.srv.Click(p.ID, p.Key(c.label)); err != nil {
				t.Fatal(err)
			}
			f := r.wait(1, "the verdict's popup", func(n notifytest.Notification) bool { return n.Summary == c.summary })
			if f.ReplacesID != p.ID || len(f.Actions) != 0 || f.Resident() || f.Urgency() == 2 || f.Timeout <= 0 ||
				!strings.Contains(f.Body, "<b>api.example.com</b>") {
				t.Fatalf("the verdict's popup: %+v", f)
			}
			changes, audit := w.shield.state()
			if !slices.Equal(changes, []string{c.change}) {
				t.Fatalf("the shield's changes: %q", changes)
			}
			if len(audit) != 2 || audit[1].Surface != clearance.SurfaceNotify || audit[1].Scope != c.scope {
				t.Fatalf("the audit: %+v", audit)
			}
			if ps, err := w.client.Pending(context.Background()); err != nil || len(ps) != 0 {
				t.Fatalf("still pending: %+v %v", ps, err)
			}
		})
	}
}

// A click on an action whose key names another request, or on a popup
// that is not the notifier's, decides nothing.
func TestForgedClick(t *testing.T) {
	r := newRig(t, clearance.Config{}, task1)
	r.run(Options{})
	w := r.tasks[task1]
	w.attempt("a.example", 0)
	w.attempt("b.example", 0)
	a := r.popupFor(0, "a.example")
	b := r.popupFor(0, "b.example")
	if err := r.srv.Click(a.ID, b.Key("Allow")); err != nil { // a's popup, b's key
		t.Fatal(err)
	}
	if err := r.srv.Click(999, a.Key("Allow")); err != nil {
		t.Fatal(err)
	}
	// A real click after them is the only verdict.
	if err := r.srv.Click(b.ID, b.Key("Deny")); err != nil {
		t.Fatal(err)
	}
	r.wait(2, "b's verdict", func(n notifytest.Notification) bool { return n.Summary == "Denied" })
	if changes, _ := w.shield.state(); !slices.Equal(changes, []string{"deny b.example"}) {
		t.Fatalf("the shield's changes: %q", changes)
	}
}

// A verdict from another surface replaces the popup too, saying where;
// a verdict the shield could not apply shows the failure; an expired
// request's popup is closed.
func TestOtherOutcomes(t *testing.T) {
	r := newRig(t, clearance.Config{}, task1)
	r.run(Options{})
	w := r.tasks[task1]
	ctx := context.Background()

	w.attempt("cli.example", 0)
	p := r.popupFor(0, "cli.example")
	ps, _ := w.client.Pending(ctx)
	if _, err := w.client.Decide(ctx, ps[0].ID, "cli.example", clearance.Verdict{Action: clearance.Deny, Scope: clearance.ScopeOnce, Surface: clearance.SurfaceCLI}); err != nil {
		t.Fatal(err)
	}
	f := r.wait(1, "the CLI's verdict", func(n notifytest.Notification) bool { return n.Summary == "Denied" })
	if f.ReplacesID != p.ID || !strings.Contains(f.Body, "(decided in cli)") {
		t.Fatalf("the CLI's verdict: %+v", f)
	}

	w.shield.mu.Lock()
	w.shield.fail = errors.New("netlink says <no>")
	w.shield.mu.Unlock()
	n := len(r.srv.Notifications())
	w.attempt("fail.example", 0)
	p = r.popupFor(n, "fail.example")
	if err := r.srv.Click(p.ID, p.Key("Allow")); err != nil {
		t.Fatal(err)
	}
	f = r.wait(n+1, "the failure", func(n notifytest.Notification) bool { return n.Summary == "Allow failed" })
	if !strings.Contains(f.Body, "netlink says &lt;no&gt;") {
		t.Fatalf("the failure says %q", f.Body)
	}

	// Expiry, on a queue of its own with a short TTL (the requests above
	// must not expire while the test acts on them).
	r = newRig(t, clearance.Config{TTL: 300 * time.Millisecond}, task1)
	r.run(Options{})
	r.tasks[task1].attempt("expire.example", 0)
	p = r.popupFor(0, "expire.example")
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(r.srv.Closed(), p.ID) {
		if time.Now().After(deadline) {
			t.Fatalf("the expired request's popup was not closed: %v", r.srv.Closed())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A hostile name (markup, control characters, a bidi override, a
// misleading length) is shown harmless: the body holds printable ASCII
// only, the notifier's own <b></b> are its only markup, and the name is
// cut to clearance.DisplayMax.
func TestHostileName(t *testing.T) {
	r := newRig(t, clearance.Config{}, task1)
	r.run(Options{})
	short := "<a href='x'>click</a>&amp;\x1b[31m\u202e\x00.example"
	long := "accounts.google.com." + strings.Repeat("a", 300) + ".evil.example"
	for i, hostile := range []string{short, long} {
		r.tasks[task1].attempt(hostile, 0)
		var p notifytest.Notification
		r.wait(0, "the hostile name's popup", func(n notifytest.Notification) bool {
			p = n
			return len(n.Actions) > 0 && n.ReplacesID == 0 && n.ID == uint32(i+1)
		})
		for _, s := range []string{p.Summary, p.Body} {
			for _, c := range []byte(s) {
				if (c < ' ' || c > '~') && c != '\n' {
					t.Fatalf("a byte %#x reached the popup: %q", c, s)
				}
			}
		}
		rest := strings.Replace(strings.Replace(p.Body, "<b>", "", 1), "</b>", "", 1)
		if strings.ContainsAny(rest, "<>") {
			t.Fatalf("markup got through: %q", p.Body)
		}
		dest := p.Body[len("<b>"):strings.Index(p.Body, "</b>")]
		if dest != clearance.Markup(hostile) {
			t.Fatalf("the name is shown as %q", dest)
		}
	}
	if p := r.srv.Notifications(); !strings.HasPrefix(p[0].Body, "<b>&lt;a\\x20href=&#39;x&#39;&gt;click&lt;/a&gt;&amp;amp;\\x1b\\x5b31m\\u202e\\x00.example</b>") {
		t.Fatalf("the short name: %q", p[0].Body)
	}
	if p := r.srv.Notifications(); !strings.Contains(p[1].Body, "[...]") || !strings.Contains(p[1].Body, ".evil.example</b>") ||
		len(clearance.Display(long)) > clearance.DisplayMax {
		t.Fatalf("the long name: %q", p[1].Body)
	}
}

// The notification server going away and coming back (a new one, with
// its own ids): the pending popup is posted again on it, and a click on
// the new popup decides.
func TestServerRestart(t *testing.T) {
	r := newRig(t, clearance.Config{}, task1)
	r.run(Options{})
	w := r.tasks[task1]
	w.attempt("api.example.com", 443)
	r.popupFor(0, "api.example.com")
	if err := r.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	w.attempt("while-away.example", 0) // its post fails: retried
	time.Sleep(200 * time.Millisecond)
	n := len(r.srv.Notifications())
	if err := r.srv.Start(); err != nil {
		t.Fatal(err)
	}
	p := r.popupFor(n, "api.example.com")
	if p.ReplacesID != 0 {
		t.Fatalf("the popup again: %+v", p)
	}
	q := r.popupFor(n, "while-away.example")
	if err := r.srv.Click(q.ID, q.Key("Allow")); err != nil {
		t.Fatal(err)
	}
	r.wait(n, "the verdict", func(n notifytest.Notification) bool { return n.Summary == "Allowed" && n.ReplacesID == q.ID })
	if changes, _ := w.shield.state(); !slices.Equal(changes, []string{"allow while-away.example"}) {
		t.Fatalf("the shield's changes: %q", changes)
	}
}

// The bus daemon killed, and a new one on the same address: the notifier
// connects again, posts the pending popup again, and follows clicks.
func TestBusRestart(t *testing.T) {
	r := newRig(t, clearance.Config{}, task1)
	r.run(Options{Backoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	w := r.tasks[task1]
	w.attempt("api.example.com", 443)
	r.popupFor(0, "api.example.com")
	r.bus.Kill()
	_ = r.srv.Stop()
	time.Sleep(300 * time.Millisecond) // the notifier tries, and fails, meanwhile
	if err := r.bus.Restart(); err != nil {
		t.Fatal(err)
	}
	n := len(r.srv.Notifications())
	if err := r.srv.Start(); err != nil {
		t.Fatal(err)
	}
	p := r.popupFor(n, "api.example.com")
	w.attempt("after.example", 0)
	q := r.popupFor(n, "after.example")
	if err := r.srv.Click(p.ID, p.Key("Deny")); err != nil {
		t.Fatal(err)
	}
	if err := r.srv.Click(q.ID, q.Key("Allow")); err != nil {
		t.Fatal(err)
	}
	r.wait(n, "the verdicts", func(x notifytest.Notification) bool { return x.Summary == "Allowed" && x.ReplacesID == q.ID })
	r.wait(n, "the verdicts", func(x notifytest.Notification) bool { return x.Summary == "Denied" && x.ReplacesID == p.ID })
}

// Without a session bus, Run says so at once.
func TestNoBus(t *testing.T) {
	start := time.Now()
	err := Run(context.Background(), wardens{}, Options{Bus: "unix:path=" + filepath.Join(t.TempDir(), "none")})
	if !errors.Is(err, ErrNoBus) || time.Since(start) > 5*time.Second {
		t.Fatalf("without a bus: %v after %s", err, time.Since(start))
	}
	getenv := func(k string) string {
		if k == "XDG_RUNTIME_DIR" {
			return t.TempDir()
		}
		return ""
	}
	if schedule.SessionBus(getenv, os.Getuid()) != "" {
		t.Skip("this user has a bus in /run/user")
	}
	err = Run(context.Background(), wardens{}, Options{Getenv: getenv})
	if !errors.Is(err, ErrNoBus) || !strings.Contains(err.Error(), "DBUS_SESSION_BUS_ADDRESS") {
		t.Fatalf("with no bus at all: %v", err)
	}
}

// A task flooding 10,000 names: its popups stay within the bounds (its
// PerTask and its "and N more"), the server never holds more than MaxOpen,
// the notifier posts a bounded number of times, and another task's
// request still gets its popup promptly.
func TestFlood(t *testing.T) {
	const flooder, other = "f100d000", "07he2000"
	r := newRig(t, clearance.Config{}, flooder, other)
	o := Options{MaxOpen: 6, PerTask: 3}
	r.run(o)
	f := r.tasks[flooder]
	for i := range 10000 {
		f.attempt(fmt.Sprintf("n%d.flood.example", i), 0)
	}
	r.wait(0, "the flooder's overflow popup", func(n notifytest.Notification) bool {
		return strings.Contains(n.Summary, "more destinations")
	})
	time.Sleep(500 * time.Millisecond) // let the flood's events settle
	start := time.Now()
	r.tasks[other].attempt("needed.example", 443)
	r.popupFor(0, "needed.example")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the other task's popup took %s", d)
	}
	ns := r.srv.Notifications()
	flood := 0
	for _, n := range ns {
		if n.ReplacesID == 0 && strings.Contains(n.Body, "task "+flooder) {
			flood++
		}
	}
	if flood != o.PerTask+1 || r.srv.Open() > o.MaxOpen || len(ns) > 60 {
		t.Fatalf("the flood opened %d popups, %d open, %d posts:\n%s", flood, r.srv.Open(), len(ns), dump(ns))
	}
	// A dismissed popup makes room for the next waiting request.
	p := r.popupFor(0, "n0.flood.example")
	n := len(r.srv.Notifications())
	if err := r.srv.Dismiss(p.ID); err != nil {
		t.Fatal(err)
	}
	r.popupFor(n, "n3.flood.example")
}

// A popup the person dismisses is not shown again (the request is left
// to the terminal); one the server expired is, at the request's next
// attempt.
func TestClosedPopups(t *testing.T) {
	r := newRig(t, clearance.Config{}, task1)
	r.run(Options{})
	w := r.tasks[task1]
	w.attempt("dismissed.example", 0)
	w.attempt("expired.example", 0)
	d := r.popupFor(0, "dismissed.example")
	x := r.popupFor(0, "expired.example")
	if err := r.srv.Dismiss(d.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.srv.Expire(x.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	n := len(r.srv.Notifications())
	w.attempt("dismissed.example", 0) // count 2: an update
	w.attempt("expired.example", 0)
	again := r.popupFor(n, "expired.example")
	if !strings.Contains(again.Summary, "(2 attempts)") {
		t.Fatalf("the expired popup again: %+v", again)
	}
	time.Sleep(200 * time.Millisecond)
	for _, p := range r.srv.Notifications()[n:] {
		if strings.Contains(p.Body, "dismissed.example") {
			t.Fatalf("a dismissed popup came back: %s", dump(r.srv.Notifications()))
		}
	}
}

// A failure's text is cut, printable and escaped.
func TestMessage(t *testing.T) {
	if got := message("a <b>\x1b" + strings.Repeat("x", 300)); len(got) > maxMessage+20 || strings.ContainsAny(got, "<>\x1b") ||
		!strings.HasPrefix(got, "a &lt;b&gt;?") || !strings.HasSuffix(got, "...") {
		t.Fatalf("message: %q", got)
	}
}

// gappy is a Source whose stream the test can cut and hold: what happens
// meanwhile is not seen.
type gappy struct {
	Source
	mu   sync.Mutex
	cut  context.CancelFunc
	hold chan struct{}
}

func (g *gappy) Watch(ctx context.Context, each func(clearance.Event) error) error {
	g.mu.Lock()
	hold := g.hold
	g.mu.Unlock()
	<-hold
	ctx, cancel := context.WithCancel(ctx)
	g.mu.Lock()
	g.cut = cancel
	g.mu.Unlock()
	return g.Source.Watch(ctx, each)
}

// The stream of events ends and starts again: a request decided in the
// gap (not in the new stream's backlog) has its popup closed; one still
// pending keeps its popup, not posted twice.
func TestWatchGap(t *testing.T) {
	r := newRig(t, clearance.Config{}, task1)
	open := make(chan struct{})
	close(open)
	g := &gappy{Source: r.src, hold: open}
	r.src2 = g
	r.run(Options{})
	w := r.tasks[task1]
	w.attempt("gone.example", 0)
	w.attempt("stays.example", 0)
	gone := r.popupFor(0, "gone.example")
	r.popupFor(0, "stays.example")
	g.mu.Lock()
	g.hold = make(chan struct{})
	g.cut()
	g.mu.Unlock()
	ps, _ := w.client.Pending(context.Background())
	if _, err := w.client.Decide(context.Background(), ps[0].ID, "gone.example", clearance.Verdict{Action: clearance.Deny, Scope: clearance.ScopeOnce, Surface: clearance.SurfaceCLI}); err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	close(g.hold)
	g.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(r.srv.Closed(), gone.ID) {
		if time.Now().After(deadline) {
			t.Fatalf("the popup of a request decided in the gap stayed: %s", dump(r.srv.Notifications()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ns := r.srv.Notifications(); len(ns) != 2 || r.srv.Open() != 1 {
		t.Fatalf("after the gap: %d open\n%s", r.srv.Open(), dump(ns))
	}
}

// One notifier per session: it owns Name, Running finds it (and the
// notification server), and a second one refuses to start.
func TestOneNotifier(t *testing.T) {
	r := newRig(t, clearance.Config{}, task1)
	ctx := context.Background()
	if _, running, server, err := Running(ctx, r.bus.Addr); err != nil || running || !server {
		t.Fatalf("before: running %v, server %v, %v", running, server, err)
	}
	r.run(Options{})
	r.tasks[task1].attempt("a.example", 0)
	r.popupFor(0, "a.example") // it runs by now
	pid, running, _, err := Running(ctx, r.bus.Addr)
	if err != nil || !running || pid != uint32(os.Getpid()) {
		t.Fatalf("running: %v pid %d, %v", running, pid, err)
	}
	err = Run(ctx, r.src, Options{Bus: r.bus.Addr})
	if !errors.Is(err, ErrRunning) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("a second notifier: %v", err)
	}
	_ = r.srv.Stop()
	if _, _, server, err := Running(ctx, r.bus.Addr); err != nil || server {
		t.Fatalf("without a server: %v %v", server, err)
	}
}
