package hostsetup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/hostcheck"
	"github.com/terok-ai/terok-go/lib/shield"
)

// setUp applies terok setup to h.
func setUp(t *testing.T, h Host) {
	t.Helper()
	apply(t, CheckSetup(h))
}

// TestCheckUninstall: the links that lead to this binary and its
// registration go, a link to another file stays; the check touches
// nothing; a second run has nothing to remove.
func TestCheckUninstall(t *testing.T) {
	h := testHost(t)
	setUp(t, h)
	other := filepath.Join(h.root(), "keep.txt")
	writeFile(t, other, "a person's own file\n", 0o644)
	gate := filepath.Join(h.BinDir, "terok-gate")
	if err := os.Remove(gate); err != nil {
		t.Fatal(err)
	}
	symlink(t, other, gate)

	before := tree(t, h.root())
	p := CheckUninstall(context.Background(), h, nil)
	unchanged(t, h.root(), before, "check")
	if got := steps(p); !slices.Equal(got, []string{"links", "hook"}) {
		t.Fatalf("steps %q", got)
	}
	if err := p.Refused(); err != nil {
		t.Fatal(err)
	}
	task := filepath.Join(h.BinDir, "terok-task")
	if got, want := changes(p, "links"), []Change{{Op: RemoveLink, Path: task}}; !slices.Equal(got, want) {
		t.Errorf("links: %v", got)
	}
	if got, want := changes(p, "hook"), []Change{{Op: RemoveHook, Path: h.HooksDir, Target: h.Exe}}; !slices.Equal(got, want) {
		t.Errorf("hook: %v", got)
	}
	out := apply(t, p)
	if len(out) != 2 || out[0].Detail != "removed: 1 terok-* links to "+h.Exe+" in "+h.BinDir ||
		out[1].Detail != "removed: the shield's registration of "+h.Exe+": "+filepath.Join(h.HooksDir, shield.HookFile) {
		t.Errorf("records %+v", out)
	}
	if exists(task) || exists(filepath.Join(h.HooksDir, shield.HookFile)) || !exists(gate) {
		t.Error("not the links and registration of this binary")
	}

	out = apply(t, CheckUninstall(context.Background(), h, nil))
	for _, r := range out {
		if r.Status != hostcheck.OK || !strings.HasPrefix(r.Detail, "nothing to remove: ") {
			t.Errorf("second run: %+v", r)
		}
	}
}

// TestCheckUninstallHook: another terok's registration stays, with a
// warning; one that cannot be read refuses the uninstall; one whose
// binary is gone is this terok's.
func TestCheckUninstallHook(t *testing.T) {
	t.Run("the hook's own binary", func(t *testing.T) {
		h := testHost(t)
		own := filepath.Join(filepath.Dir(h.Exe), shield.HookBinaryName)
		writeFile(t, own, "#!/bin/sh\n", 0o755)
		if _, err := shield.WriteHook(h.HooksDir, own); err != nil {
			t.Fatal(err)
		}
		a := CheckUninstall(context.Background(), h, nil).Actions[1]
		if want := []Change{{Op: RemoveHook, Path: h.HooksDir, Target: h.Exe}}; !slices.Equal(a.Changes, want) || a.Status != "" {
			t.Errorf("%+v", a)
		}
		apply(t, Plan{Actions: []Action{a}})
		if _, err := os.Stat(filepath.Join(h.HooksDir, shield.HookFile)); !os.IsNotExist(err) {
			t.Errorf("the registration is left: %v", err)
		}
	})
	t.Run("another terok's", func(t *testing.T) {
		h := testHost(t)
		other := filepath.Join(h.root(), "other-terok")
		writeFile(t, other, "#!/bin/sh\n", 0o755)
		if _, err := shield.WriteHook(h.HooksDir, other); err != nil {
			t.Fatal(err)
		}
		a := CheckUninstall(context.Background(), h, nil).Actions[1]
		if len(a.Changes) != 0 || a.Status != hostcheck.Warn || a.Fix != "run that terok's uninstall" ||
			!strings.HasSuffix(a.Detail, "; left another terok's: "+filepath.Join(h.HooksDir, shield.HookFile)+" (runs "+other+")") {
			t.Errorf("%+v", a)
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		h := testHost(t)
		if err := os.MkdirAll(h.HooksDir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(h.HooksDir, shield.HookFile), "{not json", 0o644)
		setUpLinks := CheckLinks(h.BinDir, h.Exe, h.Links)
		if err := os.MkdirAll(h.BinDir, 0o755); err != nil {
			t.Fatal(err)
		}
		apply(t, setUpLinks)
		before := tree(t, h.root())
		p := CheckUninstall(context.Background(), h, nil)
		if err := p.Refused(); err == nil || !strings.Contains(err.Error(), shield.HookFile) {
			t.Fatalf("refusal %v", err)
		}
		if _, err := p.Apply(context.Background(), t.Logf); err == nil {
			t.Fatal("a refused plan applied")
		}
		unchanged(t, h.root(), before, "refused apply")
	})
	t.Run("its binary gone", func(t *testing.T) {
		h := testHost(t)
		gone := filepath.Join(h.root(), "gone-terok")
		writeFile(t, gone, "#!/bin/sh\n", 0o755)
		if _, err := shield.WriteHook(h.HooksDir, gone); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(gone); err != nil {
			t.Fatal(err)
		}
		if got := changes(CheckUninstall(context.Background(), h, nil), "hook"); len(got) != 1 {
			t.Errorf("changes %v", got)
		}
	})
	t.Run("not writable here", func(t *testing.T) {
		if os.Getuid() == 0 {
			t.Skip("root may write every directory")
		}
		h := testHost(t)
		setUp(t, h)
		if err := os.Chmod(h.HooksDir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(h.HooksDir, 0o755) })
		a := CheckUninstall(context.Background(), h, nil).Actions[1]
		if len(a.Changes) != 0 || len(a.Refusals) != 0 || a.Status != "" ||
			!strings.Contains(a.Detail, "; left "+filepath.Join(h.HooksDir, shield.HookFile)+" (not writable here") {
			t.Errorf("%+v", a)
		}
	})
}

// fakeTasks is a state tree's tasks for --purge.
type fakeTasks struct {
	all, running []string
	err          error
	removed      []string
}

func (f *fakeTasks) List(context.Context) ([]string, []string, error) { return f.all, f.running, f.err }

func (f *fakeTasks) Remove(_ context.Context, id string) error {
	f.removed = append(f.removed, id)
	return nil
}

// TestCheckUninstallPurge: every task and terok's directories (with its
// Podman service) go, refused while a task runs; the images stay.
func TestCheckUninstallPurge(t *testing.T) {
	h := testHost(t)
	setUp(t, h)
	if err := os.MkdirAll(filepath.Dir(h.Paths.PodmanSocket()), 0o700); err != nil {
		t.Fatal(err)
	}
	before := tree(t, h.root())

	running := &fakeTasks{all: []string{"aaaaaaaa", "bbbbbbbb"}, running: []string{"bbbbbbbb"}}
	p := CheckUninstall(context.Background(), h, running)
	err := p.Refused()
	if err == nil || err.Error() != "1 tasks are running (bbbbbbbb); nothing was removed" ||
		err.(*Refusal).Hint() != "stop them first: terok panic --stop, or terok-task stop" {
		t.Fatalf("refusal %v", err)
	}
	if _, err := p.Apply(context.Background(), t.Logf); err == nil {
		t.Fatal("a refused plan applied")
	}
	unchanged(t, h.root(), before, "refused")
	if len(running.removed) != 0 {
		t.Fatalf("removed %v", running.removed)
	}

	broken := &fakeTasks{err: errors.New("cannot read the tasks")}
	if err := CheckUninstall(context.Background(), h, broken).Refused(); err == nil || err.Error() != "cannot read the tasks" {
		t.Fatalf("refusal %v", err)
	}

	stopped := &fakeTasks{all: []string{"aaaaaaaa", "bbbbbbbb"}}
	p = CheckUninstall(context.Background(), h, stopped)
	unchanged(t, h.root(), before, "check")
	if got := steps(p); !slices.Equal(got, []string{"links", "hook", "tasks", "dirs", "images"}) {
		t.Fatalf("steps %q", got)
	}
	if p.Count(RemoveTask) != 2 {
		t.Errorf("tasks: %v", changes(p, "tasks"))
	}
	// Cache was never made; the runtime directory holds no service.
	wantDirs := []Change{{Op: RemoveTree, Path: h.Paths.Config}, {Op: RemoveTree, Path: h.Paths.State},
		{Op: RemoveTree, Path: h.Paths.Data}, {Op: RemoveTree, Path: h.Paths.Runtime}}
	if got := changes(p, "dirs"); !slices.Equal(got, wantDirs) {
		t.Errorf("dirs\n got %v\nwant %v", got, wantDirs)
	}
	writeFile(t, filepath.Join(filepath.Dir(h.Paths.PodmanSocket()), engine.PIDFileName), "not a pid\n", 0o600)
	p = CheckUninstall(context.Background(), h, stopped)
	if got := changes(p, "dirs"); len(got) != 5 || got[0] != (Change{Op: StopService, Path: h.Paths.PodmanSocket()}) {
		t.Errorf("dirs with a service: %v", got)
	}

	var warnings []string
	out, err := p.Apply(context.Background(), func(f string, a ...any) { warnings = append(warnings, f) })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(stopped.removed, []string{"aaaaaaaa", "bbbbbbbb"}) {
		t.Errorf("removed %v", stopped.removed)
	}
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], "stopping terok's Podman service") {
		t.Errorf("warnings %q (the pid file is bad)", warnings)
	}
	for _, d := range []string{h.Paths.Config, h.Paths.State, h.Paths.Data, h.Paths.Runtime} {
		if exists(d) {
			t.Errorf("%s is still there", d)
		}
	}
	want := map[string]string{
		"tasks":  "removed: 2 tasks: containers, workspaces, tokens",
		"dirs":   "removed: " + strings.Join([]string{h.Paths.Config, h.Paths.State, h.Paths.Data, h.Paths.Runtime}, ", "),
		"images": "left in place: images may be shared with other users of this engine",
	}
	for _, r := range out {
		if w, ok := want[r.Check]; ok && (r.Detail != w || r.Status != hostcheck.OK) {
			t.Errorf("%s: %+v", r.Check, r)
		}
	}

	empty := CheckUninstall(context.Background(), h, &fakeTasks{})
	for _, a := range empty.Actions {
		if len(a.Changes) != 0 {
			t.Errorf("nothing left, yet %s plans %v", a.Step, a.Changes)
		}
	}
}
