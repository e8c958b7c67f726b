// Package testenv owns the rule every terok test follows for what it needs
// from the machine: outside CI a missing prerequisite skips the test with
// the reason and the fix; under CI=true it fails the test, because CI's
// setup must install everything the tests need.
package testenv

import (
	"io"
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// Need skips (or, in CI, fails) t unless ok; why says what is missing and
// how to get it.
func Need(t testing.TB, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if InCI() {
		t.Fatalf("prerequisite missing in CI: %s", why)
	}
	t.Skipf("skipped: %s", why)
}

// Tool returns the path of a program the test runs, by Need's rule; pkg is
// the Debian package that has it.
func Tool(t testing.TB, tool, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	Need(t, err == nil, tool+" is not installed (apt-get install -y "+pkg+"; scripts/setup-host --test-tools)")
	return p
}

// NetNSHolder starts a process in a network namespace of its own (a task
// stands in for) and returns its pid once it is there; the process is
// killed at cleanup. It needs root. The process says so itself, after
// unshare: comparing namespaces from here would be wrong, since this
// process's main thread may sit in another namespace already (a locked
// goroutine that entered one and ended wedges the main thread there).
func NetNSHolder(t testing.TB) int {
	t.Helper()
	Need(t, os.Geteuid() == 0, "making a network namespace needs root")
	unshare := Tool(t, "unshare", "util-linux")
	cmd := exec.Command(unshare, "--net", "sh", "-c", "echo in; exec sleep 600")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }) // cleanup: it was killed, so Wait reports that
	line := make([]byte, 3)
	if _, err := io.ReadFull(out, line); err != nil || string(line) != "in\n" {
		t.Fatalf("the namespace holder did not start: %q %v", line, err)
	}
	return cmd.Process.Pid
}
