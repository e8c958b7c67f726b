package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/testenv"
)

// startTmux runs command on a real terminal of 120x30: a tmux server
// private to the test, whose environment (and so the command's) is env.
func startTmux(t *testing.T, env []string, command string) *tmuxSession {
	t.Helper()
	testenv.Tool(t, "tmux", "tmux")
	s := &tmuxSession{t: t, socket: fmt.Sprintf("terok-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
	// The pane stays on the screen after its command ended, to be read.
	conf := filepath.Join(t.TempDir(), "tmux.conf")
	if err := os.WriteFile(conf, []byte("set-option -g remain-on-exit on\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("tmux", "-L", s.socket, "-f", conf, "new-session", "-d", "-x", "120", "-y", "30", "sh", "-c", command)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", s.socket, "kill-server").Run() })
	return s
}

// taskView is what ls and show print of a task, as far as these tests look.
type taskView struct {
	ID       string `json:"id"`
	Mode     string `json:"mode"`
	Status   string `json:"status"`
	ExitCode *int   `json:"exit_code"`
}

func (e *taskEnv) show(id string) taskView {
	e.t.Helper()
	var v taskView
	out := e.must("terok-task", "show", id)
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		e.t.Fatalf("show %s: %v in %q", id, err, out)
	}
	return v
}

// Interactive tasks on a real terminal, with a real container: run --shell,
// type into the session, detach, see it running, log in again, find what
// was typed, exit; the task ends with the shell's exit code. Then a session
// started without a terminal (--detach), logged into, and left with exit 3.
func TestTaskInteractiveSession(t *testing.T) {
	e := newTaskEnv(t)
	testenv.Tool(t, "tmux", "tmux")
	e.must("terok-project", "new", "ti", "--agents", "command")
	e.must("terok-image", "build", "ti")
	t.Cleanup(func() {
		if ids := e.must("terok-task", "ls", "-q"); ids != "" {
			e.run(ids, "terok-task", "rm", "--force", "--yes", "-")
		}
	})
	env := append(e.env, "TERM=xterm-256color")
	work := t.TempDir()

	// run --shell attaches this terminal to the session; C-b d detaches.
	done := filepath.Join(work, "run.done")
	s := startTmux(t, env, "terok-task run --shell ti; echo $? > "+done)
	s.waitFor("C-b d detaches") // the session's status line
	s.send("echo hi > typed.txt; echo typed-$((40+2))", "Enter")
	s.waitFor("typed-42")
	s.send("C-b", "d")
	if code := waitFile(t, done); code != "0" {
		t.Fatalf("run --shell exited %s after the detach; screen:\n%s", code, s.tmux("capture-pane", "-p"))
	}
	s.waitFor("terok-task login ")

	// The task runs on, in shell mode.
	var v taskView
	if err := json.Unmarshal([]byte(e.must("terok-task", "ls")), &v); err != nil {
		t.Fatal(err)
	}
	if v.Status != "running" || v.Mode != "shell" || v.ExitCode != nil {
		t.Fatalf("after the detach, ls says %+v; want a running shell task", v)
	}
	if !strings.Contains(s.tmux("capture-pane", "-p"), "terok-task login "+v.ID) {
		t.Fatalf("the detach does not name 'terok-task login %s':\n%s", v.ID, s.tmux("capture-pane", "-p"))
	}

	// login (by a prefix) finds the session as it was left.
	done = filepath.Join(work, "login.done")
	s = startTmux(t, env, "terok-task login "+v.ID[:5]+"; echo $? > "+done)
	s.waitFor("C-b d detaches")
	s.send("cat typed.txt | sed s/^/seen-/", "Enter")
	s.waitFor("seen-hi")
	s.send("exit", "Enter")
	if code := waitFile(t, done); code != "0" {
		t.Fatalf("login exited %s after exit; screen:\n%s", code, s.tmux("capture-pane", "-p"))
	}
	s.waitFor("ended: exited, exit code 0")
	if got := e.show(v.ID); got.Status != "exited" || got.ExitCode == nil || *got.ExitCode != 0 {
		t.Fatalf("after exit, show says %+v; want exited with 0", got)
	}
	if _, errs, code := e.run("", "terok-task", "login", v.ID); code != 1 || !strings.Contains(errs, "is not running (exited)") {
		t.Fatalf("login of an ended task: exit %d, %s", code, errs)
	}

	// Without a terminal, run -i refuses, and with --detach it starts the
	// session for a later login.
	if _, errs, code := e.run("", "terok-task", "run", "-i", "ti"); code != 2 || !strings.Contains(errs, "--detach") {
		t.Fatalf("run -i without a terminal: exit %d, %s", code, errs)
	}
	out, errs, code := e.run("", "terok-task", "run", "-i", "ti", "--detach")
	if code != 0 {
		t.Fatalf("run -i --detach: exit %d, %s%s", code, out, errs)
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Mode != "interactive" {
		t.Fatalf("run -i --detach printed %q (%v)", out, err)
	}
	if !strings.Contains(errs, "'terok-task login "+v.ID+"'") {
		t.Fatalf("run -i --detach gives no login hint: %q", errs)
	}
	done = filepath.Join(work, "login2.done")
	s = startTmux(t, env, "terok-task login "+v.ID+"; echo $? > "+done)
	s.waitFor("C-b d detaches")
	s.send("exit 3", "Enter")
	if code := waitFile(t, done); code != "3" {
		t.Fatalf("login exited %s after 'exit 3'; screen:\n%s", code, s.tmux("capture-pane", "-p"))
	}
	if got := e.show(v.ID); got.Status != "failed" || got.ExitCode == nil || *got.ExitCode != 3 {
		t.Fatalf("after exit 3, show says %+v; want failed with 3", got)
	}
	if out, _, code := e.run("", "terok-task", "wait", v.ID); code != 3 || !strings.Contains(out, `"status":"failed","exit_code":3`) {
		t.Fatalf("wait: exit %d, %s", code, out)
	}
}
