package warden

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/shield"
)

// recorder is what the fake services write their calls to.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string{}, r.calls...)
}

type fakeService struct {
	name     string
	rec      *recorder
	startErr error
	fail     error // given to Task.Fail once started
}

func (s *fakeService) Start(_ context.Context, t *Task) error {
	s.rec.add("start " + s.name)
	if s.fail != nil {
		go t.Fail(s.fail)
	}
	return s.startErr
}

func (s *fakeService) Close() error { s.rec.add("close " + s.name); return nil }

type fakeController struct {
	fakeService
	ops []Op
}

func (c *fakeController) Ops() []Op { return c.ops }

func (c *fakeController) Handle(_ context.Context, req Request) (any, error) {
	c.rec.add(fmt.Sprintf("%s %s", c.name, req.Op))
	return Rules{Posture: shield.Posture(c.name)}, nil
}

// sleeper is a child process standing in for the task's container process.
func sleeper(t *testing.T) *exec.Cmd {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // it may be gone already
		_ = cmd.Wait()         // killed: an error, as expected
	})
	return cmd
}

// The services start in order, the control socket reaches the one that
// owns each operation, and when the task's process exits the services
// close in the reverse order.
func TestRunLifecycle(t *testing.T) {
	rec := &recorder{}
	proc := sleeper(t)
	dir := t.TempDir()
	ready := make(chan struct{})
	w := &Warden{ID: "abcd2345", Pid: proc.Process.Pid, Control: ControlPath(dir, "abcd2345"),
		Ready: func() { rec.add("ready"); close(ready) },
		Services: []Service{
			&fakeController{fakeService: fakeService{name: "shield", rec: rec}, ops: []Op{OpQuarantine, OpRules}},
			&fakeService{name: "gate", rec: rec},
		}}
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	c := NewClient(dir, "abcd2345")
	if r, err := c.Quarantine(context.Background()); err != nil || r.Posture != "shield" {
		t.Fatalf("quarantine: %+v %v", r, err)
	}
	if _, err := c.Allow(context.Background(), nil); err == nil || !strings.Contains(err.Error(), `unknown request "allow"`) {
		t.Fatalf("an operation no service owns: %v", err)
	}
	if err := proc.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the warden outlived its task's process")
	}
	want := []string{"start shield", "start gate", "ready", "shield quarantine", "close gate", "close shield"}
	if got := rec.get(); !reflect.DeepEqual(got, want) {
		t.Fatalf("calls %q, want %q", got, want)
	}
	if _, err := c.Rules(context.Background()); !errors.Is(err, ErrNoWarden) {
		t.Fatalf("the control socket outlived the warden: %v", err)
	}
}

func TestRunEndsEarly(t *testing.T) {
	proc := sleeper(t)
	boom := errors.New("boom")
	for _, tc := range []struct {
		name     string
		services func(*recorder) []Service
		err      string
		calls    []string
	}{
		{"a service that does not start", func(r *recorder) []Service {
			return []Service{&fakeService{name: "a", rec: r}, &fakeService{name: "b", rec: r, startErr: boom}, &fakeService{name: "c", rec: r}}
		}, "boom", []string{"start a", "start b", "close a"}},
		{"a service that fails", func(r *recorder) []Service {
			return []Service{&fakeService{name: "a", rec: r}, &fakeService{name: "b", rec: r, fail: boom}}
		}, "boom", []string{"start a", "start b", "close b", "close a"}},
		{"two services claim an operation", func(r *recorder) []Service {
			return []Service{&fakeController{fakeService{name: "a", rec: r}, []Op{OpUp}}, &fakeController{fakeService{name: "b", rec: r}, []Op{OpDown, OpUp}}}
		}, `control operation "up" is claimed by two services`, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			w := &Warden{ID: "abcd2345", Pid: proc.Process.Pid, Control: ControlPath(t.TempDir(), "abcd2345"), Services: tc.services(rec)}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := w.Run(ctx)
			if err == nil || err.Error() != tc.err {
				t.Fatalf("error %v, want %s", err, tc.err)
			}
			if got := rec.get(); !reflect.DeepEqual(got, tc.calls) {
				t.Fatalf("calls %q, want %q", got, tc.calls)
			}
		})
	}
}

func TestArgs(t *testing.T) {
	for _, tc := range []struct {
		exe  string
		want []string
	}{
		{"/usr/local/bin/terok", []string{"/usr/local/bin/terok", "task", "warden", "abcd2345", "--pid", "42"}},
		{"/usr/local/bin/terok-task", []string{"/usr/local/bin/terok-task", "warden", "abcd2345", "--pid", "42"}},
		{"/tmp/terok.test", []string{"/tmp/terok.test", "task", "warden", "abcd2345", "--pid", "42"}},
		{"/usr/local/bin/terok-warden", []string{"/usr/local/bin/terok-warden", "abcd2345", "--pid", "42"}},
	} {
		if got := Args(tc.exe, "abcd2345", 42); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Args(%s) = %q, want %q", tc.exe, got, tc.want)
		}
	}
}

// Each client method sends its own operation, with its targets or its
// duration.
func TestClientOperations(t *testing.T) {
	dir := t.TempDir()
	var got []Request
	var mu sync.Mutex
	stop, err := ServeControl(context.Background(), ControlPath(dir, "abcd2345"), func(_ context.Context, r Request) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r)
		return Rules{Posture: shield.Posture(r.Op)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ctx := context.Background()
	c := NewClient(dir, "abcd2345")
	ts := mustTargets(t, "Example.COM", "192.0.2.0/24")
	for _, call := range []func() (Rules, error){
		func() (Rules, error) { return c.Allow(ctx, ts) },
		func() (Rules, error) { return c.Deny(ctx, ts[:1]) },
		func() (Rules, error) { return c.Down(ctx, 0) },
		func() (Rules, error) { return c.Down(ctx, 5*time.Minute) },
		func() (Rules, error) { return c.Up(ctx) },
		func() (Rules, error) { return c.Quarantine(ctx) },
		func() (Rules, error) { return c.Rules(ctx) },
		func() (Rules, error) { return c.Status(ctx) },
	} {
		if _, err := call(); err != nil {
			t.Fatal(err)
		}
	}
	want := []Request{
		{Op: OpAllow, Targets: []string{"example.com", "192.0.2.0/24"}},
		{Op: OpDeny, Targets: []string{"example.com"}},
		{Op: OpDown},
		{Op: OpDown, Duration: "5m0s"},
		{Op: OpUp}, {Op: OpQuarantine}, {Op: OpRules}, {Op: OpStatus},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("requests\n%+v\nwant\n%+v", got, want)
	}
	if _, err := NewClient(filepath.Join(dir, "none"), "abcd2345").Up(ctx); !errors.Is(err, ErrNoWarden) {
		t.Fatalf("no warden: %v", err)
	}
}

func mustTargets(t *testing.T, texts ...string) []config.Target {
	t.Helper()
	var out []config.Target
	for _, s := range texts {
		x, err := config.ParseTarget(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, x)
	}
	return out
}
