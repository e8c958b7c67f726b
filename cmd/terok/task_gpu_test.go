package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/hostcheck"
	"github.com/terok-ai/terok-go/lib/task"
	"github.com/terok-ai/terok-go/lib/testenv"
)

// testGPUSpec puts a CDI spec of kind nvidia.com/gpu (the kind run.gpus
// asks for) in /var/run/cdi, where Podman reads it when a container
// starts, and removes it at cleanup. It provides the devices "0" and "all",
// each a harmless device node (a copy of /dev/null made for the test, at
// the same path on the host and in the container: a task's user namespace
// makes the runtime bind-mount the node from that path) and an
// environment variable naming the device. It refuses to run beside a real
// NVIDIA spec, which it would confuse. It returns the node's path and a
// function that removes the spec before the test ends.
func testGPUSpec(t *testing.T) (string, func()) {
	t.Helper()
	testenv.Need(t, os.Geteuid() == 0, "writing a CDI spec to /var/run/cdi and making a device node need root")
	specs, _ := hostcheck.ReadCDISpecs(hostcheck.CDISpecDirs)
	for _, s := range specs {
		testenv.Need(t, s.Kind != config.GPUKind,
			"a real CDI spec for "+config.GPUKind+" is installed ("+s.File+"): this test's spec would mix with it")
	}
	id := task.NewID()
	node := "/dev/terok-test-gpu-" + id
	if err := unix.Mknod(node, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatalf("making the test's device node: %v", err)
	}
	t.Cleanup(func() { _ = os.Remove(node) })
	if err := os.Chmod(node, 0o666); err != nil { // past the umask
		t.Fatal(err)
	}
	dir := hostcheck.CDISpecDirs[len(hostcheck.CDISpecDirs)-1]
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Remove(dir) }) // only if empty: another spec may have come
	}
	file := filepath.Join(dir, "terok-test-"+id+".yaml")
	var devs strings.Builder
	for _, name := range []string{"0", "all"} {
		fmt.Fprintf(&devs, "- name: %q\n  containerEdits:\n    env: [\"TEROK_TEST_GPU=%s\"]\n    deviceNodes:\n    - path: %s\n", name, name, node)
	}
	spec := "cdiVersion: \"0.5.0\"\nkind: " + config.GPUKind + "\ndevices:\n" + devs.String()
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	remove := func() { _ = os.Remove(file) }
	t.Cleanup(remove)
	t.Cleanup(func() {
		// Cleanups run last first: this one reports what the spec was, if
		// the test failed.
		if t.Failed() {
			t.Logf("the test's CDI spec %s:\n%s", file, spec)
		}
	})
	return node, remove
}

// doctorGPU runs `terok doctor --only gpu` and returns its record.
func (e *taskEnv) doctorGPU() hostcheck.Result {
	e.t.Helper()
	out, errs, _ := e.run("", "terok", "doctor", "--only", "gpu", "--json")
	var r hostcheck.Result
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &r); err != nil || r.Check != "gpu" {
		e.t.Fatalf("doctor --only gpu: %v\n%s%s", err, out, errs)
	}
	return r
}

// A project with run.gpus = "all" gets the host's GPUs through CDI in a
// real task (here a test spec's harmless device and environment variable);
// show lists the device as hardening and opt-out; the doctor's gpu check is
// ok. A project asking for a GPU no spec provides fails with one readable
// line, and the doctor fails too, as it does once no spec is left.
func TestTaskGPUThroughCDI(t *testing.T) {
	e := newTaskEnv(t)
	node, removeSpec := testGPUSpec(t)
	e.removeAllTasks()
	e.must("terok-project", "new", "tg", "--agents", "command")
	projects := filepath.Join(envValue(e.env, "TEROK_CONFIG_DIR"), "projects")
	appendFile(t, filepath.Join(projects, "tg", "project.toml"), "\n[run]\ngpus = \"all\"\n")
	e.must("terok-image", "build", "tg")

	if r := e.doctorGPU(); r.Status != hostcheck.OK || !strings.Contains(r.Detail, "asked for by tg") ||
		!strings.Contains(r.Detail, "nvidia.com/gpu: 0, all") {
		t.Fatalf("doctor with the test's spec: %+v", r)
	}

	script := fmt.Sprintf(`echo "gpu=$TEROK_TEST_GPU"
[ -c %[1]s ] && echo "node=char"
head -c 4 %[1]s | wc -c | sed 's/^ */read=/'
echo x > %[1]s && echo "write=ok"`, node)
	out := e.must("terok-task", "run", "tg", "--agent", "command", script)
	for _, want := range []string{`"line":"gpu=all"`, `"line":"node=char"`, `"line":"read=0"`, `"line":"write=ok"`} {
		if !strings.Contains(out, want) {
			t.Errorf("inside the task: missing %s", want)
		}
	}
	if t.Failed() {
		t.Fatalf("the task's output:\n%s", out)
	}
	id, _, _ := exitLine(t, out)
	show := e.must("terok-task", "show", id)
	if !strings.Contains(show, `"devices":["nvidia.com/gpu=all"]`) || !strings.Contains(show, `"run.gpus: nvidia.com/gpu=all"`) {
		t.Fatalf("show lacks the GPU: %s", show)
	}

	// A GPU the spec lacks: one line that names it, and the fix.
	e.must("terok-project", "new", "tg2", "--agents", "command")
	appendFile(t, filepath.Join(projects, "tg2", "project.toml"), "\n[run]\ngpus = [7]\n")
	e.must("terok-image", "build", "tg2")
	out, errs, code := e.run("", "terok-task", "run", "tg2", "--agent", "command", "true")
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	if code == 0 || len(lines) < 1 || !strings.HasPrefix(lines[0], "terok-task: no CDI spec on this host provides nvidia.com/gpu=7, which the project asks for (run.gpus)") ||
		!strings.Contains(errs, "nvidia-ctk cdi generate") {
		t.Fatalf("a missing GPU: exit %d\n%s%s", code, out, errs)
	}
	if r := e.doctorGPU(); r.Status != hostcheck.Fail || !strings.Contains(r.Detail, "project tg2 asks for nvidia.com/gpu=7") {
		t.Fatalf("doctor with a GPU the spec lacks: %+v", r)
	}

	// No spec at all while projects ask.
	removeSpec()
	if r := e.doctorGPU(); r.Status != hostcheck.Fail || !strings.Contains(r.Detail, "project tg asks for nvidia.com/gpu=all, which no CDI spec") ||
		!strings.Contains(r.Fix, "nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml") {
		t.Fatalf("doctor without a spec: %+v", r)
	}
}
