package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/testenv"
)

// The kill switch on real tasks, first with Podman wedged (a socket that
// accepts and never answers): a task whose warden answers is quarantined
// (no network, no DNS, no gate; the agent runs on), a task whose warden is
// hung has it killed, and the command returns although Podman never
// answers. Then with Podman: the running containers of tasks without a
// warden are stopped, a finished task is left alone, --stop stops the
// quarantined one; everything is audited.
func TestPanic(t *testing.T) {
	e := newTaskEnv(t)
	testenv.Need(t, fileExists(filepath.Join(shield.HooksDirDistribution, shield.HookFile)),
		"the shield's OCI hook is not registered (terok setup; scripts/test does)")
	e.removeAllTasks()
	e.must("terok-project", "new", "tp", "--agents", "command")
	e.must("terok-image", "build", "tp")
	type task struct{ ID, Container string }
	start := func(cmd string) task {
		var x task
		decodeJSON(t, e.must("terok-task", "run", "--detach", "tp", "--agent", "command", cmd), &x)
		return x
	}
	a, b, c := start("sleep 300"), start("sleep 300"), start("sleep 300")
	// e commits after the panic: its push finds the gate closed.
	e2 := start("sleep 8; echo e > e.txt; git add e.txt; git commit -qm e")
	// f's record cannot be read: its warden is reached by the task's id,
	// and its container found by the task label.
	f := start("sleep 300")
	done := start("true")
	e.must("terok-task", "wait", done.ID)
	in := func(x task, cmd string) (string, bool) {
		out, err := exec.Command("podman", "exec", x.Container, "sh", "-c", cmd).CombinedOutput()
		return strings.TrimSpace(string(out)), err == nil
	}
	for _, x := range []task{a, b, c, e2, f} {
		waitEntry(t, func(cmd string) (string, bool) { return in(x, cmd) })
	}
	frec := filepath.Join(e.getenv("TEROK_STATE_DIR"), "tasks", f.ID+".json")
	good, err := os.ReadFile(frec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(frec, []byte("{not a record"), 0o600); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = os.WriteFile(frec, good, 0o600) }() // so that the cleanup removes it
	mirror := "curl -sS -m 10 -o /dev/null -w '%{http_code}' http://deb.debian.org/debian/"
	gate := "git -C /workspace ls-remote origin"
	if o, ok := in(a, mirror); !ok || o != "200" {
		t.Fatalf("the distribution mirror before the panic: %q", o)
	}
	if o, ok := in(a, gate); !ok {
		t.Fatalf("the gate before the panic: %s", o)
	}
	wardenOf := func(x task) int {
		var show struct{ Warden struct{ PID int } }
		decodeJSON(t, e.must("terok-task", "show", x.ID), &show)
		if show.Warden.PID <= 0 {
			t.Fatalf("no warden pid for %s", x.ID)
		}
		return show.Warden.PID
	}
	bw, cw := wardenOf(b), wardenOf(c)
	// Process groups: rootless, the recorded pid is podman unshare's and
	// the warden is its child (a warden runs in a session of its own).
	if err := syscall.Kill(-bw, syscall.SIGKILL); err != nil { // b: no warden
		t.Fatalf("killing b's warden: %v", err)
	}
	// A signal is delivered, not waited for: until the warden is gone its
	// socket may still take a connection (and then reset it), which panic
	// rightly counts as a warden that does not answer.
	for i := 0; syscall.Kill(bw, 0) == nil; i++ {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", bw)); err == nil && strings.Contains(string(b), ") Z ") {
			break // a zombie: its sockets are closed
		}
		if i == 500 {
			t.Fatalf("b's warden %d did not die", bw)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := syscall.Kill(-cw, syscall.SIGSTOP); err != nil { // c: a warden that never answers
		t.Fatalf("stopping c's warden: %v", err)
	}
	defer func() { _ = syscall.Kill(-cw, syscall.SIGKILL) }()

	// Podman wedged: it accepts connections and never answers.
	sock := filepath.Join(t.TempDir(), "wedged.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	wedged := &taskEnv{t: t, env: append(append([]string{}, e.env...), "CONTAINER_HOST=unix://"+sock)}
	out, errs, code := wedged.run("", "terok", "panic", "--engine-timeout", "1s")
	if code != 0 || !strings.Contains(errs, "Podman did not answer, so no container was stopped") {
		t.Fatalf("panic with Podman wedged: exit %d\n%s%s", code, out, errs)
	}
	got := actions(t, out)
	if got[a.ID] != "quarantined" || got[e2.ID] != "quarantined" || got[f.ID] != "quarantined" || got[c.ID] != "killed" || len(got) != 4 {
		t.Fatalf("panic with Podman wedged: %v (want %s, %s and %s quarantined, %s killed)\n%s", got, a.ID, e2.ID, f.ID, c.ID, out)
	}
	if o, ok := in(f, mirror); ok {
		t.Errorf("the mirror from the task with an unreadable record: %s", o)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(cw)); err == nil {
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(cw) + "/stat"); !strings.Contains(string(b), ") Z ") {
			t.Errorf("the hung warden %d is still there", cw)
		}
	}
	// a runs on, with nothing in or out: not the mirror, not DNS, not the gate.
	if _, ok := in(a, "true"); !ok {
		t.Fatal("the quarantined task does not run any more")
	}
	if o, ok := in(a, mirror); ok {
		t.Errorf("the mirror after the panic: %s", o)
	}
	if o, ok := in(a, "getent hosts deb.debian.org"); ok {
		t.Errorf("DNS after the panic: %s", o)
	}
	if o, ok := in(a, gate); ok || !strings.Contains(o, "403") {
		t.Errorf("the gate after the panic: %v %s", ok, o)
	}
	if st := e.must("terok-shield", "status", a.ID); !strings.Contains(st, `"posture":"quarantined"`) {
		t.Errorf("status after the panic: %s", st)
	}
	// e's agent ends with a commit: the entry point finds the gate closed
	// at once (it would otherwise wait some 100 s for it) and exits.
	e.run("", "terok-task", "wait", e2.ID)
	if logs := e.must("terok-task", "logs", "--json", e2.ID); !strings.Contains(logs, "the gate is closed: the task is quarantined") {
		t.Errorf("the quarantined task's push:\n%s", logs)
	}
	if out := e.must("terok-gate", "ls", "tp"); strings.Contains(out, e2.ID) {
		t.Errorf("the quarantined task's branch reached the gate:\n%s", out)
	}

	// With Podman: the containers of the tasks without a warden stop.
	got = actions(t, e.must("terok", "panic"))
	if got[a.ID] != "quarantined" || got[f.ID] != "quarantined" || got[b.ID] != "stopped" || got[c.ID] != "stopped" || len(got) != 4 {
		t.Fatalf("panic: %v (want %s quarantined, %s and %s stopped, %s left alone)", got, a.ID, b.ID, c.ID, done.ID)
	}
	// ls warns of f's unreadable record (and exits 1) and lists the rest.
	ls, _, _ := e.run("", "terok-task", "ls")
	for id, want := range map[string]string{a.ID: "running", b.ID: "stopped", c.ID: "stopped", done.ID: "exited"} {
		if !lineHas(ls, id, `"status":"`+want+`"`) {
			t.Errorf("ls: %s is not %s:\n%s", id, want, ls)
		}
	}
	if !lineHas(ls, a.ID, `"posture":"quarantined"`) {
		t.Errorf("ls does not show the quarantine:\n%s", ls)
	}
	tty := &taskEnv{t: t, env: append(append([]string{}, e.env...), "TEROK_FORCE_TTY=1")}
	if out, _, _ := tty.run("", "terok-task", "ls"); !strings.Contains(out, "running, shield quarantined") {
		t.Errorf("ls on a terminal does not show the quarantine:\n%s", out)
	}
	// --stop: the quarantined task is stopped as well.
	got = actions(t, e.must("terok", "panic", "--stop"))
	if got[a.ID] != "stopped" || got[f.ID] != "stopped" || len(got) != 2 {
		t.Errorf("panic --stop: %v", got)
	}
	if exec.Command("podman", "container", "exists", f.Container).Run() == nil {
		if st, _ := exec.Command("podman", "inspect", "-f", "{{.State.Running}}", f.Container).Output(); strings.TrimSpace(string(st)) != "false" {
			t.Errorf("the task with an unreadable record still runs after panic --stop")
		}
	}
	if ls, _, _ := e.run("", "terok-task", "ls"); !lineHas(ls, a.ID, `"status":"stopped"`) {
		t.Error("the task is not stopped after panic --stop")
	}
	// Nothing left running: a panic reports nothing.
	if out := e.must("terok", "panic"); strings.TrimSpace(out) != "" {
		t.Errorf("panic with nothing running: %s", out)
	}
	audit, _ := os.ReadFile(filepath.Join(e.getenv("TEROK_STATE_DIR"), "audit", "tasks.jsonl"))
	for _, want := range []string{`"task":"` + a.ID + `","project":"tp","event":"panic: quarantined"`,
		`"task":"` + c.ID + `","project":"tp","event":"panic: killed"`, `"task":"` + b.ID + `","project":"tp","event":"panic: stopped"`,
		`"task":"` + a.ID + `","project":"tp","event":"panic: stopped"`} {
		if !strings.Contains(string(audit), want) {
			t.Errorf("the audit log lacks %s:\n%s", want, audit)
		}
	}
}

// actions reads panic's JSON lines into task → action.
func actions(t *testing.T, out string) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var r struct{ Task, Action string }
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("panic printed %q", l)
		}
		got[r.Task] = r.Action
	}
	return got
}

// lineHas says whether the JSON line of id in out contains want.
func lineHas(out, id, want string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, `"id":"`+id+`"`) {
			return strings.Contains(l, want)
		}
	}
	return false
}
