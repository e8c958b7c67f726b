package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// getenv reads a variable of the test's terok tree.
func (e *taskEnv) getenv(key string) string {
	for _, kv := range e.env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// removeAllTasks removes the tree's tasks (containers, workspaces) when
// the test ends, whatever happened.
func (e *taskEnv) removeAllTasks() {
	e.t.Cleanup(func() {
		if out, _, _ := e.run("", "terok-task", "ls", "-q"); strings.TrimSpace(out) != "" {
			e.run(out, "terok-task", "rm", "--force", "--yes", "-")
		}
	})
}

// jsonLines decodes JSON lines into maps.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var ls []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		ls = append(ls, m)
	}
	return ls
}

// decodeJSON decodes a command's JSON output into v; output that does not
// decode ends the test (the assertions after it would read zero values).
func decodeJSON(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("not JSON (%v): %q", err, out)
	}
}

// appendFile appends text to an existing file (a test's set-up).
func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// A task's life after its first run, with the command agent on a real
// image in real hardened containers: followups on the same workspace
// (their commits reach the gate), exec, diff of a running and of a stopped
// task, stop, restart, restart --recreate on a rebuilt image, and the
// errors of each on a task in the wrong state.
func TestTaskLifecycle(t *testing.T) {
	e := newTaskEnv(t)
	e.removeAllTasks()
	e.must("terok-project", "new", "tl", "--agents", "command")
	e.must("terok-image", "build", "tl")

	// The first run commits a.txt and leaves an untracked file behind, and
	// something in the agent's home (where agents keep their sessions).
	out := e.must("terok-task", "run", "tl", "--agent", "command",
		"echo a > a.txt && git add a.txt && git commit -qm 'add a' && echo notes > notes.txt && echo session > ~/.agent-state")
	id, _, _ := exitLine(t, out)

	// A followup runs on the same workspace and the same agent home: it
	// sees the first run's files, its commit reaches the gate, its exit
	// code passes through.
	out, errs, code := e.run("", "terok-task", "followup", id[:5],
		"cat notes.txt ~/.agent-state; echo b > b.txt && git add b.txt && git commit -qm 'add b'; exit 3")
	if code != 3 {
		t.Fatalf("followup exited %d, want 3:\n%s%s", code, out, errs)
	}
	if _, status, c := exitLine(t, out); status != "failed" || c != 3 || !strings.Contains(out, `"line":"notes"`) || !strings.Contains(out, `"line":"session"`) {
		t.Fatalf("followup's output:\n%s", out)
	}
	log := e.must("terok-gate", "log", "tl/task/"+id)
	if !strings.Contains(log, `"subject":"add a"`) || !strings.Contains(log, `"subject":"add b"`) {
		t.Fatalf("the gate lacks a commit of the run or the followup:\n%s", log)
	}
	show := e.must("terok-task", "show", id)
	var v struct {
		Prompts int `json:"prompts"`
		History []struct {
			Kind, Text string
			Resumed    bool
		} `json:"history"`
	}
	decodeJSON(t, show, &v)
	if v.Prompts != 2 || len(v.History) != 2 || v.History[0].Kind != "run" || v.History[1].Kind != "followup" ||
		!strings.HasPrefix(v.History[1].Text, "cat notes.txt") || v.History[1].Resumed {
		t.Fatalf("show's prompts: %s", show)
	}

	// A detached followup leaves the task running with an uncommitted
	// edit, an untracked file and an unpushed commit.
	prompt := "echo edit >> a.txt; echo new > new.txt; echo c > c.txt; git add c.txt; git commit -qm unpushed; touch .git/ready; sleep 300"
	e.must("terok-task", "followup", "--detach", id, prompt)
	for i := 0; ; i++ {
		if _, _, code := e.run("", "terok-task", "exec", id, "--", "test", "-e", ".git/ready"); code == 0 {
			break
		}
		if i == 300 {
			t.Fatal("the detached followup did not get ready")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A followup on a running task is a usage error that says what to do.
	if out, errs, code := e.run("", "terok-task", "followup", id, "true"); code != 2 ||
		!strings.Contains(errs, "is running") || !strings.Contains(errs, "terok-task wait "+id) || !strings.Contains(errs, "terok-task stop "+id) {
		t.Fatalf("followup on a running task: exit %d\n%s%s", code, out, errs)
	}

	// exec: the agent's user in the workspace, stdout and stderr apart,
	// stdin with -i, the exit code passed through.
	out, errs, code = e.run("", "terok-task", "exec", id, "--", "sh", "-c", "id -u; pwd; echo to stderr >&2; exit 7")
	if code != 7 || out != "1000\n/workspace\n" || errs != "to stderr\n" {
		t.Fatalf("exec: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if out, errs, code := e.run("piped in\n", "terok-task", "exec", "-i", id, "--", "cat"); code != 0 || out != "piped in\n" {
		t.Fatalf("exec -i: exit %d, %q %q", code, out, errs)
	}
	if out, errs, code := e.run("", "terok-task", "exec", "-t", id, "--", "sh", "-c", "test -t 1 && echo on a terminal"); code != 0 || !strings.Contains(out, "on a terminal") {
		t.Fatalf("exec -t: exit %d, %q %q", code, out, errs)
	}
	// The output streams: the first line arrives while the command still
	// waits for this test to see it (it gives up after 30 s, and says so).
	cmd := exec.Command("terok-task", "exec", id, "--", "sh", "-c",
		"echo first; i=0; until [ -e /tmp/seen ] || [ $i -ge 300 ]; do sleep 0.1; i=$((i+1)); done; [ -e /tmp/seen ] && echo second || echo 'gave up'")
	cmd.Env = e.env
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(pipe)
	if !lines.Scan() || lines.Text() != "first" {
		t.Fatalf("exec's first line: %q", lines.Text())
	}
	e.must("terok-task", "exec", id, "--", "touch", "/tmp/seen")
	if !lines.Scan() || lines.Text() != "second" {
		t.Fatalf("exec's output did not stream: after the first line came %q", lines.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}

	// diff of the running task shows all three, and the patch has them.
	checkDiff := func(when string) {
		t.Helper()
		out := e.must("terok-task", "diff", id)
		files := map[string]map[string]any{}
		var commits []map[string]any
		for _, l := range jsonLines(t, out) {
			if l["id"] != id {
				t.Fatalf("%s: a line of another task: %v", when, l)
			}
			switch l["type"] {
			case "file":
				files[l["path"].(string)] = l
			case "commit":
				commits = append(commits, l)
			}
		}
		if len(commits) != 1 || commits[0]["subject"] != "unpushed" {
			t.Fatalf("%s: unpushed commits:\n%s", when, out)
		}
		for path, want := range map[string]string{"a.txt": "modified unstaged", "new.txt": "added untracked",
			"notes.txt": "added untracked", "c.txt": "added committed"} {
			f := files[path]
			if f == nil {
				t.Fatalf("%s: %s missing from the diff:\n%s", when, path, out)
			}
			st, how, _ := strings.Cut(want, " ")
			ok := f["status"] == st
			switch how {
			case "unstaged":
				ok = ok && f["unstaged"] == true && f["additions"] == 1.0
			case "untracked":
				ok = ok && f["untracked"] == true
			case "committed":
				cs, _ := f["commits"].([]any)
				ok = ok && len(cs) == 1 && cs[0] == commits[0]["commit"]
			}
			if !ok {
				t.Errorf("%s: %s is not %s: %v", when, path, want, f)
			}
		}
		if len(files) != 4 {
			t.Errorf("%s: %d files, want 4:\n%s", when, len(files), out)
		}
		patch := e.must("terok-task", "diff", "--patch", id)
		for _, s := range []string{"+edit", "+new", "+c", "b/c.txt", "b/notes.txt"} {
			if !strings.Contains(patch, s) {
				t.Errorf("%s: the patch lacks %q:\n%s", when, s, patch)
			}
		}
	}
	checkDiff("running")

	// Stopped: exec says so and how to start it; diff works all the same,
	// in a container of its own.
	e.must("terok-task", "stop", "--time", "1s", id)
	if out, errs, code := e.run("", "terok-task", "exec", id, "--", "true"); code != 1 ||
		!strings.Contains(errs, "is not running") || !strings.Contains(errs, "terok-task start "+id) {
		t.Fatalf("exec on a stopped task: exit %d\n%s%s", code, out, errs)
	}
	checkDiff("stopped")

	// restart runs the container's command again on the same workspace.
	out = e.must("terok-task", "restart", id)
	if r := jsonLines(t, out); len(r) != 1 || r[0]["id"] != id || r[0]["status"] != "running" {
		t.Fatalf("restart: %s", out)
	}
	if out, errs, code := e.run("", "terok-task", "exec", id, "--", "sh", "-c", "grep -c edit a.txt"); code != 0 || out != "2\n" {
		t.Fatalf("after restart: exit %d, %q %q", code, out, errs)
	}

	// restart --recreate after a rebuild: a new image, the same workspace.
	old := jsonLines(t, e.must("terok-task", "show", id))[0]["image"]
	pt := filepath.Join(e.getenv("TEROK_CONFIG_DIR"), "projects", "tl", "project.toml")
	appendFile(t, pt, "snippet = \"RUN echo rebuilt > /etc/terok-rebuilt\"\n")
	e.must("terok-image", "build", "tl")
	out = e.must("terok-task", "restart", "--recreate", "--time", "1s", id)
	if r := jsonLines(t, out); len(r) != 1 || r[0]["image"] == old || r[0]["status"] != "running" {
		t.Fatalf("restart --recreate: %s (was %v)", out, old)
	}
	out, errs, code = e.run("", "terok-task", "exec", id, "--", "sh", "-c", "cat /etc/terok-rebuilt notes.txt ~/.agent-state; git log --format=%s -1")
	if code != 0 || out != "rebuilt\nnotes\nsession\nunpushed\n" {
		t.Fatalf("after restart --recreate: exit %d, %q %q", code, out, errs)
	}
	// The replaced containers' output is kept, and archived by rm.
	outputs, _ := filepath.Glob(filepath.Join(e.getenv("TEROK_STATE_DIR"), "tasks", "logs", id+".output-*.log"))
	if len(outputs) != 3 {
		t.Fatalf("%d kept outputs, want 3 (two followups, one --recreate): %v", len(outputs), outputs)
	}

	// rm removes it all, the kept outputs included.
	out = e.must("terok-task", "rm", "--force", "--yes", id)
	arch := jsonLines(t, out)[0]["archive"].(string)
	if _, err := os.Stat(filepath.Join(arch, "output-1.log")); err != nil {
		t.Fatalf("the first run's output is not archived: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(e.getenv("TEROK_STATE_DIR"), "tasks", "logs", id+".*")); len(left) != 0 {
		t.Fatalf("left after rm: %v", left)
	}
}
