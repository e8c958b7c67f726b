package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/task"
	"github.com/terok-ai/terok-go/lib/testenv"
)

// podmanCLI runs the podman command line in local mode (never through
// CONTAINER_HOST: --hooks-dir is an option of the process that starts the
// container). Rootful or rootless, whoever runs the test.
type podmanCLI struct {
	t     *testing.T
	hooks string // --hooks-dir for run, start and restart
}

func newPodmanCLI(t *testing.T) *podmanCLI {
	t.Helper()
	testenv.Tool(t, "podman", "podman")
	testenv.Need(t, exec.Command("podman", "image", "exists", "localhost/terok/busybox:latest").Run() == nil,
		"no busybox image; run scripts/setup-host")
	return &podmanCLI{t: t}
}

func (p *podmanCLI) run(args ...string) (string, string, int) {
	p.t.Helper()
	if len(args) > 0 && (args[0] == "run" || args[0] == "start" || args[0] == "restart") && p.hooks != "" {
		args = append([]string{"--hooks-dir", p.hooks}, args...)
	}
	cmd := exec.Command("podman", args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CONTAINER_HOST=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		code = xe.ExitCode()
	} else if err != nil {
		p.t.Fatalf("podman %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func (p *podmanCLI) must(args ...string) string {
	p.t.Helper()
	out, errs, code := p.run(args...)
	if code != 0 {
		p.t.Fatalf("podman %v exited %d:\n%s%s", args, code, out, errs)
	}
	return strings.TrimSpace(out)
}

func (p *podmanCLI) pid(name string) int {
	p.t.Helper()
	n, err := strconv.Atoi(p.must("inspect", "-f", "{{.State.Pid}}", name))
	if err != nil || n <= 0 {
		p.t.Fatalf("no pid for %s: %v", name, err)
	}
	return n
}

// hooksDir registers the hook in a private hooks directory, running this
// test binary (which answers to terok-shield) or wrapper.
func hooksDir(t *testing.T, binary string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "hooks")
	if _, err := shield.WriteHook(dir, binary); err != nil {
		t.Fatal(err)
	}
	return dir
}

// verifyPid runs terok-shield verify --pid as a separate process, the way
// a person would (rootless, it enters Podman's user namespace itself).
func verifyPid(t *testing.T, pid int) (verdict struct {
	Pid    int    `json:"pid"`
	OK     bool   `json:"ok"`
	Alive  bool   `json:"alive"`
	Reason string `json:"reason"`
}, code int) {
	t.Helper()
	cmd := exec.Command("terok-shield", "verify", "--json", "--pid", strconv.Itoa(pid))
	out, err := cmd.Output()
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		code = xe.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &verdict); err != nil {
		t.Fatalf("verify printed %q: %v", out, err)
	}
	return verdict, code
}

func mustVerify(t *testing.T, pid int, when string) {
	t.Helper()
	v, code := verifyPid(t, pid)
	if code != 0 || !v.OK || v.Pid != pid {
		t.Fatalf("%s: verify exited %d: %+v", when, code, v)
	}
	if v.Alive {
		t.Fatalf("%s: alive without a warden", when)
	}
}

// The hook installs the ruleset before the container's first process runs,
// and again on every start: podman restart, and stop then start.
func TestShieldHook(t *testing.T) {
	p := newPodmanCLI(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p.hooks = hooksDir(t, exe)
	id := task.NewID()
	name := "terok-test-shield-" + id
	t.Cleanup(func() { p.run("rm", "-f", "-t", "0", name) })
	p.must("run", "-d", "--name", name, "--annotation", shield.Annotation+"="+id,
		"localhost/terok/busybox:latest", "sleep", "600")
	mustVerify(t, p.pid(name), "after run")

	// verify TASK: the task's record names the container; verify finds its
	// process through Podman's API.
	root := t.TempDir()
	env := os.Environ()
	for k, d := range map[string]string{"TEROK_CONFIG_DIR": "config", "TEROK_STATE_DIR": "state",
		"TEROK_DATA_DIR": "data", "TEROK_RUNTIME_DIR": "run"} {
		env = append(env, k+"="+filepath.Join(root, d))
	}
	// Without CONTAINER_HOST, verify starts terok's own service there.
	t.Cleanup(func() {
		_ = engine.StopServiceAt(context.Background(), filepath.Join(root, "run", "podman", "podman.sock"))
	})
	rec := task.Record{Project: "shieldtest"}
	tasks := task.Store{Dir: filepath.Join(root, "state", "tasks")}
	if err := tasks.Create(&rec); err != nil {
		t.Fatal(err)
	}
	if err := tasks.Update(rec.ID, func(r *task.Record) error { r.Container = name; return nil }); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("terok-shield", "verify", rec.ID[:5])
	cmd.Env = env
	vout, err := cmd.CombinedOutput()
	var v struct {
		Task string `json:"task"`
		OK   bool   `json:"ok"`
	}
	if err != nil || json.Unmarshal(vout, &v) != nil || v.Task != rec.ID || !v.OK {
		t.Fatalf("verify %s: %v\n%s", rec.ID[:5], err, vout)
	}

	// Inside, the network is refused at once (the test can fail: without
	// the ruleset this is a timeout or an unreachable network, not a refusal).
	out, errs, code := p.run("exec", name, "nc", "-w", "5", "192.0.2.1", "80")
	if code == 0 || !strings.Contains(out+errs, "refused") {
		t.Fatalf("a connection from the task was not refused: exit %d %s%s", code, out, errs)
	}

	old := p.pid(name)
	p.must("restart", "-t", "0", name)
	if p.pid(name) == old {
		t.Fatal("restart kept the process")
	}
	mustVerify(t, p.pid(name), "after restart")

	p.must("stop", "-t", "0", name)
	p.must("start", name)
	mustVerify(t, p.pid(name), "after stop and start")

	// A ruleset removed by hand fails verify.
	pid := p.pid(name)
	nsenter := []string{"nsenter", "-t", strconv.Itoa(pid), "-n", "nft", "delete", "table", "inet", "terok"}
	if os.Getuid() != 0 {
		nsenter = append([]string{"podman", "unshare"}, nsenter...)
	}
	if out, err := exec.Command(nsenter[0], nsenter[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", nsenter, err, out)
	}
	if v, code := verifyPid(t, pid); code != 1 || v.OK || !strings.Contains(v.Reason, "no terok ruleset") {
		t.Fatalf("verify of a container without its ruleset: exit %d %+v", code, v)
	}

	// Started without the hook registered (the per-command hooks directory
	// is gone, as it is for any podman restart when the hook is not
	// registered globally), the container has no ruleset, and verify says so.
	// With the hook registered globally (as terok's setup does), the
	// restart gets its ruleset from there instead.
	p.hooks = ""
	p.must("restart", "-t", "0", name)
	after, code := verifyPid(t, p.pid(name))
	if _, _, err := shield.FindHook(); err == nil {
		if code != 0 || !after.OK {
			t.Fatalf("restarted with the hook registered globally, but no ruleset: %+v", after)
		}
	} else if code != 1 || after.OK {
		t.Fatalf("verify passed without a ruleset: %+v", after)
	}
}

// A hook that cannot install the ruleset stops the container from
// starting: here the hook runs without CAP_NET_ADMIN (a wrapper drops it,
// so nftables refuses), and a container on the host's network is refused.
func TestShieldHookFailsClosed(t *testing.T) {
	p := newPodmanCLI(t)
	setpriv := testenv.Tool(t, "setpriv", "util-linux")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The link makes this test binary run as terok-shield.
	link := filepath.Join(dir, "terok-shield")
	if err := os.Symlink(exe, link); err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(dir, "hook-without-net-admin")
	script := "#!/bin/sh\nexec " + setpriv + " --bounding-set=-net_admin -- " + link + " hook\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	p.hooks = hooksDir(t, wrapper)
	id := task.NewID()
	name := "terok-test-shield-fail-" + id
	t.Cleanup(func() { p.run("rm", "-f", "-t", "0", name) })
	out, errs, code := p.run("run", "-d", "--name", name, "--annotation", shield.Annotation+"="+id,
		"localhost/terok/busybox:latest", "sleep", "600")
	if code == 0 {
		t.Fatalf("the container started although the hook failed:\n%s%s", out, errs)
	}
	if !strings.Contains(errs, "terok-shield: task "+id) || !strings.Contains(errs, "operation not permitted") {
		t.Fatalf("podman did not report the hook's failure:\n%s", errs)
	}
	if st := p.must("inspect", "-f", "{{.State.Status}} {{.State.Pid}}", name); st != "created 0" {
		t.Fatalf("the container ran: %s", st)
	}

	// The real hook refuses a container on the host's network namespace.
	p.hooks = hooksDir(t, exe)
	host := "terok-test-shield-host-" + id
	t.Cleanup(func() { p.run("rm", "-f", "-t", "0", host) })
	out, errs, code = p.run("run", "-d", "--name", host, "--network", "host", "--annotation", shield.Annotation+"="+id,
		"localhost/terok/busybox:latest", "sleep", "600")
	if code == 0 || !strings.Contains(errs, "host's network namespace") {
		t.Fatalf("a container on the host's network started: exit %d\n%s%s", code, out, errs)
	}

	// An annotation that is not a task id is refused, whatever it holds.
	bad := "terok-test-shield-bad-" + id
	t.Cleanup(func() { p.run("rm", "-f", "-t", "0", bad) })
	out, errs, code = p.run("run", "-d", "--name", bad, "--annotation", shield.Annotation+"=../../etc/passwd",
		"localhost/terok/busybox:latest", "sleep", "600")
	if code == 0 || !strings.Contains(errs, "is not a task id") {
		t.Fatalf("a hostile annotation was accepted: exit %d\n%s%s", code, out, errs)
	}
}
