package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/task"
	"github.com/terok-ai/terok-go/lib/testenv"
)

// TestMain: registered as the hook (TestHookInContainer), this test binary
// is run by the OCI runtime with terok's registration's arguments (argv[0]
// terok-shield, then hook) and runs as the hook's binary does.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == shield.HookCommand {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestHookInContainer: registered in a hooks directory of its own (local
// podman, --hooks-dir), the hook's binary installs the default-deny
// ruleset before a task container's first process runs, and again on a
// restart. A container whose
// annotation is not a task id does not start.
func TestHookInContainer(t *testing.T) {
	testenv.Tool(t, "podman", "podman")
	const image = "localhost/terok/busybox:latest"
	testenv.Need(t, exec.Command("podman", "image", "exists", image).Run() == nil, "no busybox image; run scripts/setup-host")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	hooks := filepath.Join(t.TempDir(), "hooks")
	if _, err := shield.WriteHook(hooks, exe); err != nil {
		t.Fatal(err)
	}
	podman := func(args ...string) (string, error) {
		if args[0] == "run" || args[0] == "restart" {
			args = append([]string{"--hooks-dir", hooks}, args...)
		}
		cmd := exec.Command("podman", args...)
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "CONTAINER_HOST=") { // --hooks-dir is the local podman's
				cmd.Env = append(cmd.Env, kv)
			}
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	name := "terok-test-hookbin-" + task.NewID()
	// --ignore: Podman 4.3's `rm -f A B` with no B removes nothing, and
	// says nothing (every run of this test left its container).
	t.Cleanup(func() {
		if out, err := podman("rm", "-f", "-i", "-t", "0", name, name+"-bad"); err != nil {
			t.Errorf("removing the test's containers: %v\n%s", err, out)
		}
		if out, _ := podman("ps", "-a", "-q", "--filter", "name=^"+name+"$"); strings.TrimSpace(out) != "" {
			t.Errorf("container %s is left", name)
		}
	})
	if out, err := podman("run", "-d", "--name", name, "--annotation", shield.Annotation+"="+task.NewID(), image, "sleep", "600"); err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	// The ruleset, as nft lists it in the container's network namespace
	// (rootless, from Podman's user namespace).
	ruleset := func(when string) {
		t.Helper()
		pid, err := podman("inspect", "-f", "{{.State.Pid}}", name)
		if err != nil {
			t.Fatalf("%s: %v %s", when, err, pid)
		}
		list := []string{"nsenter", "-t", strings.TrimSpace(pid), "-n", "nft", "list", "table", "inet", "terok"}
		if os.Getuid() != 0 {
			list = append([]string{"podman", "unshare"}, list...)
		}
		out, err := exec.Command(list[0], list[1:]...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "policy drop") {
			t.Fatalf("%s: no default-deny ruleset in the container: %v\n%s", when, err, out)
		}
	}
	ruleset("after run")
	if out, err := podman("restart", "-t", "0", name); err != nil {
		t.Fatalf("restart: %v\n%s", err, out)
	}
	ruleset("after restart")

	out, err := podman("run", "--rm", "--name", name+"-bad", "--annotation", shield.Annotation+"=not-a-task", image, "echo", "ran")
	if err == nil || strings.Contains(out, "ran\n") {
		t.Fatalf("a container whose annotation is not a task id started: %v\n%s", err, out)
	}
}
