package engine

import (
	"os"
	"testing"
	"time"
)

// The command lines of a container's conmon and of an exec session's, as
// Podman 4.3 starts them (shortened): only the exec session's is one, and
// its cleanup command's arguments do not count as conmon's.
func TestParseExecConmon(t *testing.T) {
	const ctr, sess = "65155a53adbd6f283b3c22496b4b05de9ede1632d80804e2fe69f26d30698a12", "8f53d302aa6a607a983cb3a9e84d314abbd9eff8aeacbb3c99d04d77745234bf"
	own := []string{"/usr/bin/conmon", "--api-version", "1", "-c", ctr, "-u", ctr, "-r", "/usr/bin/runc",
		"-n", "terok-tl-x", "--exit-dir", "/run/libpod/exits", "--full-attach", "--exit-command", "/usr/bin/podman",
		"--exit-command-arg", "container", "--exit-command-arg", "cleanup", "--exit-command-arg", ctr}
	if c, ok := parseExecConmon(own); ok {
		t.Errorf("a container's own conmon read as an exec session's: %+v", c)
	}
	exec := []string{"/usr/bin/conmon", "--api-version", "1", "-c", ctr, "-u", sess, "-r", "/usr/bin/runc",
		"-n", "terok-tl-x", "--exit-dir", "/x/exits", "--full-attach", "-e", "--exec-attach", "--exec-process-spec", "/x/spec",
		"--exit-command", "/usr/bin/podman", "--exit-command-arg", "-c", "--exit-command-arg", "other",
		"--exit-command-arg", "--exec", "--exit-command-arg", sess, "--exit-command-arg", ctr, "--exit-delay", "300"}
	c, ok := parseExecConmon(exec)
	if !ok || c.container != ctr || c.sess != sess || c.name != "terok-tl-x" {
		t.Errorf("an exec session's conmon: %+v, %v", c, ok)
	}
	noE := append([]string{}, exec...)
	for i, a := range noE {
		if a == "-e" {
			noE[i] = "--full-attach"
		}
	}
	if _, ok := parseExecConmon(noE); ok {
		t.Error("a conmon without -e read as an exec session's")
	}
}

// endDone reads each process again before it signals it: a pid that is
// not (or no longer) that session's conmon is left alone.
func TestEndDoneChecksTheProcess(t *testing.T) {
	self := conmonExec{pid: os.Getpid(), container: "c", sess: "s"}
	if left := endDone([]conmonExec{self, {pid: 1 << 30, sess: "gone"}}); len(left) != 0 {
		t.Errorf("left %+v", left)
	}
	// Still here: this process was not signalled.
}

// Callers at the same time share a scan begun after the time they give.
func TestExecConmonsSinceShares(t *testing.T) {
	t0 := time.Now()
	execConmonsSince(t0)
	first := procScans.last
	execConmonsSince(t0)
	if procScans.last != first {
		t.Error("a second caller with the same time scanned again")
	}
	execConmonsSince(time.Now())
	if procScans.last == first {
		t.Error("a caller with a later time got an earlier scan")
	}
}
