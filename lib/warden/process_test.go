package warden

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/testenv"
)

type secret string

func (s secret) WriteTo(w io.Writer) (int64, error) {
	n, err := io.WriteString(w, string(s)+"\n")
	return int64(n), err
}

// A handover reaches the warden on its stdin, with the flag that says so,
// and nowhere on its command line or in its environment; without one the
// warden is told nothing and its stdin is empty.
func TestSpawnHandsOverOnStdin(t *testing.T) {
	dir := t.TempDir()
	// A stand-in warden: it says what it got on stdin, its arguments and
	// its environment, then serves.
	exe := filepath.Join(dir, "terok")
	script := "#!/bin/sh\nread -r k || k=none\necho \"stdin=$k args=$*\" >&2\nenv >&2\necho ready\nexec sleep 5\n"
	if err := os.WriteFile(exe, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		handover io.WriterTo
		want     string
	}{
		{secret("AGE-SECRET-KEY-1TEST"), "stdin=AGE-SECRET-KEY-1TEST args=task warden t1 --pid 1 " + VaultKeyFlag},
		{nil, "stdin=none args=task warden t1 --pid 1\n"},
	} {
		log := filepath.Join(dir, "warden.log")
		_ = os.Remove(log) // from the last case, if any
		s := Spawn{Exe: exe, Task: "t1", Pid: 1, Paths: config.Paths{Config: dir, State: dir, Data: dir, Runtime: dir},
			Getenv: os.Getenv, Log: log, Handover: tc.handover}
		pid, err := s.Start(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		Signal(pid, syscall.SIGKILL)
		b, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		got := string(b)
		if !strings.Contains(got, tc.want) {
			t.Fatalf("the warden got:\n%s\nwant %q", got, tc.want)
		}
		if tc.handover != nil && strings.Count(got, "AGE-SECRET-KEY-1TEST") != 1 {
			t.Fatalf("the secret is in the warden's arguments or environment:\n%s", got)
		}
	}
}

func TestProcessGroup(t *testing.T) {
	for stat, want := range map[string]int{
		"123 (terok) S 1 456 456 0 -1": 456,
		"123 (a b) c) (d) R 9 77 77 0": 77,
		"123 (x) S 1":                  -1,
		"garbage":                      -1,
		"123 (x) S 1 notanumber 5":     -1,
	} {
		if got := processGroup(stat); got != want {
			t.Errorf("processGroup(%q) = %d, want %d", stat, got, want)
		}
	}
}

// TestAliveFindsOrphanedWarden: rootless, the recorded pid leads the
// warden's process group (podman unshare); killed alone, it leaves the
// warden serving in the group, which Alive must still see — else stop and
// rm would not end it.
func TestAliveFindsOrphanedWarden(t *testing.T) {
	// The leader (a shell) starts a "warden" (sleep under that name) in
	// its own new session, then waits; the test kills the leader alone.
	cmd := exec.Command("bash", "-c", `(exec -a "$NAME" sleep 30) & wait`)
	cmd.Env = append(os.Environ(), "NAME=terok-warden-orphan-test")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	leader := cmd.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(-leader, syscall.SIGKILL); _ = cmd.Wait() })
	deadline := time.Now().Add(5 * time.Second)
	for !groupHasWarden(leader) {
		if time.Now().After(deadline) {
			t.Fatal("the group's warden never showed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if isWarden(leader) {
		t.Fatal("the leader itself names a warden; the test proves nothing")
	}
	if !Alive(leader) {
		t.Fatal("Alive: false while the group's warden runs")
	}
	_ = syscall.Kill(leader, syscall.SIGKILL)
	_ = cmd.Wait()
	if !Alive(leader) {
		t.Fatal("Alive: false after the leader alone died, while its warden serves on")
	}
	Signal(leader, syscall.SIGKILL)
	deadline = time.Now().Add(5 * time.Second)
	for Alive(leader) {
		if time.Now().After(deadline) {
			t.Fatal("Signal did not reach the orphaned warden")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRootlessNS: the rootless warden joins the user namespace of the
// pause process Podman's pid file names, and only a process of this user
// in a user namespace other than this process's own; anything else (no
// runtime directory, no file, garbage, this process's own namespace: a
// stale file) falls back to podman unshare.
func TestRootlessNS(t *testing.T) {
	testenv.Tool(t, "nsenter", "util-linux")
	run := t.TempDir()
	pidFile := filepath.Join(run, "libpod", "tmp", "pause.pid")
	if err := os.MkdirAll(filepath.Dir(pidFile), 0o700); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == "XDG_RUNTIME_DIR" {
			return run
		}
		return ""
	}
	if _, _, ok := rootlessNS(func(string) string { return "" }); ok {
		t.Error("no XDG_RUNTIME_DIR: not a fallback")
	}
	if _, _, ok := rootlessNS(getenv); ok {
		t.Error("no pause.pid: not a fallback")
	}
	write := func(s string) {
		if err := os.WriteFile(pidFile, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []string{"x\n", "0\n", "-3\n", strconv.Itoa(os.Getpid()) + "\n"} {
		write(bad)
		if _, _, ok := rootlessNS(getenv); ok {
			t.Errorf("pause.pid %q: not a fallback", bad)
		}
	}
	// A process of this user in a user namespace of its own: joined.
	p := exec.Command(testenv.Tool(t, "unshare", "util-linux"), "--user", "sleep", "30")
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Process.Kill(); _ = p.Wait() }()
	own, _ := os.Readlink("/proc/self/ns/user")
	for deadline := time.Now().Add(5 * time.Second); ; {
		// unshare execs sleep once the namespace is made.
		if ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", p.Process.Pid)); ns != "" && ns != own {
			break
		}
		testenv.Need(t, time.Now().Before(deadline), "unshare --user made no user namespace here (user namespaces off?)")
		time.Sleep(10 * time.Millisecond)
	}
	write(strconv.Itoa(p.Process.Pid) + "\n")
	if ns, pid, ok := rootlessNS(getenv); !ok || pid != p.Process.Pid || filepath.Base(ns) != "nsenter" {
		t.Errorf("a pause process of this user: %q %d %v, want nsenter and its pid", ns, pid, ok)
	}
}
