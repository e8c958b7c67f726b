package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/terok-ai/terok-go/lib/testenv"
)

// taskEnv is a private terok tree for the task tests, sharing the host's
// Podman (and its image store: an unchanged layer is never rebuilt).
type taskEnv struct {
	t   *testing.T
	env []string
}

func newTaskEnv(t *testing.T) *taskEnv {
	t.Helper()
	testenv.Tool(t, "podman", "podman")
	testenv.Need(t, exec.Command("podman", "image", "exists", "localhost/terok/debian:bookworm").Run() == nil,
		"no Debian base image; run terok-image base (scripts/test does)")
	dir := t.TempDir()
	env := os.Environ()
	for k, d := range map[string]string{"TEROK_CONFIG_DIR": "config", "TEROK_STATE_DIR": "state",
		"TEROK_DATA_DIR": "data", "TEROK_RUNTIME_DIR": "run"} {
		env = append(env, k+"="+filepath.Join(dir, d))
	}
	return &taskEnv{t: t, env: append(env, "TEROK_NO_GUM=1")}
}

// run runs a terok command and returns its stdout, stderr and exit code.
func (e *taskEnv) run(stdin string, args ...string) (string, string, int) {
	e.t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = e.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		code = xe.ExitCode()
	} else if err != nil {
		e.t.Fatalf("%v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func (e *taskEnv) must(args ...string) string {
	e.t.Helper()
	out, errs, code := e.run("", args...)
	if code != 0 {
		e.t.Fatalf("%v exited %d:\n%s%s", args, code, out, errs)
	}
	return out
}

// exitLine finds the final exit event of a piped run.
func exitLine(t *testing.T, out string) (id string, status string, code int) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var ev struct {
		Type     string `json:"type"`
		ID       string `json:"id"`
		Status   string `json:"status"`
		ExitCode *int   `json:"exit_code"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &ev); err != nil || ev.Type != "exit" || ev.ExitCode == nil {
		t.Fatalf("no exit line in %q", out)
	}
	return ev.ID, ev.Status, *ev.ExitCode
}

// Headless runs with the command agent on a real image, in real hardened
// containers, with the gate served by each task's warden.
func TestTaskRunHeadless(t *testing.T) {
	e := newTaskEnv(t)
	e.must("terok-project", "new", "tp", "--agents", "command")
	e.must("terok-image", "build", "tp")

	// Exit codes pass through, and 124 past the timeout.
	for _, tc := range []struct {
		prompt, timeout string
		code            int
		status          string
	}{
		{"true", "", 0, "exited"},
		{"exit 3", "", 3, "failed"},
		{"sleep 60", "2s", 124, "timed-out"},
	} {
		args := []string{"terok-task", "run", "tp", "--agent", "command", tc.prompt}
		if tc.timeout != "" {
			args = append(args, "--timeout", tc.timeout)
		}
		out, errs, code := e.run("", args...)
		if code != tc.code {
			t.Fatalf("%q exited %d, want %d:\n%s%s", tc.prompt, code, tc.code, out, errs)
		}
		_, status, c := exitLine(t, out)
		if c != tc.code || status != tc.status {
			t.Fatalf("%q: exit line %s %d, want %s %d", tc.prompt, status, c, tc.status, tc.code)
		}
	}

	// The agent's commit reaches the gate on the task's branch.
	out, errs, code := e.run("", "terok-task", "run", "tp", "--agent", "command",
		"echo hello from the task; echo hi > hello.txt && git add hello.txt && git commit -qm 'say hi'")
	if code != 0 {
		t.Fatalf("commit task exited %d:\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, `"line":"hello from the task"`) {
		t.Fatalf("the agent's output was not streamed:\n%s", out)
	}
	id, _, _ := exitLine(t, out)
	log := e.must("terok-gate", "log", "tp/task/"+id)
	if !strings.Contains(log, "say hi") {
		t.Fatalf("terok-gate log lacks the task's commit:\n%s", log)
	}
	diff := e.must("terok-gate", "diff", "tp/task/"+id)
	if !strings.Contains(diff, "hello.txt") {
		t.Fatalf("terok-gate diff lacks the file:\n%s", diff)
	}

	// Another task cannot push to it, nor to the default branch.
	out, errs, code = e.run("", "terok-task", "run", "tp", "--agent", "command",
		fmt.Sprintf("git commit -q --allow-empty -m x; git push --force origin HEAD:refs/heads/task/%s 2>&1; git push --force origin HEAD:main 2>&1; exit 0", id))
	if code != 0 || strings.Count(out, "remote rejected") < 2 {
		t.Fatalf("a task could push to another task's branch or to main:\n%s%s", out, errs)
	}

	// Logs survive the exit; show reports the hardening and the status.
	if logs := e.must("terok-task", "logs", id); !strings.Contains(logs, "hello from the task") {
		t.Fatalf("logs after exit: %q", logs)
	}
	show := e.must("terok-task", "show", id)
	for _, want := range []string{`"status":"exited"`, `"cap_drop":["ALL"]`, `"no_new_privileges":true`, `"branch":"task/` + id + `"`} {
		if !strings.Contains(show, want) {
			t.Errorf("show lacks %s:\n%s", want, show)
		}
	}

	// Without a terminal and without --yes, rm removes nothing.
	if out, errs, code := e.run("", "terok-task", "rm", id); code != 2 || !strings.Contains(errs, "pass --yes") {
		t.Fatalf("rm without --yes: exit %d\n%s%s", code, out, errs)
	}
	e.must("terok-task", "show", id)

	// ls | rm - removes them all, and nothing of them is left.
	listed := e.must("terok-task", "ls")
	if strings.Count(listed, "\n") != 5 {
		t.Fatalf("ls lists %d tasks, want 5:\n%s", strings.Count(listed, "\n"), listed)
	}
	// wait on many tasks prints one table on a terminal: its header once,
	// then a row per task as it ends.
	var ids []string
	for _, l := range strings.Split(strings.TrimSpace(listed), "\n") {
		var v struct{ ID string }
		json.Unmarshal([]byte(l), &v)
		ids = append(ids, v.ID)
	}
	tty := &taskEnv{t: t, env: append(append([]string{}, e.env...), "TEROK_FORCE_TTY=1")}
	out, errs, _ = tty.run("", append([]string{"terok-task", "wait"}, ids...)...)
	if rows := strings.Split(strings.TrimSpace(out), "\n"); len(rows) != len(ids)+1 || !strings.HasPrefix(rows[0], "ID ") ||
		strings.Count(out, "STATUS") != 1 || !strings.Contains(out, "timed-out") {
		t.Fatalf("wait on %d tasks printed, on a terminal:\n%s%s", len(ids), out, errs)
	}
	out, errs, code = e.run(listed, "terok-task", "rm", "--yes", "-")
	if code != 0 {
		t.Fatalf("rm -: %d\n%s%s", code, out, errs)
	}
	if left := e.must("terok-task", "ls"); left != "" {
		t.Fatalf("tasks left after rm: %s", left)
	}
	for _, l := range strings.Split(strings.TrimSpace(listed), "\n") {
		var v struct{ ID, Container string }
		json.Unmarshal([]byte(l), &v)
		if exec.Command("podman", "container", "exists", v.Container).Run() == nil {
			t.Fatalf("container %s of task %s left after rm", v.Container, v.ID)
		}
		if exec.Command("podman", "volume", "exists", v.Container+"-workspace").Run() == nil {
			t.Fatalf("workspace of task %s left after rm", v.ID)
		}
	}
}

// Ten concurrent runs make ten distinct healthy tasks.
func TestTaskRunConcurrent(t *testing.T) {
	e := newTaskEnv(t)
	e.must("terok-project", "new", "tc", "--agents", "command")
	e.must("terok-image", "build", "tc")
	const n = 10
	var wg sync.WaitGroup
	ids := make([]string, n)
	codes := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, _, code := e.run("", "terok-task", "run", "tc", "--agent", "command", fmt.Sprintf("echo %d > n.txt && git add n.txt && git commit -qm n%d", i, i))
			codes[i] = code
			if code == 0 {
				ids[i], _, _ = exitLine(t, out)
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if codes[i] != 0 || ids[i] == "" || seen[ids[i]] {
			t.Fatalf("run %d: exit %d id %q (ids %v)", i, codes[i], ids[i], ids)
		}
		seen[ids[i]] = true
	}
	branches := e.must("terok-gate", "ls", "tc")
	if got := strings.Count(branches, `"branch":"task/`); got != n {
		t.Fatalf("%d task branches in the gate, want %d:\n%s", got, n, branches)
	}
	listed := e.must("terok-task", "ls", "--project", "tc")
	e.run(listed, "terok-task", "rm", "--yes", "-")
}
