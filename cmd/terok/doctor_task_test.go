package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/hostcheck"
	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/taskcheck"
	"github.com/terok-ai/terok-go/lib/testenv"
)

// TestDoctorTask runs `terok doctor TASK` on a real task (the command
// agent running a long sleep): healthy, every check is ok; then each
// injury in turn fails its own check with its own fix — the workspace's
// origin given a wrong token (the gate unreachable for the agent while the
// warden lives), the warden killed, the ruleset flushed by hand — and a
// stopped task fails every check with terok-task start.
func TestDoctorTask(t *testing.T) {
	e := newTaskEnv(t)
	testenv.Need(t, fileExists(filepath.Join(shield.HooksDirDistribution, shield.HookFile)),
		"the shield's OCI hook is not registered (terok setup; scripts/test does)")
	e.must("terok-project", "new", "tdoc", "--agents", "command")
	e.must("terok-image", "build", "tdoc")
	out := e.must("terok-task", "run", "--detach", "tdoc", "--agent", "command", "sleep 600")
	var task struct{ ID, Container string }
	decodeJSON(t, out, &task)
	defer e.run("", "terok-task", "rm", "--force", "--yes", task.ID)
	in := func(cmd string) (string, bool) {
		b, err := exec.Command("podman", "exec", task.Container, "sh", "-c", cmd).CombinedOutput()
		return strings.TrimSpace(string(b)), err == nil
	}
	waitEntry(t, in)

	doctor := func(args ...string) (map[string]hostcheck.Result, int, string) {
		t.Helper()
		out, errs, code := e.run("", append([]string{"terok", "doctor"}, args...)...)
		rs := map[string]hostcheck.Result{}
		var names []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if l == "" {
				continue
			}
			var r hostcheck.Result
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("not a JSON record: %q", l)
			}
			rs[r.Check] = r
			names = append(names, r.Check)
		}
		if len(args) == 1 && len(names) > 0 && !slices.Equal(names, taskcheck.Checks) {
			t.Errorf("checks = %q, want %q", names, taskcheck.Checks)
		}
		t.Logf("terok doctor %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
		return rs, code, errs
	}
	failsAlone := func(rs map[string]hostcheck.Result, check, fixHas string) string {
		t.Helper()
		r := rs[check]
		if r.Status != hostcheck.Fail || !strings.Contains(r.Fix, fixHas) || !strings.Contains(r.Fix, task.ID) {
			t.Errorf("%s: %+v, want a failure whose fix names %q and the task", check, r, fixHas)
		}
		return r.Fix
	}

	// Healthy: all ok, by a prefix of the id; the workspace's check says
	// what the host's disk says (a test host that builds images all day
	// may really be low: fulltest24).
	ws, okCode := workspaceWant(t, task.Container+"-workspace"), 0
	if ws == hostcheck.Warn {
		okCode = 1
	}
	rs, code, _ := doctor(task.ID[:6])
	if code != okCode || len(rs) != len(taskcheck.Checks) {
		t.Errorf("healthy task: exit %d, %d records", code, len(rs))
	}
	for _, n := range taskcheck.Checks {
		if want := map[bool]hostcheck.Status{true: ws, false: hostcheck.OK}[n == "workspace"]; rs[n].Status != want {
			t.Errorf("healthy task: %s is %+v, want %s", n, rs[n], want)
		}
	}
	if d := rs["dns"].Detail; !strings.Contains(d, taskcheck.ProbeName+" (not allowed) refused") {
		t.Errorf("dns did not see the refusal: %q", d)
	}
	if d := rs["agent"].Detail; !strings.Contains(d, "sleep 600") {
		t.Errorf("agent did not find the sleep: %q", d)
	}
	rs, code, _ = doctor(task.ID, "--only", "clock,workspace")
	if code != okCode || len(rs) != 2 || rs["clock"].Status != hostcheck.OK || rs["workspace"].Status != ws {
		t.Errorf("--only clock,workspace: exit %d, %+v", code, rs)
	}
	if _, code, errs := doctor(task.ID, "--only", "podman"); code != 2 || !strings.Contains(errs, "no task check") {
		t.Errorf("--only with a host check: exit %d, %q", code, errs)
	}
	if _, code, errs := doctor("zzzzzz"); code != 4 || strings.Count(strings.TrimSpace(errs), "\n") > 1 {
		t.Errorf("no such task: exit %d, %q", code, errs)
	}

	// The gate, unreachable for the agent while the warden lives: the
	// workspace's origin carries a wrong token. The fix, run as printed,
	// repairs it.
	e.must("terok-task", "exec", task.ID, "--", "git", "remote", "set-url", "origin",
		"http://task:wrong@127.0.0.1:9418/tdoc.git")
	rs, code, _ = doctor(task.ID)
	gateFix := failsAlone(rs, "gate", "terok-task exec")
	if code != 2 || rs["warden"].Status != hostcheck.OK || rs["shield"].Status != hostcheck.OK {
		t.Errorf("wrong token: exit %d, warden %+v, shield %+v", code, rs["warden"], rs["shield"])
	}
	if strings.Contains(rs["gate"].Detail, "wrong") {
		t.Errorf("the gate's detail shows the remote's credentials: %q", rs["gate"].Detail)
	}
	e.must("sh", "-c", gateFix)
	if rs, code, _ = doctor(task.ID, "--only", "gate"); code != 0 {
		t.Errorf("the gate's fix did not repair it: %+v", rs["gate"])
	}

	// The warden killed: its process group, which rootless is the podman
	// unshare wrapper (the pid in the record) and the warden inside it.
	var show struct{ Warden struct{ PID int } }
	decodeJSON(t, e.must("terok-task", "show", task.ID), &show)
	if show.Warden.PID <= 0 {
		t.Fatal("no warden pid")
	}
	if err := exec.Command("kill", "-KILL", "--", "-"+strconv.Itoa(show.Warden.PID)).Run(); err != nil {
		t.Fatal(err)
	}
	for range 50 { // until the process is reaped
		if _, err := os.Stat("/proc/" + strconv.Itoa(show.Warden.PID)); err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	rs, code, _ = doctor(task.ID)
	wardenFix := failsAlone(rs, "warden", "terok-task restart")
	if code != 2 || rs["dns"].Status != hostcheck.Fail || rs["gate"].Status != hostcheck.Fail {
		t.Errorf("warden killed: exit %d, dns %+v, gate %+v (both are the warden's)", code, rs["dns"], rs["gate"])
	}

	// The ruleset flushed by hand in the task's network namespace.
	pid := strings.TrimSpace(string(must(t, exec.Command("podman", "inspect", "-f", "{{.State.Pid}}", task.Container))))
	flush := []string{"nsenter", "-t", pid, "-n", "nft", "flush", "ruleset"}
	if os.Geteuid() != 0 { // the namespace is the rootless user namespace's
		flush = append([]string{"podman", "unshare"}, flush...)
	}
	must(t, exec.Command(flush[0], flush[1:]...))
	rs, code, _ = doctor(task.ID)
	shieldFix := failsAlone(rs, "shield", "terok-task stop")
	if code != 2 {
		t.Errorf("ruleset flushed: exit %d", code)
	}

	fixes := []string{gateFix, wardenFix, shieldFix}
	slices.Sort(fixes)
	if len(slices.Compact(fixes)) != 3 {
		t.Errorf("the fixes are not distinct: %q", fixes)
	}

	// Not running: every check fails with terok-task start.
	e.must("terok-task", "stop", "--time", "1s", task.ID)
	rs, code, _ = doctor(task.ID)
	if code != 2 || len(rs) != len(taskcheck.Checks) {
		t.Errorf("stopped task: exit %d, %d records", code, len(rs))
	}
	for _, n := range taskcheck.Checks {
		failsAlone(rs, n, "terok-task start")
	}
}

func must(t *testing.T, cmd *exec.Cmd) []byte {
	t.Helper()
	for _, kv := range os.Environ() { // podman unshare is local only
		if !strings.HasPrefix(kv, "CONTAINER_HOST=") || cmd.Args[0] != "podman" || cmd.Args[1] != "unshare" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if xe, ok := err.(*exec.ExitError); ok {
			stderr = xe.Stderr
		}
		t.Fatalf("%v: %v\n%s%s", cmd.Args, err, out, stderr)
	}
	return out
}

// workspaceWant is the status the workspace check must give for a volume,
// from the host's own view of the filesystem that holds it.
func workspaceWant(t *testing.T, volume string) hostcheck.Status {
	t.Helper()
	out, err := exec.Command("podman", "volume", "inspect", "--format", "{{.Mountpoint}}", volume).Output()
	if err != nil {
		t.Fatalf("podman volume inspect %s: %v", volume, err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(strings.TrimSpace(string(out)), &st); err != nil {
		t.Fatal(err)
	}
	avail, total := int64(st.Bavail)*st.Bsize, int64(st.Blocks)*st.Bsize
	pct := avail * 100 / total
	switch {
	case avail < taskcheck.FailFree || pct < taskcheck.FailPercent:
		t.Fatalf("the host's disk is nearly full (%d%% free): free some space", pct)
	case avail < taskcheck.WarnFree || pct < taskcheck.WarnPercent:
		return hostcheck.Warn
	}
	return hostcheck.OK
}
