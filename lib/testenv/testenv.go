// Package testenv owns the rule every terok test follows for what it needs
// from the machine: outside CI a missing prerequisite skips the test with
// the reason and the fix; under CI=true it fails the test, because CI's
// setup must install everything the tests need.
package testenv

import (
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
