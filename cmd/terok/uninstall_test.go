package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// uninstall --purge on real tasks: refused while a task runs and without
// --yes (nothing removed either time), then every task's container and
// workspace volume and terok's directories are gone. The links and hook
// are in directories of the test's own, never the installed ones.
func TestUninstallPurge(t *testing.T) {
	e := newTaskEnv(t)
	e.removeAllTasks()
	tmp := t.TempDir()
	e.env = append(e.env, "TEROK_CACHE_DIR="+filepath.Join(tmp, "cache"))
	own := []string{"--bin-dir", filepath.Join(tmp, "bin"), "--hooks-dir", filepath.Join(tmp, "hooks")}
	if err := os.MkdirAll(filepath.Join(tmp, "cache"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.must("terok-project", "new", "tu", "--agents", "command")
	e.must("terok-image", "build", "tu")
	var x struct{ ID, Container string }
	decodeJSON(t, e.must("terok-task", "run", "--detach", "tu", "--agent", "command", "sleep 300"), &x)
	var volume string
	if out, err := exec.Command("podman", "volume", "ls", "-q", "--filter", "label=terok.task="+x.ID).Output(); err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("no workspace volume for %s: %v", x.ID, err)
	} else {
		volume = strings.TrimSpace(string(out))
	}
	dirs := []string{e.getenv("TEROK_CONFIG_DIR"), e.getenv("TEROK_STATE_DIR"), e.getenv("TEROK_DATA_DIR"), filepath.Join(tmp, "cache")}
	intact := func(when string) {
		t.Helper()
		for _, d := range dirs {
			if _, err := os.Stat(d); err != nil {
				t.Fatalf("%s: %s is gone", when, d)
			}
		}
		if exec.Command("podman", "container", "exists", x.Container).Run() != nil {
			t.Fatalf("%s: the task's container is gone", when)
		}
	}

	_, errs, code := e.run("", append([]string{"terok", "uninstall", "--purge", "--yes"}, own...)...)
	if code != 1 || !strings.Contains(errs, "1 tasks are running ("+x.ID+"); nothing was removed") {
		t.Fatalf("purge with a running task: exit %d, %s", code, errs)
	}
	intact("refused for a running task")
	e.must("terok-task", "stop", "--time", "0", x.ID)
	_, errs, code = e.run("", append([]string{"terok", "uninstall", "--purge"}, own...)...)
	if code != 2 || !strings.Contains(errs, "--yes") {
		t.Fatalf("purge without --yes and no terminal: exit %d, %s", code, errs)
	}
	intact("refused without --yes")

	out := e.must(append([]string{"terok", "uninstall", "--purge", "--yes"}, own...)...)
	for _, want := range []string{`"check":"tasks","status":"ok","detail":"removed: 1 tasks`, `"check":"dirs","status":"ok","detail":"removed: `, `"check":"images"`} {
		if !strings.Contains(out, want) {
			t.Errorf("uninstall --purge lacks %s:\n%s", want, out)
		}
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s is still there", d)
		}
	}
	if exec.Command("podman", "container", "exists", x.Container).Run() == nil {
		t.Error("the task's container is still there")
	}
	if exec.Command("podman", "volume", "exists", volume).Run() == nil {
		t.Error("the task's workspace volume is still there")
	}
}
