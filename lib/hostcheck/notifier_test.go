package hostcheck

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/clearance"
	"github.com/terok-ai/terok-go/lib/notifier"
	"github.com/terok-ai/terok-go/lib/notifier/notifytest"
	"github.com/terok-ai/terok-go/lib/testenv"
)

// quiet is a clearance source with nothing pending, ever.
type quiet struct{}

func (quiet) Watch(ctx context.Context, _ func(clearance.Event) error) error {
	<-ctx.Done()
	return ctx.Err()
}

func (quiet) Decide(context.Context, string, string, string, clearance.Verdict) (clearance.Event, error) {
	return clearance.Event{}, clearance.ErrUnknownID
}

// The notifier check on a real bus: ok without a bus or without a
// notification server (headless), a warning with a server and no
// notifier, ok with the notifier running.
func TestCheckNotifier(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	ctx := context.Background()
	if r := checkNotifier(ctx, env(nil), 2147483000); r.Status != OK || !strings.Contains(r.Detail, "no session bus") {
		t.Errorf("without a bus: %+v", r)
	}
	testenv.Tool(t, "dbus-daemon", "dbus-daemon")
	dir, err := os.MkdirTemp("", "hostcheck")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bus, err := notifytest.StartBus(filepath.Join(dir, "bus"))
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Kill()
	getenv := env(map[string]string{"DBUS_SESSION_BUS_ADDRESS": bus.Addr})
	if r := checkNotifier(ctx, getenv, os.Getuid()); r.Status != OK || !strings.Contains(r.Detail, "no notification server") {
		t.Errorf("without a notification server: %+v", r)
	}
	srv := notifytest.New(bus.Addr)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop() }()
	if r := checkNotifier(ctx, getenv, os.Getuid()); r.Status != Warn || r.Fix == "" || !strings.Contains(r.Detail, "not running") {
		t.Errorf("a desktop without the notifier: %+v", r)
	}
	nctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- notifier.Run(nctx, quiet{}, notifier.Options{Bus: bus.Addr}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the notifier ended with %v", err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := checkNotifier(ctx, getenv, os.Getuid())
		if r.Status == OK && strings.Contains(r.Detail, "runs (pid ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("with the notifier running: %+v", r)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
