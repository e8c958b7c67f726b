package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/testenv"
)

// fiftyLoops is how many rounds each task's agent runs of its loop; each
// round ends with a commit pushed through the gate.
const fiftyLoops = 3

// fiftyScript is the fifty tasks' agent (see testenv.BusyAgent): a short
// loop through the gate, the resolver and the firewall, then a wait until
// it is cut off, which it checks.
var fiftyScript = testenv.BusyAgent(fiftyLoops)

// BenchmarkFiftyTasks: fifty tasks at once (issue #15). It starts them all
// together (`terok-task run --detach`, the command agent running
// fiftyScript) against as many `podman run -d` of the same image, waits
// until every one has pushed its last round through the gate, measures
// what each running task costs the host (its warden's and conmon's memory,
// and any other process that names the task), times `terok-task ls` with
// all of them running against `podman ps` of them, then `terok panic`
// cutting them all off against `podman ps -q`, and checks that every task
// found itself cut off and exited 0 with its commits on the gate.
// TEROK_FIFTY sets the number of tasks (50 unless set; bench/run runs it
// once, whatever BENCHTIME says).
func BenchmarkFiftyTasks(b *testing.B) {
	n := 50
	if v := os.Getenv("TEROK_FIFTY"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("TEROK_FIFTY=%q: not a number of tasks", v)
		}
	}
	tp := newTaskProject(b)
	podman, _ := exec.LookPath("podman")
	b.ResetTimer()

	// The baseline: as many bare containers of the same image, at once.
	// Not with --userns=auto, which the tasks have: Podman 4.3 deadlocks
	// its storage when it creates several such containers at once (terok
	// serialises its own creations, see task.EngineLock).
	label := fmt.Sprintf("terok-bench-fifty=%d", os.Getpid())
	baseStart, _ := together(n, func(int) ([]byte, error) {
		return exec.Command(podman, "run", "-d", "--rm", "--init", "--label", label, tp.image, "sleep", "600").CombinedOutput()
	}, b)
	// Gone before the tasks start: their removal is storage work too.
	for range 120 {
		ids, err := exec.Command(podman, "ps", "-aq", "--filter", "label="+label).Output()
		if err != nil || len(strings.Fields(string(ids))) == 0 {
			break
		}
		args := append([]string{"rm", "-f", "-t", "0"}, strings.Fields(string(ids))...)
		_ = exec.Command(podman, args...).Run() // tidying; measured already
		time.Sleep(500 * time.Millisecond)
	}

	// The tasks, at once.
	type started struct{ ID, Container string }
	tasks := make([]started, n)
	// Each reports its phases (TEROK_TRACE=1); the waits for the engine
	// lock, which serialises the engine's creates and starts, are in
	// create.spec and start.container.
	var mu sync.Mutex
	startPhases := map[string]float64{}
	start, outs := together(n, func(i int) ([]byte, error) {
		cmd := exec.Command(filepath.Join(tp.bin, "terok-task"), "run", "--detach", "bench", "--agent", "command", fiftyScript)
		cmd.Env = append(tp.env, "TEROK_TRACE=1")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		mu.Lock()
		tracePhases([]byte(stderr.String()), startPhases)
		mu.Unlock()
		if err != nil {
			return append(out, stderr.String()...), err
		}
		return out, nil
	}, b)
	for p, v := range startPhases {
		b.ReportMetric(v/float64(n), "start-"+p+"-ms")
	}
	for i, out := range outs {
		if err := json.Unmarshal(out, &tasks[i]); err != nil || tasks[i].ID == "" {
			b.Fatalf("task %d: no task in %q", i, out)
		}
	}
	b.ReportMetric(float64(n), "tasks")
	b.ReportMetric(ms(baseStart), "base-start-all-ms")
	b.ReportMetric(ms(start), "terok-start-all-ms")
	b.ReportMetric(ms(start)/float64(n), "terok-start-per-task-ms")
	b.ReportMetric(float64(start)/float64(baseStart), "start-ratio")

	// Wait until every task has pushed its last round (or ended early,
	// which fails it).
	ids := map[string]bool{}
	for _, x := range tasks {
		ids[x.ID] = true
	}
	t0 := time.Now()
	for {
		pushed := map[string]bool{}
		for _, br := range jsonLines(b, tp.run("terok-gate", "ls", "bench")) {
			if ids[br["task"].(string)] && int(br["ahead"].(float64)) == fiftyLoops {
				pushed[br["task"].(string)] = true
			}
		}
		if len(pushed) == n {
			break
		}
		for _, v := range jsonLines(b, tp.run("terok-task", "ls", "--project", "bench")) {
			if id := v["id"].(string); ids[id] && !pushed[id] && v["status"] != "running" {
				b.Fatalf("task %s ended before its last push: %v\n%s", id, v, tp.run("terok-task", "logs", id))
			}
		}
		if time.Since(t0) > 10*time.Minute {
			b.Fatalf("after 10 minutes %d of %d tasks have pushed their last round", len(pushed), n)
		}
		time.Sleep(time.Second)
	}
	b.ReportMetric(ms(time.Since(t0)), "loops-done-after-ms")

	// What each running task costs the host, beyond its agent.
	containers := map[string]bool{}
	for _, x := range tasks {
		containers[x.Container] = true
	}
	for what, kb := range taskMemory(b, tp, ids, containers) {
		b.ReportMetric(kb/1024/float64(n), what+"-MB/task")
	}

	// ls with all of them running, against podman ps of them.
	// ls reports its phases (TEROK_TRACE=1): the engine's listing is most
	// of its time.
	phases := map[string]float64{}
	const lsRounds = 10
	lsBase, lsTerok := alternate(b, lsRounds, append(tp.env, "TEROK_TRACE=1"), []string{podman, "ps", "-a", "--filter", "label=terok.project=bench"},
		[]string{filepath.Join(tp.bin, "terok-task"), "ls", "--json"}, func(out []byte) { tracePhases(out, phases) })
	b.ReportMetric(ms(lsBase), "ls-base-ms")
	b.ReportMetric(ms(lsTerok), "ls-terok-ms")
	b.ReportMetric(float64(lsTerok)/float64(lsBase), "ls-ratio")
	for p, v := range phases {
		b.ReportMetric(v/lsRounds, p+"-ms")
	}

	// The kill switch, once, against one podman ps of them.
	t1 := time.Now()
	if out, err := exec.Command(podman, "ps", "-q", "--filter", "label=terok.project=bench").CombinedOutput(); err != nil {
		b.Fatalf("podman ps: %v %s", err, out)
	}
	basePanic := time.Since(t1)
	cmd := exec.Command(filepath.Join(tp.bin, "terok"), "panic")
	cmd.Env = tp.env
	t1 = time.Now()
	out, err := cmd.CombinedOutput()
	panicTime := time.Since(t1)
	if err != nil {
		b.Fatalf("terok panic: %v\n%s", err, out)
	}
	cut := 0
	for _, p := range jsonLines(b, string(out)) {
		if ids[p["task"].(string)] && p["action"] == "quarantined" {
			cut++
		}
	}
	if cut != n {
		b.Fatalf("terok panic quarantined %d of %d tasks:\n%s", cut, n, out)
	}
	b.ReportMetric(ms(basePanic), "panic-base-ms")
	b.ReportMetric(ms(panicTime), "panic-terok-ms")
	b.ReportMetric(float64(panicTime)/float64(basePanic), "panic-ratio")
	for _, v := range jsonLines(b, tp.run("terok-task", "ls", "--project", "bench")) {
		// (A task that already found itself cut off has ended: its exit
		// status says so below.)
		if ids[v["id"].(string)] && v["status"] == "running" && v["posture"] != "quarantined" {
			b.Errorf("task %s after the panic: posture %v", v["id"], v["posture"])
		}
	}

	// Every task finds itself cut off and exits 0, its rounds on the gate.
	ls := testenv.WaitBusyAgentsEnded(b, ids, 5*time.Minute, func() []map[string]any {
		return jsonLines(b, tp.run("terok-task", "ls", "--project", "bench"))
	})
	bad := 0
	for _, v := range ls {
		id := v["id"].(string)
		if ids[id] && (v["status"] != "exited" || v["exit_code"] != 0.0) {
			bad++
			if bad <= 3 {
				b.Errorf("task %s: %v %v\n%s", id, v["status"], v["exit_code"], tp.run("terok-task", "logs", id))
			}
		}
	}
	if bad > 0 {
		b.Fatalf("%d of %d tasks did not finish correctly", bad, n)
	}
	onGate := 0
	for _, br := range jsonLines(b, tp.run("terok-gate", "ls", "bench")) {
		if ids[br["task"].(string)] && int(br["ahead"].(float64)) == fiftyLoops && br["subject"] == fmt.Sprintf("busy round %d", fiftyLoops) {
			onGate++
		}
	}
	if onGate != n {
		b.Fatalf("%d of %d tasks' last rounds are on the gate", onGate, n)
	}
	b.ReportMetric(0, "ns/op")
}

// together runs f(0) .. f(n-1) all at once and returns the wall time until
// the last returned, and each one's output.
func together(n int, f func(i int) ([]byte, error), b *testing.B) (time.Duration, [][]byte) {
	outs := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = f(i)
		}()
	}
	wg.Wait()
	d := time.Since(t0)
	for i, err := range errs {
		if err != nil {
			var stderr []byte
			if xe, ok := err.(*exec.ExitError); ok {
				stderr = xe.Stderr
			}
			b.Fatalf("%d of %d: %v\n%s%s", i, n, err, outs[i], stderr)
		}
	}
	return d, outs
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// alternate runs base and measured alternately rounds times (after one
// warming run each) and returns their mean times; inspect is handed each
// measured round's output.
func alternate(b *testing.B, rounds int, env []string, base, measured []string, inspect func([]byte)) (time.Duration, time.Duration) {
	var tb, tm time.Duration
	run := func(argv []string) (time.Duration, []byte) {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = env
		t0 := time.Now()
		out, err := cmd.CombinedOutput()
		d := time.Since(t0)
		if err != nil {
			b.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
		}
		return d, out
	}
	run(base)
	run(measured)
	for range rounds {
		d, _ := run(base)
		tb += d
		d, out := run(measured)
		tm += d
		inspect(out)
	}
	return tb / time.Duration(rounds), tm / time.Duration(rounds)
}

// taskMemory adds up, in kB, the resident (Rss) and proportional (Pss)
// memory of what terok adds to the host for the given running tasks:
// their wardens (with their process groups: rootless, the recorded pid is
// podman unshare's, the warden its child), their conmons, and any other
// process outside the containers whose command line names a task or its
// container.
func taskMemory(b *testing.B, tp taskProject, ids, containers map[string]bool) map[string]float64 {
	wardens := map[int]bool{}
	for _, v := range jsonLines(b, tp.run("terok-task", "ls", "--project", "bench")) {
		if w, ok := v["warden"].(map[string]any); ok && ids[v["id"].(string)] {
			wardens[int(w["pid"].(float64))] = true
		}
	}
	if len(wardens) != len(ids) {
		b.Fatalf("%d wardens for %d tasks", len(wardens), len(ids))
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]float64{}
	others := map[string]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || len(raw) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		var pgid int
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 {
			if f := strings.Fields(string(stat[i+1:])); len(f) > 2 {
				pgid, _ = strconv.Atoi(f[2])
			}
		}
		what := ""
		switch {
		case wardens[pid] || wardens[pgid]:
			what = "warden"
		case filepath.Base(args[0]) == "conmon":
			for _, a := range args {
				if containers[a] {
					what = "conmon"
				}
			}
		default:
			cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
			if strings.Contains(string(cg), "libpod") {
				continue // inside a container: the agent's
			}
			for _, a := range args {
				for id := range ids {
					if strings.Contains(a, id) {
						what = "other"
					}
				}
				for c := range containers {
					if strings.Contains(a, c) {
						what = "other"
					}
				}
			}
			if what == "other" {
				others[filepath.Base(args[0])]++
			}
		}
		if what == "" {
			continue
		}
		roll, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		if err != nil {
			continue // gone meanwhile
		}
		for _, l := range strings.Split(string(roll), "\n") {
			f := strings.Fields(l)
			if len(f) == 3 && (f[0] == "Rss:" || f[0] == "Pss:") {
				kb, _ := strconv.ParseFloat(f[1], 64)
				out[what+"-"+strings.ToLower(strings.TrimSuffix(f[0], ":"))] += kb
			}
		}
	}
	if len(others) > 0 {
		b.Logf("other processes naming a task: %v", others)
	}
	return out
}

// jsonLines decodes the JSON lines of a command's output.
func jsonLines(b *testing.B, out string) []map[string]any {
	var vs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var v map[string]any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			b.Fatalf("not a JSON line: %q", sc.Text())
		}
		vs = append(vs, v)
	}
	return vs
}
