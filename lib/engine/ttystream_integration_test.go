package engine

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/containers/podman/v5/pkg/specgen"
)

// A TTY stream of the caller's: it starts at the size asked for, follows
// a resize, carries what is written and read, and gives the exit code.
func TestStartTTY(t *testing.T) {
	image := needPodman(t)
	e := connectForTest(t)
	ctx := t.Context()
	name := fmt.Sprintf("terok-ttystream-test-%d", os.Getpid())
	s := specgen.NewSpecGenerator(image, false)
	s.Name = name
	s.Command = []string{"sleep", "120"}
	if _, err := e.CreateContainer(ctx, s); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.StopContainer(context.Background(), name, 0)
		_ = e.RemoveContainer(context.Background(), name)
	})
	if err := e.StartContainer(ctx, name); err != nil {
		t.Fatal(err)
	}
	st, err := e.StartTTY(ctx, name, TTYExec{Cmd: []string{"sh", "-c",
		`echo "size-$(stty size | tr ' ' x)"; read x; i=0; while [ "$(stty size)" = "30 100" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; echo "size-$(stty size | tr ' ' x) got-$x"; exit 5`}}, 100, 30)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	var seen strings.Builder
	readUntil := func(want string) {
		t.Helper()
		buf := make([]byte, 4096)
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(seen.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("%q never came; got %q", want, seen.String())
			}
			n, err := st.Read(buf)
			seen.Write(buf[:n])
			if err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
		}
		if !strings.Contains(seen.String(), want) {
			t.Fatalf("%q never came; got %q", want, seen.String())
		}
	}
	readUntil("size-30x100")
	// Podman hands a resize to conmon, which applies it on its own time:
	// the input may reach the shell first, so the shell waits (up to 5 s)
	// for the size to change.
	if err := st.Resize(ctx, 120, 40); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write([]byte("typed\r")); err != nil {
		t.Fatal(err)
	}
	readUntil("size-40x120 got-typed")
	code, err := st.Wait(ctx)
	if err != nil || code != 5 {
		t.Fatalf("Wait: %d, %v; want 5", code, err)
	}
	if err := st.Resize(ctx, 0, 10); err == nil {
		t.Error("a resize to 0 columns was taken")
	}
}
