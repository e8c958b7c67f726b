package warden

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/config"
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
