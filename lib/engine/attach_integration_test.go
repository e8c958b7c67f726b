package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containers/podman/v5/pkg/specgen"
)

// connectForTest connects as terok commands do (CONTAINER_HOST, the
// default socket, else a service of terok's own under a private directory,
// stopped when the test ends).
func connectForTest(t *testing.T) *Engine {
	t.Helper()
	dir, err := os.MkdirTemp("", "terok-attach-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	e, err := Connect(t.Context(), Options{ServiceSocket: filepath.Join(dir, "podman.sock"), ServiceIdle: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if e.StartedService() {
			_ = e.StopService(context.Background())
		} else {
			e.Close()
		}
	})
	return e
}

// An exec with a TTY: its output (the terminal's echo of the input too)
// and its exit code; a container that is not there.
func TestExecTTY(t *testing.T) {
	image := needPodman(t)
	began := time.Now()
	e := connectForTest(t)
	t.Logf("connect took %s (own service: %v)", time.Since(began), e.StartedService())
	ctx := t.Context()
	name := fmt.Sprintf("terok-attach-test-%d", os.Getpid())
	s := specgen.NewSpecGenerator(image, false)
	s.Name = name
	s.Command = []string{"sleep", "120"}
	if _, err := e.CreateContainer(ctx, s); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.StopContainer(context.Background(), name, 0) // sleep, as PID 1, ignores SIGTERM
		_ = e.RemoveContainer(context.Background(), name)
	})
	if err := e.StartContainer(ctx, name); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	began = time.Now()
	code, err := e.ExecTTY(ctx, name, TTYExec{
		Cmd: []string{"sh", "-c", `read x; echo "got-$x on $(tty) as $TERM"; exit 7`},
		Env: []string{"TERM=vt100"},
	}, strings.NewReader("typed\n"), &out)
	if err != nil {
		t.Fatalf("ExecTTY: %v", err)
	}
	t.Logf("ExecTTY took %s", time.Since(began))
	if code != 7 {
		t.Errorf("exit code %d, want 7; output %q", code, out.String())
	}
	if !strings.Contains(out.String(), "got-typed on /dev/pts/") || !strings.Contains(out.String(), "as vt100") {
		t.Errorf("output %q lacks the command's line on a pseudo-terminal", out.String())
	}

	_, err = e.ExecTTY(ctx, "terok-no-such-container", TTYExec{Cmd: []string{"true"}}, strings.NewReader(""), &out)
	if !errors.Is(err, ErrNoSuchContainer) {
		t.Errorf("exec in a missing container: %v, want ErrNoSuchContainer", err)
	}
}
