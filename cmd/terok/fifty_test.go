package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/testenv"
)

// Ten tasks at once (issue #15; bench's BenchmarkFiftyTasks is the
// fifty-task version with its timings): all ten started together, each
// agent running a loop through the gate, the resolver and the firewall
// (testenv.BusyAgent). ls lists all ten running, each with its warden;
// one `terok panic` quarantines all ten, which ls shows; every agent finds
// itself cut off (no DNS, gate closed, no connection) and exits 0, and
// every task's rounds are on the gate. Correctness, not speed.
func TestTenTasksAtOnce(t *testing.T) {
	const n, rounds = 10, 2
	e := newTaskEnv(t)
	testenv.Need(t, fileExists(filepath.Join(shield.HooksDirDistribution, shield.HookFile)),
		"the shield's OCI hook is not registered (terok setup; scripts/test does)")
	e.removeAllTasks()
	e.must("terok-project", "new", "ten", "--agents", "command")
	e.must("terok-image", "build", "ten")

	script := testenv.BusyAgent(rounds)
	type started struct{ ID, Container string }
	tasks := make([]started, n)
	failures := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, errs, code := e.run("", "terok-task", "run", "--detach", "ten", "--agent", "command", script)
			if code != 0 {
				failures[i] = fmt.Sprintf("exit %d: %s%s", code, out, errs)
				return
			}
			if err := json.Unmarshal([]byte(out), &tasks[i]); err != nil {
				failures[i] = fmt.Sprintf("not a task (%v): %q", err, out)
			}
		}()
	}
	wg.Wait()
	ids := map[string]bool{}
	for i, f := range failures {
		if f != "" {
			t.Fatalf("task %d of %d did not start: %s", i, n, f)
		}
		ids[tasks[i].ID] = true
	}
	if len(ids) != n {
		t.Fatalf("%d distinct tasks for %d starts: %v", len(ids), n, tasks)
	}

	// Every task pushes its last round (a task that ends before fails).
	logs := func(id string) string { out, _, _ := e.run("", "terok-task", "logs", id); return out }
	deadline := time.Now().Add(5 * time.Minute)
	for {
		pushed := map[string]bool{}
		for _, br := range jsonLines(t, e.must("terok-gate", "ls", "ten")) {
			if id, _ := br["task"].(string); ids[id] && br["ahead"] == float64(rounds) {
				pushed[id] = true
			}
		}
		if len(pushed) == n {
			break
		}
		for _, v := range jsonLines(t, e.must("terok-task", "ls")) {
			if id := v["id"].(string); ids[id] && !pushed[id] && v["status"] != "running" {
				t.Fatalf("task %s ended before its last push: %v\n%s", id, v, logs(id))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 5 minutes %d of %d tasks pushed their last round", len(pushed), n)
		}
		time.Sleep(time.Second)
	}

	// ls lists all ten, running, each with a live warden.
	listed := 0
	for _, v := range jsonLines(t, e.must("terok-task", "ls")) {
		if !ids[v["id"].(string)] {
			continue
		}
		listed++
		w, _ := v["warden"].(map[string]any)
		if v["status"] != "running" || w == nil || w["alive"] != true || v["project"] != "ten" {
			t.Errorf("ls while running: %v", v)
		}
	}
	if listed != n {
		t.Errorf("ls lists %d of the %d tasks", listed, n)
	}

	// One panic quarantines all ten.
	got := actions(t, e.must("terok", "panic"))
	for id := range ids {
		if got[id] != "quarantined" {
			t.Errorf("panic: %s was %q, want quarantined (%v)", id, got[id], got)
		}
	}
	for _, v := range jsonLines(t, e.must("terok-task", "ls")) {
		// (A task that already found itself cut off has ended: its exit
		// status and log say so below.)
		if ids[v["id"].(string)] && v["status"] == "running" && v["posture"] != "quarantined" {
			t.Errorf("ls after the panic: %v", v)
		}
	}

	// Each agent finds itself cut off and exits 0; its rounds are on the gate.
	ls := testenv.WaitBusyAgentsEnded(t, ids, 3*time.Minute, func() []map[string]any {
		return jsonLines(t, e.must("terok-task", "ls"))
	})
	for _, v := range ls {
		id := v["id"].(string)
		if !ids[id] {
			continue
		}
		if v["status"] != "exited" || v["exit_code"] != float64(0) {
			t.Errorf("task %s after the panic: %v %v\n%s", id, v["status"], v["exit_code"], logs(id))
		} else if l := logs(id); !strings.Contains(l, "BUSY-CUT-OFF") {
			t.Errorf("task %s did not check that it was cut off:\n%s", id, l)
		}
	}
	onGate := 0
	for _, br := range jsonLines(t, e.must("terok-gate", "ls", "ten")) {
		if id, _ := br["task"].(string); ids[id] && br["ahead"] == float64(rounds) && br["subject"] == fmt.Sprintf("busy round %d", rounds) {
			onGate++
		}
	}
	if onGate != n {
		t.Errorf("%d of %d tasks' rounds are on the gate", onGate, n)
	}
}
