package hostsetup

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/hostcheck"
	"github.com/terok-ai/terok-go/lib/shield"
)

// testHost is a host in a t.TempDir(): a terok binary, the links'
// directory, a hooks directory Podman reads, and terok's directories, all
// missing at first but the binary.
func testHost(t *testing.T) Host {
	t.Helper()
	root := t.TempDir()
	exe := filepath.Join(root, "prefix", "terok")
	if err := os.MkdirAll(filepath.Dir(exe), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(root, "home")
	return Host{
		Exe: exe, UID: os.Getuid(),
		Paths: config.Paths{Config: filepath.Join(root, "config"), State: filepath.Join(root, "state"),
			Data: filepath.Join(root, "data"), Cache: filepath.Join(root, "cache"), Runtime: filepath.Join(root, "run")},
		BinDir:          filepath.Join(root, "bin"),
		Links:           []string{"terok-gate", "terok-task"},
		HooksDir:        filepath.Join(root, "hooks"),
		PodmanHooksDirs: []string{filepath.Join(root, "hooks")},
		Getenv: func(k string) string {
			if k == "HOME" {
				return home
			}
			return ""
		},
	}
}

// root is the temporary directory the host lives in.
func (h Host) root() string { return filepath.Dir(filepath.Dir(h.Exe)) }

// tree describes every file under dir: its type, mode and contents or
// link target, so that a test can tell whether anything changed.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		desc := fi.Mode().String()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			desc += " " + string(b)
		}
		out[p] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// unchanged fails unless dir's tree is as before.
func unchanged(t *testing.T, dir string, before map[string]string, when string) {
	t.Helper()
	after := tree(t, dir)
	for p, d := range after {
		if before[p] != d {
			t.Errorf("%s: %s is now %q (was %q)", when, p, d, before[p])
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			t.Errorf("%s: %s is gone", when, p)
		}
	}
}

func changes(p Plan, step string) []Change {
	for _, a := range p.Actions {
		if a.Step == step {
			return a.Changes
		}
	}
	return nil
}

func steps(p Plan) []string {
	var out []string
	for _, a := range p.Actions {
		out = append(out, a.Step)
	}
	return out
}

func apply(t *testing.T, p Plan) []hostcheck.Result {
	t.Helper()
	out, err := p.Apply(context.Background(), func(f string, a ...any) { t.Errorf("warning: "+f, a...) })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCheckSetup: a first check plans every link, the hook and the
// directories and touches nothing; applying it makes them; a second check
// finds everything in place and plans nothing.
func TestCheckSetup(t *testing.T) {
	h := testHost(t)
	before := tree(t, h.root())
	p := CheckSetup(h)
	unchanged(t, h.root(), before, "check")
	if err := p.Refused(); err != nil {
		t.Fatal(err)
	}
	if got := steps(p); !slices.Equal(got, []string{"links", "hook", "dirs"}) {
		t.Fatalf("steps %q", got)
	}
	for step, want := range map[string][]Change{
		"links": {{Op: MakeDir, Path: h.BinDir, Mode: 0o755},
			{Op: MakeLink, Path: filepath.Join(h.BinDir, "terok-gate"), Target: h.Exe},
			{Op: MakeLink, Path: filepath.Join(h.BinDir, "terok-task"), Target: h.Exe}},
		"hook": {{Op: WriteHook, Path: h.HooksDir, Target: h.Exe}},
		"dirs": {{Op: MakeDir, Path: h.Paths.Config, Mode: 0o700}, {Op: MakeDir, Path: h.Paths.State, Mode: 0o700},
			{Op: MakeDir, Path: h.Paths.Data, Mode: 0o700}},
	} {
		if got := changes(p, step); !slices.Equal(got, want) {
			t.Errorf("%s: changes\n got %v\nwant %v", step, got, want)
		}
	}

	for _, r := range apply(t, p) {
		if r.Status != hostcheck.OK || !strings.HasPrefix(r.Detail, "set up: ") {
			t.Errorf("first run: %+v", r)
		}
	}
	for _, n := range h.Links {
		if !sameFile(filepath.Join(h.BinDir, n), h.Exe) {
			t.Errorf("%s does not lead to the binary", n)
		}
	}
	if b, err := os.ReadFile(filepath.Join(h.HooksDir, shield.HookFile)); err != nil || !strings.Contains(string(b), h.Exe) {
		t.Errorf("registration: %v %s", err, b)
	}

	before = tree(t, h.root())
	again := CheckSetup(h)
	for _, a := range again.Actions {
		if len(a.Changes) > 0 || len(a.Refusals) > 0 {
			t.Errorf("second check: %s plans %v, refusals %v", a.Step, a.Changes, a.Refusals)
		}
	}
	for _, r := range apply(t, again) {
		if r.Status != hostcheck.OK || !strings.HasPrefix(r.Detail, "already in place: ") {
			t.Errorf("second run: %+v", r)
		}
	}
	unchanged(t, h.root(), before, "second run")
}

// TestCheckSetupLinks: what is at a link's place decides its change: a
// link to the binary (directly or through another link) stays, another
// link is replaced, a file refuses the whole setup, and then nothing is
// written.
func TestCheckSetupLinks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		place   func(t *testing.T, h Host, p string) // puts something at bin/terok-gate
		replace bool
		refused string
	}{
		{name: "a link to the binary", place: func(t *testing.T, h Host, p string) { symlink(t, h.Exe, p) }},
		{name: "a link to a link to the binary", place: func(t *testing.T, h Host, p string) {
			via := filepath.Join(h.root(), "via")
			symlink(t, h.Exe, via)
			symlink(t, via, p)
		}},
		{name: "a link to another file", replace: true, place: func(t *testing.T, h Host, p string) {
			other := filepath.Join(h.root(), "other")
			writeFile(t, other, "#!/bin/sh\n", 0o755)
			symlink(t, other, p)
		}},
		{name: "a dangling link", replace: true, place: func(t *testing.T, h Host, p string) {
			symlink(t, filepath.Join(h.root(), "nowhere"), p)
		}},
		{name: "a file", refused: "exists and is not a link; not replacing it", place: func(t *testing.T, h Host, p string) {
			writeFile(t, p, "a person's own file\n", 0o644)
		}},
		{name: "a directory", refused: "exists and is not a link", place: func(t *testing.T, h Host, p string) {
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := testHost(t)
			if err := os.MkdirAll(h.BinDir, 0o755); err != nil {
				t.Fatal(err)
			}
			gate := filepath.Join(h.BinDir, "terok-gate")
			tc.place(t, h, gate)
			before := tree(t, h.root())
			p := CheckSetup(h)
			unchanged(t, h.root(), before, "check")
			want := []Change{{Op: MakeLink, Path: filepath.Join(h.BinDir, "terok-task"), Target: h.Exe}}
			if tc.replace {
				want = append([]Change{{Op: MakeLink, Path: gate, Target: h.Exe}}, want...)
			}
			if tc.refused != "" {
				err := p.Refused()
				if err == nil || err.Error() != gate+" exists and is not a link; not replacing it" {
					t.Fatalf("refusal %v", err)
				}
				if _, err := p.Apply(context.Background(), t.Logf); err == nil {
					t.Fatal("a refused plan applied")
				}
				unchanged(t, h.root(), before, "refused apply")
				return
			}
			if err := p.Refused(); err != nil {
				t.Fatal(err)
			}
			if got := changes(p, "links"); !slices.Equal(got, want) {
				t.Errorf("changes\n got %v\nwant %v", got, want)
			}
			apply(t, p)
			if !sameFile(gate, h.Exe) {
				t.Error("terok-gate does not lead to the binary")
			}
		})
	}
}

// TestCheckLinks: install-links' plan is the links alone, to the target
// as given.
func TestCheckLinks(t *testing.T) {
	h := testHost(t)
	dir := filepath.Join(h.root(), "elsewhere")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(h.root(), "terok-link")
	symlink(t, h.Exe, target)
	p := CheckLinks(dir, target, h.Links)
	want := []Change{{Op: MakeLink, Path: filepath.Join(dir, "terok-gate"), Target: target},
		{Op: MakeLink, Path: filepath.Join(dir, "terok-task"), Target: target}}
	if got := changes(p, "links"); len(p.Actions) != 1 || !slices.Equal(got, want) {
		t.Fatalf("plan %+v", p)
	}
	apply(t, p)
	if l, _ := os.Readlink(filepath.Join(dir, "terok-task")); l != target {
		t.Errorf("link to %q", l)
	}
	if got := changes(CheckLinks(dir, target, h.Links), "links"); len(got) != 0 {
		t.Errorf("second check: %v", got)
	}
}

// TestCheckSetupHook: the hook step's status and refusals.
func TestCheckSetupHook(t *testing.T) {
	t.Run("a directory Podman does not read", func(t *testing.T) {
		h := testHost(t)
		h.HooksDir = filepath.Join(h.root(), "elsewhere")
		a := CheckSetup(h).Actions[1]
		if a.Status != hostcheck.Fail || !strings.Contains(a.Fix, "add "+h.HooksDir+" to hooks_dir") ||
			!strings.Contains(a.Detail, "Podman does not read that directory") {
			t.Errorf("%+v", a)
		}
		if want := []Change{{Op: WriteHook, Path: h.HooksDir, Target: h.Exe}}; !slices.Equal(a.Changes, want) {
			t.Errorf("changes %v", a.Changes)
		}
	})
	t.Run("a binary that is not executable", func(t *testing.T) {
		h := testHost(t)
		if err := os.Chmod(h.Exe, 0o644); err != nil {
			t.Fatal(err)
		}
		p := CheckSetup(h)
		if err := p.Refused(); err == nil || !strings.Contains(err.Error(), "is not an executable file") {
			t.Fatalf("refusal %v", err)
		}
		if len(changes(p, "hook")) != 0 {
			t.Errorf("changes %v", changes(p, "hook"))
		}
	})
	t.Run("another registration in place", func(t *testing.T) {
		h := testHost(t)
		other := filepath.Join(h.root(), "other-terok")
		writeFile(t, other, "#!/bin/sh\n", 0o755)
		if _, err := shield.WriteHook(h.HooksDir, other); err != nil {
			t.Fatal(err)
		}
		a := CheckSetup(h).Actions[1]
		if want := []Change{{Op: WriteHook, Path: h.HooksDir, Target: h.Exe}}; !slices.Equal(a.Changes, want) || a.Status != "" {
			t.Errorf("%+v", a)
		}
	})
	t.Run("root's registration", func(t *testing.T) {
		if os.Getuid() == 0 {
			t.Skip("root may write every directory")
		}
		h := testHost(t)
		rootDir := filepath.Join(h.root(), "root-hooks")
		other := filepath.Join(h.root(), "other-terok")
		writeFile(t, other, "#!/bin/sh\n", 0o755)
		if _, err := shield.WriteHook(rootDir, other); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(rootDir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(rootDir, 0o755) })
		h.FindHook = func() (string, string, error) { return filepath.Join(rootDir, shield.HookFile), other, nil }

		named := CheckSetup(h).Actions[1] // a directory named: root's is not looked for
		if len(named.Changes) != 1 || named.Status != "" {
			t.Errorf("with --hooks-dir: %+v", named)
		}
		h.HooksDir = ""
		a := CheckSetup(h).Actions[1]
		if len(a.Changes) != 0 || a.Status != hostcheck.Warn || !strings.HasPrefix(a.Detail, filepath.Join(rootDir, shield.HookFile)+" runs "+other) ||
			!strings.Contains(a.Fix, "as root, run terok setup with "+h.Exe) {
			t.Errorf("root's, another binary: %+v", a)
		}
		h.FindHook = func() (string, string, error) { return filepath.Join(rootDir, shield.HookFile), h.Exe, nil }
		if a := CheckSetup(h).Actions[1]; len(a.Changes) != 0 || a.Status != "" {
			t.Errorf("root's, this binary: %+v", a)
		}
	})
	// The hook's own binary beside terok is what the registration runs
	// (it starts faster on every task's start); setup writes it over one
	// of terok itself, and leaves it once in place.
	t.Run("the hook's own binary", func(t *testing.T) {
		h := testHost(t)
		own := filepath.Join(filepath.Dir(h.Exe), shield.HookBinaryName)
		writeFile(t, own, "#!/bin/sh\n", 0o755)
		if _, err := shield.WriteHook(h.HooksDir, h.Exe); err != nil {
			t.Fatal(err)
		}
		a := CheckSetup(h).Actions[1]
		if want := []Change{{Op: WriteHook, Path: h.HooksDir, Target: own}}; !slices.Equal(a.Changes, want) || a.Status != "" ||
			a.Detail != filepath.Join(h.HooksDir, shield.HookFile)+" runs "+own {
			t.Errorf("%+v", a)
		}
		if _, err := shield.WriteHook(h.HooksDir, own); err != nil {
			t.Fatal(err)
		}
		if a := CheckSetup(h).Actions[1]; len(a.Changes) != 0 || a.Status != "" {
			t.Errorf("in place: %+v", a)
		}
		// Not executable: terok itself, as before.
		if err := os.Chmod(own, 0o644); err != nil {
			t.Fatal(err)
		}
		if a := CheckSetup(h).Actions[1]; !slices.Equal(a.Changes, []Change{{Op: WriteHook, Path: h.HooksDir, Target: h.Exe}}) {
			t.Errorf("a hook binary that is not executable: %+v", a)
		}
	})
}

// TestCheckSetupDirs: a directory that cannot be made refuses the setup.
func TestCheckSetupDirs(t *testing.T) {
	t.Run("a file where a directory goes", func(t *testing.T) {
		h := testHost(t)
		writeFile(t, h.Paths.State, "not a directory\n", 0o644)
		p := CheckSetup(h)
		if err := p.Refused(); err == nil || err.Error() != h.Paths.State+" is not a directory" {
			t.Fatalf("refusal %v", err)
		}
	})
	t.Run("a directory that cannot be written", func(t *testing.T) {
		if os.Getuid() == 0 {
			t.Skip("root may write every directory")
		}
		h := testHost(t)
		locked := filepath.Join(h.root(), "locked")
		if err := os.Mkdir(locked, 0o555); err != nil {
			t.Fatal(err)
		}
		h.Paths.Data = filepath.Join(locked, "data")
		before := tree(t, h.root())
		p := CheckSetup(h)
		err := p.Refused()
		if err == nil || !strings.HasPrefix(err.Error(), "cannot write "+h.Paths.Data+": ") ||
			!strings.Contains(err.(*Refusal).Hint(), "--bin-dir, --hooks-dir") {
			t.Fatalf("refusal %v", err)
		}
		if _, err := p.Apply(context.Background(), t.Logf); err == nil {
			t.Fatal("a refused plan applied")
		}
		unchanged(t, h.root(), before, "refused apply")
	})
}

func symlink(t *testing.T, target, p string) {
	t.Helper()
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, p, s string, mode fs.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), mode); err != nil {
		t.Fatal(err)
	}
}
