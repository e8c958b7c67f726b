package clearancecmd

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/notifier/notifytest"
	"github.com/terok-ai/terok-go/lib/testenv"
)

// terok-clearance notify without a session bus: one line, exit 3.
func TestNotifyNoBus(t *testing.T) {
	f := newFixture(t)
	f.vars["DBUS_SESSION_BUS_ADDRESS"] = ""
	_, errs, code := f.run(context.Background(), nil, "notify")
	if code != cli.ExitNotSetUp || !strings.Contains(errs, "no session bus") || strings.Count(strings.TrimSpace(errs), "\n") > 1 {
		t.Fatalf("exit %d, stderr %q; want 3 and one line naming the missing bus", code, errs)
	}
}

// terok-clearance notify over the hub: a task's blocked connection pops up
// on a real session bus (dbus-daemon) served by the test notification
// server — the only stand-in, as no desktop exists here — and clicking
// Allow decides it through the task's warden with surface notify. A
// second notifier on the same bus is refused, exit 1.
func TestNotifyAllow(t *testing.T) {
	testenv.Tool(t, "dbus-daemon", "dbus")
	f := newFixture(t)
	bus, err := notifytest.StartBus(filepath.Join(f.vars["TEROK_RUNTIME_DIR"], "bus"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Kill)
	srv := notifytest.New(bus.Addr)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	f.vars["DBUS_SESSION_BUS_ADDRESS"] = bus.Addr

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errs string
	go func() {
		var code int
		_, errs, code = f.run(ctx, nil, "notify")
		done <- code
	}()
	defer func() { cancel(); <-done }()
	f.attempt("api.example.com")
	ns, err := srv.Wait(10*time.Second, func(ns []notifytest.Notification) bool {
		return len(ns) > 0 && strings.Contains(ns[0].Body, "api.example.com")
	})
	if err != nil {
		t.Fatalf("no popup for the request: %v", err)
	}
	p := ns[0]
	if k := p.Key("Allow"); k == "" {
		t.Fatalf("no Allow action: %+v", p)
	} else if err := srv.Click(p.ID, k); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.shield.got() != "allow api.example.com" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := f.shield.got(); got != "allow api.example.com" {
		t.Fatalf("after the click the shield got %q", got)
	}
	if _, err := srv.Wait(10*time.Second, func(ns []notifytest.Notification) bool {
		return strings.Contains(ns[len(ns)-1].Summary+ns[len(ns)-1].Body, "Allowed")
	}); err != nil {
		t.Fatalf("the popup does not say Allowed: %v", err)
	}
	_, errs2, code := f.run(context.Background(), nil, "notify")
	if code != cli.ExitFailure || !strings.Contains(errs2, "another terok notifier") {
		t.Fatalf("a second notifier: exit %d, %q", code, errs2)
	}
	cancel()
	if code := <-done; code != cli.ExitOK && code != cli.ExitInterrupted {
		t.Fatalf("the notifier ended with %d: %s", code, errs)
	}
	done <- 0
}
