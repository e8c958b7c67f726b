package shield

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHookJSON(t *testing.T) {
	if _, err := HookJSON("terok"); err == nil {
		t.Fatal("a relative binary was accepted")
	}
	b, err := HookJSON("/usr/local/bin/terok")
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	want := `{"hook":{"args":["terok-shield","hook"],"path":"/usr/local/bin/terok","timeout":10},"stages":["createRuntime"],"version":"1.0.0","when":{"annotations":{"^terok\\.shield$":".+"}}}`
	if got, _ := json.Marshal(h); string(got) != want {
		t.Fatalf("registration\n%s\nwant\n%s", got, want)
	}
}

func TestWriteHook(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "terok")
	if _, err := WriteHook(filepath.Join(dir, "hooks"), bin); err == nil {
		t.Fatal("a missing binary was accepted")
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteHook(filepath.Join(dir, "hooks"), bin); err == nil || !strings.Contains(err.Error(), "not an executable") {
		t.Fatalf("a file that is not executable: %v", err)
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := WriteHook(filepath.Join(dir, "hooks"), bin)
	if err != nil || p != filepath.Join(dir, "hooks", HookFile) {
		t.Fatal(p, err)
	}
	// Nothing but the registration lands in Podman's directory.
	if ents, _ := os.ReadDir(filepath.Join(dir, "hooks")); len(ents) != 1 {
		t.Fatalf("the hooks directory holds %v", ents)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
		t.Fatalf("registration mode %v", fi.Mode())
	}
	if err := os.Symlink(filepath.Join(dir, "hooks"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if !HookRegistered(filepath.Join(dir, "link"), []string{"/nope", filepath.Join(dir, "hooks") + "/"}) ||
		HookRegistered(filepath.Join(dir, "hooks"), []string{"/usr/share/containers/oci/hooks.d"}) {
		t.Fatal("HookRegistered")
	}
}

func TestReadHookState(t *testing.T) {
	st, err := ReadHookState(strings.NewReader(`{"ociVersion":"1.0.2-dev","id":"abc","status":"creating","pid":4897,"bundle":"/b","annotations":{"terok.shield":"23456789"}}`))
	if err != nil || st.Pid != 4897 || st.Annotations[Annotation] != "23456789" {
		t.Fatal(st, err)
	}
	for in, says := range map[string]string{
		``:                           "not valid JSON",
		`{"pid":`:                    "not valid JSON",
		`{"pid":"7"}`:                "not valid JSON",
		`{"pid":1} {"pid":2}`:        "more than one",
		`{"pid":0}`:                  "no process id",
		`{"pid":-5}`:                 "no process id",
		`[1]`:                        "not valid JSON",
		strings.Repeat(" ", 1<<20+1): "larger than",
	} {
		if _, err := ReadHookState(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%.40q: %v, want an error saying %q", in, err, says)
		}
	}
}

// The hook's stdin is outside input: whatever it holds, ReadHookState
// returns an error of one line or a state with a process id.
func FuzzReadHookState(f *testing.F) {
	for _, s := range []string{`{"pid":1,"annotations":{"terok.shield":"23456789"}}`, `{"pid":`, `{}`, `null`,
		`{"pid":1e3}`, `{"pid":1}{"pid":2}`, `{"annotations":{"a":1}}`, "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ReadHookState(strings.NewReader(s))
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error of more than one line: %q", err)
			}
			return
		}
		if st.Pid <= 0 {
			t.Fatalf("accepted a state without a process id: %q", s)
		}
	})
}

// TestHookBinary: the hook's own binary beside terok (links resolved) is
// the one registered; without an executable one, terok itself.
func TestHookBinary(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "prefix", "terok")
	own := filepath.Join(dir, "prefix", HookBinaryName)
	if err := os.MkdirAll(filepath.Dir(exe), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "terok-shield")
	if err := os.Symlink(exe, link); err != nil {
		t.Fatal(err)
	}
	if got := HookBinary(exe); got != exe {
		t.Errorf("no hook binary: %s", got)
	}
	if err := os.WriteFile(own, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := HookBinary(exe); got != exe {
		t.Errorf("a hook binary that is not executable: %s", got)
	}
	if err := os.Chmod(own, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := HookBinary(exe); got != own {
		t.Errorf("beside terok: %s", got)
	}
	if got := HookBinary(link); got != own {
		t.Errorf("through a link: %s", got)
	}
	// Uninstalling terok's registration removes one of its hook binary's.
	hooks := filepath.Join(dir, "hooks")
	if _, err := WriteHook(hooks, own); err != nil {
		t.Fatal(err)
	}
	if rm, other, err := PlanUninstallHook(hooks, exe); !rm || other != "" || err != nil {
		t.Errorf("uninstall plan: %v %q %v", rm, other, err)
	}
	if err := os.Remove(own); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "x"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteHook(hooks, filepath.Join(dir, "x")); err != nil {
		t.Fatal(err)
	}
	if rm, other, err := PlanUninstallHook(hooks, exe); rm || other != filepath.Join(dir, "x") || err != nil {
		t.Errorf("another binary's: %v %q %v", rm, other, err)
	}
}

// TestHookRefuses: a state that is not a task container's is refused as
// input, before any namespace is touched.
func TestHookRefuses(t *testing.T) {
	for in, says := range map[string]string{
		`{"pid":1`:  "not valid JSON",
		`{"pid":1}`: "has no terok.shield annotation",
		`{"pid":1,"annotations":{"terok.shield":"not-an-id"}}`:                       `annotation "not-an-id" is not a task id`,
		`{"pid":1,"annotations":{"terok.shield":"` + strings.Repeat("a", 60) + `"}}`: `"` + strings.Repeat("a", 40) + `..." is not`,
	} {
		id, err := Hook(strings.NewReader(in))
		var ie *HookInputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), says) || id != "" {
			t.Errorf("%.40q: %q %v, want an input error saying %q", in, id, err, says)
		}
	}
}
