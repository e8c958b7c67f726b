package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/testenv"
)

// The kill switch on real tasks: a task whose warden answers is
// quarantined (no network, not even DNS, and the agent goes on running); a
// task whose warden is dead is stopped at once; a finished task is left
// alone; --stop stops the quarantined one too; everything is audited.
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
		json.Unmarshal([]byte(e.must("terok-task", "run", "--detach", "tp", "--agent", "command", cmd)), &x)
		return x
	}
	a, b := start("sleep 300"), start("sleep 300")
	done := start("true")
	e.must("terok-task", "wait", done.ID)
	inA := func(cmd string) (string, bool) {
		out, err := exec.Command("podman", "exec", a.Container, "sh", "-c", cmd).CombinedOutput()
		return strings.TrimSpace(string(out)), err == nil
	}
	waitEntry(t, inA)
	mirror := "curl -sS -m 10 -o /dev/null -w '%{http_code}' http://deb.debian.org/debian/"
	if o, ok := inA(mirror); !ok || o != "200" {
		t.Fatalf("the distribution mirror before the panic: %q", o)
	}
	var show struct{ Warden struct{ PID int } }
	json.Unmarshal([]byte(e.must("terok-task", "show", b.ID)), &show)
	if show.Warden.PID <= 0 {
		t.Fatal("no warden pid")
	}
	if err := exec.Command("kill", "-KILL", strconv.Itoa(show.Warden.PID)).Run(); err != nil {
		t.Fatal(err)
	}

	out := e.must("terok", "panic")
	var got = map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct{ Task, Action string }
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("panic printed %q", l)
		}
		got[r.Task] = r.Action
	}
	if got[a.ID] != "quarantined" || got[b.ID] != "killed" || len(got) != 2 {
		t.Fatalf("panic: %v (want %s quarantined, %s killed, %s left alone)\n%s", got, a.ID, b.ID, done.ID, out)
	}
	// A runs on, with nothing in or out: not the mirror, not even DNS.
	if _, ok := inA("true"); !ok {
		t.Fatal("the quarantined task does not run any more")
	}
	if o, ok := inA(mirror); ok {
		t.Errorf("the mirror after the panic: %s", o)
	}
	if o, ok := inA("getent hosts deb.debian.org"); ok {
		t.Errorf("DNS after the panic: %s", o)
	}
	if st := e.must("terok-shield", "status", a.ID); !strings.Contains(st, `"posture":"quarantined"`) {
		t.Errorf("status after the panic: %s", st)
	}
	ls := e.must("terok-task", "ls")
	for id, want := range map[string]string{a.ID: "running", b.ID: "stopped", done.ID: "exited"} {
		if !strings.Contains(ls, `"id":"`+id+`"`) || !lineHas(ls, id, `"status":"`+want+`"`) {
			t.Errorf("ls: %s is not %s:\n%s", id, want, ls)
		}
	}

	// --stop: the quarantined task is stopped as well.
	out = e.must("terok", "panic", "--stop")
	if !strings.Contains(out, `"task":"`+a.ID+`"`) || !strings.Contains(out, `"action":"stopped"`) || strings.Contains(out, b.ID) {
		t.Errorf("panic --stop: %s", out)
	}
	if !lineHas(e.must("terok-task", "ls"), a.ID, `"status":"stopped"`) {
		t.Error("the task is not stopped after panic --stop")
	}
	// Nothing left running: a panic reports nothing.
	if out := e.must("terok", "panic"); strings.TrimSpace(out) != "" {
		t.Errorf("panic with nothing running: %s", out)
	}
	audit, _ := os.ReadFile(filepath.Join(e.getenv("TEROK_STATE_DIR"), "audit", "tasks.jsonl"))
	for _, want := range []string{`"task":"` + a.ID + `","project":"tp","event":"panic: quarantined"`,
		`"task":"` + b.ID + `","project":"tp","event":"panic: killed"`, `"task":"` + a.ID + `","project":"tp","event":"panic: stopped"`} {
		if !strings.Contains(string(audit), want) {
			t.Errorf("the audit log lacks %s:\n%s", want, audit)
		}
	}
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
