package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// On a terminal, `terok-task run` on a project without an image offers to
// build it: declining exits 3 (not set up) and builds nothing; accepting
// builds it and runs the task.
func TestTaskRunOffersImageBuild(t *testing.T) {
	e := newTaskEnv(t)
	bin, err := exec.LookPath("terok-task") // testscript put this binary on PATH
	if err != nil {
		t.Fatal(err)
	}
	e.must("terok-project", "new", "to", "--agents", "command")
	env := []string{"PATH=" + filepath.Dir(bin) + ":" + os.Getenv("PATH"), "TERM=xterm-256color"}
	for _, k := range []string{"HOME", "XDG_RUNTIME_DIR", "CONTAINER_HOST", "TEROK_CONFIG_DIR", "TEROK_STATE_DIR", "TEROK_DATA_DIR", "TEROK_RUNTIME_DIR"} {
		if v := envValue(e.env, k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	work := t.TempDir()

	done := filepath.Join(work, "declined")
	s := newTmux(t, env, "terok-task run to --agent command 'echo ran-after-build'; echo $? > "+done+"; sleep 600")
	s.waitFor("has no image yet. Build it now?")
	s.send("n")
	if code := waitFileFor(t, done, 30*time.Second); code != "3" {
		t.Fatalf("declined: exit %s; screen:\n%s", code, s.tmux("capture-pane", "-p"))
	}
	if ls := e.must("terok-task", "ls"); ls != "" {
		t.Fatalf("a declined run left a task: %s", ls)
	}

	done = filepath.Join(work, "accepted")
	s = newTmux(t, env, "terok-task run to --agent command 'echo ran-after-build'; echo $? > "+done+"; sleep 600")
	s.waitFor("has no image yet. Build it now?")
	s.send("y")
	if code := waitFileFor(t, done, 5*time.Minute); code != "0" {
		t.Fatalf("accepted: exit %s; screen:\n%s", code, s.tmux("capture-pane", "-p"))
	}
	if screen := s.tmux("capture-pane", "-p", "-S", "-200"); !strings.Contains(screen, "ran-after-build") {
		t.Fatalf("the task did not run after the build; screen:\n%s", screen)
	}
	listed := e.must("terok-task", "ls")
	e.run(listed, "terok-task", "rm", "--yes", "-")
}

func waitFileFor(t *testing.T, path string, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && strings.HasSuffix(string(b), "\n") {
			return strings.TrimSpace(string(b))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never written", path)
	return ""
}
