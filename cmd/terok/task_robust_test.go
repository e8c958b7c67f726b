package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/testenv"
)

// lsViews parses `terok-task ls` JSON lines.
func lsViews(t *testing.T, out string) []struct{ ID, Container, Status string } {
	t.Helper()
	var vs []struct{ ID, Container, Status string }
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var v struct{ ID, Container, Status string }
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("ls printed %q: %v", l, err)
		}
		vs = append(vs, v)
	}
	return vs
}

// podmanNames lists the containers or volumes of a project, by label.
func podmanNames(t *testing.T, kind, project string) []string {
	t.Helper()
	args := []string{kind, "ls", "-a", "--filter", "label=terok.project=" + project, "--format", "{{.Names}}"}
	if kind == "volume" {
		args = []string{kind, "ls", "--filter", "label=terok.project=" + project, "--format", "{{.Name}}"}
	}
	out, err := exec.Command("podman", args...).Output()
	if err != nil {
		t.Fatalf("podman %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

// settle waits until the project's containers stop changing: a killed
// client's last request may still be finishing in the Podman service.
func settle(t *testing.T, project string) {
	t.Helper()
	prev := ""
	for range 40 {
		time.Sleep(500 * time.Millisecond)
		cur := strings.Join(podmanNames(t, "container", project), " ") + "|" + strings.Join(podmanNames(t, "volume", project), " ")
		if cur == prev {
			return
		}
		prev = cur
	}
}

// A terok-task run killed with SIGKILL at any point of its start leaves
// state that ls reports truthfully and rm cleans completely.
func TestTaskRunKilledMidStart(t *testing.T) {
	e := newTaskEnv(t)
	e.must("terok-project", "new", "tk", "--agents", "command")
	e.must("terok-image", "build", "tk")

	// Kill at several points: loading, creating the record, the volume,
	// the container, starting it, spawning the warden, following.
	for _, d := range []time.Duration{20, 60, 120, 200, 300, 450, 700, 1000, 1500} {
		cmd := exec.Command("terok-task", "run", "tk", "--agent", "command", "sleep 20")
		cmd.Env = e.env
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(d * time.Millisecond)
		_ = cmd.Process.Kill() // it may have ended already
		_ = cmd.Wait()         // killed: its exit status says so
	}
	settle(t, "tk")

	out := e.must("terok-task", "ls")
	views := lsViews(t, out)
	if len(views) == 0 {
		t.Fatalf("no task recorded by nine killed runs")
	}
	containers := podmanNames(t, "container", "tk")
	for _, v := range views {
		exists := slices.Contains(containers, v.Container)
		switch {
		case exists && v.Status == "missing":
			t.Errorf("task %s reported missing, but its container exists", v.ID)
		case !exists && v.Status != "missing":
			t.Errorf("task %s reported %s, but it has no container", v.ID, v.Status)
		}
		if show, errs, code := e.run("", "terok-task", "show", v.ID); code != 0 {
			t.Errorf("show %s after a killed run: exit %d\n%s%s", v.ID, code, show, errs)
		}
	}
	// Every container of the project belongs to a listed task: nothing
	// was made that terok lost track of.
	for _, c := range containers {
		if !slices.ContainsFunc(views, func(v struct{ ID, Container, Status string }) bool { return v.Container == c }) {
			t.Errorf("container %s is no task's", c)
		}
	}

	if o, errs, code := e.run(out, "terok-task", "rm", "--force", "--yes", "-"); code != 0 {
		t.Fatalf("rm - after killed runs: exit %d\n%s%s", code, o, errs)
	}
	settle(t, "tk")
	if left := e.must("terok-task", "ls"); left != "" {
		t.Errorf("tasks left after rm: %s", left)
	}
	if c := podmanNames(t, "container", "tk"); len(c) > 0 {
		t.Errorf("containers left after rm: %v", c)
	}
	if v := podmanNames(t, "volume", "tk"); len(v) > 0 {
		t.Errorf("volumes left after rm: %v", v)
	}
	state := envValue(e.env, "TEROK_STATE_DIR")
	if left, _ := filepath.Glob(filepath.Join(state, "tasks", "secrets", "*.token")); len(left) > 0 {
		t.Errorf("tokens left after rm: %v", left)
	}
}

// A task whose container vanished behind terok's back shows as missing and
// can be removed.
func TestTaskMissingContainer(t *testing.T) {
	e := newTaskEnv(t)
	e.must("terok-project", "new", "tm", "--agents", "command")
	e.must("terok-image", "build", "tm")
	out := e.must("terok-task", "run", "--detach", "tm", "--agent", "command", "sleep 30")
	var v struct{ ID, Container, Volume string }
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("run --detach printed %q", out)
	}
	// Podman 4.3 may find the container's shm still busy for a moment (the
	// same race terok's own rm retries).
	for i := 0; ; i++ {
		b, err := exec.Command("podman", "rm", "-f", "-t", "0", v.Container).CombinedOutput()
		if err == nil {
			break
		}
		if i == 20 || !strings.Contains(string(b), "busy") {
			t.Fatalf("podman rm: %v %s", err, b)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if got := e.must("terok-task", "ls", "--status", "missing", "-q"); strings.TrimSpace(got) != v.ID {
		t.Fatalf("ls --status missing printed %q, want %s", got, v.ID)
	}
	if show := e.must("terok-task", "show", v.ID); !strings.Contains(show, `"status":"missing"`) {
		t.Fatalf("show of a vanished task: %s", show)
	}
	// Its warden ended with the container.
	deadline := time.Now().Add(10 * time.Second)
	for {
		show := e.must("terok-task", "show", v.ID)
		if strings.Contains(show, `"alive":false`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the warden outlived its container: %s", show)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.must("terok-task", "rm", "--yes", v.ID)
	if left := e.must("terok-task", "ls"); left != "" {
		t.Fatalf("left after rm: %s", left)
	}
	if exec.Command("podman", "volume", "exists", v.Container+"-workspace").Run() == nil {
		t.Fatalf("the workspace of a missing task survived rm")
	}
}

// The hardening holds inside a real task started by terok-task, against a
// script that tries the usual ways out.
func TestTaskHardeningInsideTask(t *testing.T) {
	e := newTaskEnv(t)
	e.must("terok-project", "new", "th", "--agents", "command")
	e.must("terok-image", "build", "th")
	script := `grep -E '^(CapEff|CapBnd|CapPrm|CapAmb|NoNewPrivs)' /proc/self/status
echo "uid=$(id -u)"
echo "uidmap=$(tr -s ' ' < /proc/self/uid_map | tr '\n' ';')"
for s in /run/podman/podman.sock /var/run/docker.sock /run/user /root; do [ -r "$s" ] && echo "reachable=$s"; done
unshare -U true 2>/dev/null && echo "escaped=userns"
mount -t tmpfs none /mnt 2>/dev/null && echo "escaped=mount"
chroot / true 2>/dev/null && echo "escaped=chroot"
echo x | su -c true root 2>/dev/null && echo "escaped=su"
perl -MSocket -e 'socket(my $s, PF_INET, SOCK_RAW, 1) and print "escaped=rawsocket\n"'
perl -MSocket -e 'socket(my $s, 17, SOCK_RAW, 0) and print "escaped=packetsocket\n"'
ls /dev/sd* /dev/nvme* /dev/kvm 2>/dev/null | sed 's/^/device=/'
echo "pid1=$(cat /proc/1/comm)"
echo done`
	out := e.must("terok-task", "run", "th", "--agent", "command", script)
	t.Logf("inside the task:\n%s", out)
	for _, want := range []string{`CapEff:\t0000000000000000`, `CapBnd:\t0000000000000000`, `CapPrm:\t0000000000000000`,
		`CapAmb:\t0000000000000000`, `NoNewPrivs:\t1`, `uid=1000`, `"line":"done"`} {
		if !strings.Contains(out, want) {
			t.Errorf("inside the task: missing %q", want)
		}
	}
	for _, bad := range []string{"reachable=", "escaped=", "device=", "uidmap= 0 0 4294967295", "pid1=sh"} {
		if strings.Contains(out, bad) {
			t.Errorf("inside the task: %q", bad)
		}
	}
	listed := e.must("terok-task", "ls", "--project", "th")
	e.run(listed, "terok-task", "rm", "--yes", "-")
}

func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	if v == "" {
		v = os.Getenv(key)
	}
	return v
}

// A project.toml opt-out is in force inside the task, shown by show and
// written to the tasks' audit log.
func TestTaskOptOutShownAndAudited(t *testing.T) {
	e := newTaskEnv(t)
	e.must("terok-project", "new", "tx", "--agents", "command")
	file := filepath.Join(envValue(e.env, "TEROK_CONFIG_DIR"), "projects", "tx", "project.toml")
	appendFile(t, file, "\n[run]\ncap_add = [\"NET_BIND_SERVICE\"]\n")
	e.must("terok-image", "build", "tx")
	out := e.must("terok-task", "run", "tx", "--agent", "command", "grep CapBnd /proc/self/status")
	// CAP_NET_BIND_SERVICE is bit 10.
	if !strings.Contains(out, `CapBnd:\t0000000000000400`) {
		t.Fatalf("the opt-out is not in force:\n%s", out)
	}
	id, _, _ := exitLine(t, out)
	if show := e.must("terok-task", "show", id); !strings.Contains(show, `"opt_outs":["run.cap_add: CAP_NET_BIND_SERVICE"]`) {
		t.Fatalf("show lacks the opt-out: %s", show)
	}
	audit, err := os.ReadFile(filepath.Join(envValue(e.env, "TEROK_STATE_DIR"), "audit", "tasks.jsonl"))
	if err != nil || !strings.Contains(string(audit), `"task":"`+id+`"`) || !strings.Contains(string(audit), `"event":"hardening-opt-out"`) {
		t.Fatalf("audit log: %v\n%s", err, audit)
	}
	e.must("terok-task", "rm", "--yes", id)
}

// Hostile code against the limits (SECURITY.md guarantee 8, rootful: the
// limits need a cgroup the engine controls): a task tries to hold 500
// processes and to fill 200 MB of memory under pids_limit 64 and memory
// 64m. It gets fewer than 64 processes, its memory hog is killed, and a
// task running beside it finishes normally: the task fails alone.
func TestTaskBombsFailAlone(t *testing.T) {
	testenv.Need(t, os.Getuid() == 0, "pids and memory limits are in force for rootful tasks here")
	e := newTaskEnv(t)
	e.removeAllTasks()
	e.must("terok-project", "new", "tbomb", "--agents", "command")
	file := filepath.Join(envValue(e.env, "TEROK_CONFIG_DIR"), "projects", "tbomb", "project.toml")
	appendFile(t, file, "\n[run]\npids_limit = 64\nmemory = \"64m\"\n")
	e.must("terok-image", "build", "tbomb")
	// perl (Debian's perl-base is essential): dash exits at its first
	// failed fork, which would end the test's bomb, not the task's.
	bomb := `perl -e 'my @k; for (1..500) { my $p = fork; last unless defined $p; if (!$p) { sleep 60; exit 0 } push @k, $p } print "forked=", scalar(@k), "\n"; kill 9, @k; 1 while wait != -1'
perl -e '$x = "x" x (200*1024*1024); print "survived\n"'; echo "hog=$?"
echo done`
	var x struct{ ID string }
	decodeJSON(t, e.must("terok-task", "run", "--detach", "tbomb", "--agent", "command", bomb), &x)
	// Beside it, an ordinary task.
	quiet, errs, code := e.run("", "terok-task", "run", "tbomb", "--agent", "command", "echo fine")
	if code != 0 || !strings.Contains(quiet, `"line":"fine"`) {
		t.Errorf("the task beside the bombs: exit %d\n%s%s", code, quiet, errs)
	}
	e.run("", "terok-task", "wait", x.ID)
	out := e.must("terok-task", "logs", "--json", x.ID)
	t.Logf("inside the bombing task:\n%s", out)
	forked := -1
	for _, l := range strings.Split(out, "\n") {
		if i := strings.Index(l, `"line":"forked=`); i >= 0 {
			_, _ = fmt.Sscanf(l[i+len(`"line":"forked=`):], "%d", &forked) // unread, forked stays -1 and fails below
		}
	}
	if forked < 0 || forked >= 64 {
		t.Errorf("the task forked %d processes under pids_limit 64", forked)
	}
	if forked < 20 {
		t.Errorf("only %d processes: the bomb did not run as meant", forked)
	}
	if !strings.Contains(out, `"line":"hog=137"`) || strings.Contains(out, "survived") {
		t.Errorf("the memory hog was not killed (want hog=137)")
	}
	if !strings.Contains(out, `"line":"done"`) {
		t.Errorf("the task did not go on after its hog was killed")
	}
}
