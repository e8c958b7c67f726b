package warden

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

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
