package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/clearance"
	"github.com/terok-ai/terok-go/lib/notifier"
	"github.com/terok-ai/terok-go/lib/notifier/notifytest"
	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/testenv"
	"github.com/terok-ai/terok-go/lib/warden"
)

// oneWarden is the notifier's Source over one task's warden.
type oneWarden struct{ c *warden.Client }

func (o oneWarden) Watch(ctx context.Context, each func(clearance.Event) error) error {
	return o.c.Watch(ctx, each)
}

func (o oneWarden) Decide(ctx context.Context, _, id, dest string, v clearance.Verdict) (clearance.Event, error) {
	return o.c.Decide(ctx, id, dest, v)
}

// A real task's blocked connection pops up on the desktop (a real
// dbus-daemon and the test notification server: no desktop exists here),
// and a click on Allow lets the task's next attempt through.
func TestTaskNotifierAllow(t *testing.T) {
	e := newTaskEnv(t)
	testenv.Need(t, fileExists(filepath.Join(shield.HooksDirDistribution, shield.HookFile)),
		"the shield's OCI hook is not registered (terok setup; scripts/test does)")
	testenv.Tool(t, "dbus-daemon", "dbus-daemon")
	inet := newInternet(t)
	dir, err := os.MkdirTemp("", "notify")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bus, err := notifytest.StartBus(filepath.Join(dir, "bus"))
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Kill()
	srv := notifytest.New(bus.Addr)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop() }()

	e.must("terok-project", "new", "tn", "--agents", "command")
	e.must("terok-image", "build", "tn")
	out := e.must("terok-task", "run", "--detach", "tn", "--agent", "command", "sleep 300")
	var task struct{ ID, Container string }
	decodeJSON(t, out, &task)
	defer e.run("", "terok-task", "rm", "--force", "--yes", task.ID)
	in := func(cmd string) (string, bool) {
		b, err := exec.Command("podman", "exec", task.Container, "sh", "-c", cmd).CombinedOutput()
		return strings.TrimSpace(string(b)), err == nil
	}
	waitEntry(t, in)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- notifier.Run(ctx, oneWarden{warden.NewClient(envValue(e.env, "TEROK_RUNTIME_DIR"), task.ID)}, notifier.Options{Bus: bus.Addr})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the notifier ended with %v", err)
		}
	}()

	get := "curl -sS -m 8 http://" + inetOther + "/"
	if o, ok := in(get); ok || !strings.Contains(o, "(7)") {
		t.Fatalf("before the click: %q (want a refusal, curl exit 7)", o)
	}
	var popup notifytest.Notification
	if _, err := srv.Wait(15*time.Second, func(ns []notifytest.Notification) bool {
		for _, n := range ns {
			if len(n.Actions) > 0 && strings.Contains(n.Body, "<b>"+inetOther+"</b> port 80/tcp") && strings.Contains(n.Body, "task "+task.ID) {
				popup = n
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("no popup for the blocked connection: %v %+v", err, srv.Notifications())
	}
	if err := srv.Click(popup.ID, popup.Key("Allow")); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Wait(15*time.Second, func(ns []notifytest.Notification) bool {
		return ns[len(ns)-1].Summary == "Allowed" && ns[len(ns)-1].ReplacesID == popup.ID
	}); err != nil {
		t.Fatalf("no verdict popup: %v %+v", err, srv.Notifications())
	}
	if o, ok := in(get); !ok || !strings.Contains(o, "hello from the internet") || inet.httpHits.Load() == 0 {
		t.Fatalf("after the click: %q", o)
	}
	logs, err := os.ReadFile(filepath.Join(envValue(e.env, "TEROK_STATE_DIR"), "audit", "shield", task.ID+".jsonl"))
	if err != nil || !strings.Contains(string(logs), `"event":"verdict"`) || !strings.Contains(string(logs), `"surface":"notify"`) {
		t.Errorf("the audit log lacks the verdict (%v):\n%s", err, logs)
	}
}
