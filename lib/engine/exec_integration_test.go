package engine

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/containers/podman/v5/pkg/specgen"
)

// connectPrivate connects to a Podman service of the test's own, stopped
// when the test ends.
func connectPrivate(t *testing.T) (*Engine, string) {
	t.Helper()
	image := needPodman(t)
	opts := privateOptions(t)
	stopOnCleanup(t, opts.ServiceSocket)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := Connect(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e, image
}

// sleeper creates (and, if start, starts) a container that sleeps, removed
// when the test ends.
func sleeper(t *testing.T, e *Engine, image, user string, start bool) string {
	t.Helper()
	ctx := context.Background()
	s := specgen.NewSpecGenerator(image, false)
	s.User = user
	s.Name = "terok-test-exec-" + randomHex(4)
	s.Command = []string{"sleep", "300"}
	s.Labels = map[string]string{ProbeLabel: "1"}
	id, err := e.CreateContainer(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.StopContainer(context.Background(), id, 0)
		_ = e.RemoveContainer(context.Background(), id)
	})
	if start {
		if err := e.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// Exec streams a process's stdout and stderr apart, feeds it stdin, sets
// its user, directory and environment, and returns its exit code; a
// stopped container is ErrNotRunning.
func TestExecInRunningContainer(t *testing.T) {
	e, image := connectPrivate(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	id := sleeper(t, e, image, "", true)

	var out, errb strings.Builder
	code, err := e.Exec(ctx, id, Exec{
		Cmd:  []string{"sh", "-c", `echo "out $(id -u) $(pwd) $GREETING"; echo err >&2; exit 7`},
		User: "1000:1000", WorkDir: "/tmp", Env: map[string]string{"GREETING": "hello"},
		Stdout: &out, Stderr: &errb,
	})
	if err != nil {
		t.Fatal(err)
	}
	if code != 7 || out.String() != "out 1000 /tmp hello\n" || errb.String() != "err\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}

	out.Reset()
	code, err = e.Exec(ctx, id, Exec{Cmd: []string{"sh", "-c", "tr a-z A-Z"}, Stdin: strings.NewReader("from stdin\n"), Stdout: &out})
	if err != nil || code != 0 || out.String() != "FROM STDIN\n" {
		t.Fatalf("stdin: exit %d, %v, stdout %q", code, err, out.String())
	}

	code, err = e.Exec(ctx, id, Exec{Cmd: []string{"no-such-command"}})
	if err != nil || code != 127 {
		t.Fatalf("missing command: exit %d, %v", code, err)
	}

	stopped := sleeper(t, e, image, "", false)
	if _, err := e.Exec(ctx, stopped, Exec{Cmd: []string{"true"}}); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("exec in a container that is not running: %v", err)
	}
	if _, err := e.Exec(ctx, "terok-test-no-such-container", Exec{Cmd: []string{"true"}}); !errors.Is(err, ErrNoSuchContainer) {
		t.Fatalf("exec in a missing container: %v", err)
	}
}

// CopyBetween carries a directory from a stopped container into a created
// one, contents and modes kept, owned as asked; a missing path copies
// nothing.
func TestCopyBetweenContainers(t *testing.T) {
	e, image := connectPrivate(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The source's files belong to root; they arrive as 1000's.
	from := sleeper(t, e, image, "", true)
	code, err := e.Exec(ctx, from, Exec{Cmd: []string{"sh", "-c", "mkdir -p /tmp/carry/sub && echo kept > /tmp/carry/sub/f && chmod 0640 /tmp/carry/sub/f"}})
	if err != nil || code != 0 {
		t.Fatalf("setup: exit %d, %v", code, err)
	}
	if err := e.StopContainer(ctx, from, 0); err != nil {
		t.Fatal(err)
	}
	to := sleeper(t, e, image, "", false)
	// Podman 4.3's cleanup of the container it just stopped may unmount it
	// under the copy: the path then looks absent for a moment.
	var ok bool
	for i := 0; i < 15 && !ok; i++ {
		if ok, err = e.CopyBetween(ctx, from, "/tmp/carry", to, "/tmp", 1000, 1000); err != nil {
			t.Fatal(err)
		}
		if !ok {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if !ok {
		t.Fatal("the path to copy was not found")
	}
	if ok, err := e.CopyBetween(ctx, from, "/tmp/nothing-here", to, "/tmp", 1000, 1000); err != nil || ok {
		t.Fatalf("copy of a missing path: %v %v", ok, err)
	}
	if err := e.StartContainer(ctx, to); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	code, err = e.Exec(ctx, to, Exec{Cmd: []string{"sh", "-c", "cat /tmp/carry/sub/f; stat -c %u:%g:%a /tmp/carry/sub/f"}, Stdout: &out})
	if err != nil || code != 0 || out.String() != "kept\n1000:1000:640\n" {
		t.Fatalf("after the copy: exit %d, %v, %q", code, err, out.String())
	}
}

// ReadFile reads a file out of a stopped container; a missing path is
// fs.ErrNotExist, a directory and a file over the bound are errors.
func TestReadFile(t *testing.T) {
	e, image := connectPrivate(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	id := sleeper(t, e, image, "", true)
	code, err := e.Exec(ctx, id, Exec{Cmd: []string{"sh", "-c", "mkdir -p /tmp/d && printf 'secret\\n' > /tmp/d/f && chmod 0600 /tmp/d/f"}})
	if err != nil || code != 0 {
		t.Fatalf("setup: exit %d, %v", code, err)
	}
	if err := e.StopContainer(ctx, id, 0); err != nil {
		t.Fatal(err)
	}
	var b []byte
	for i := 0; i < 15; i++ { // Podman 4.3 may unmount it for a moment (see above)
		if b, err = e.ReadFile(ctx, id, "/tmp/d/f", 100); !errors.Is(err, fs.ErrNotExist) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil || string(b) != "secret\n" {
		t.Fatalf("read %q, %v", b, err)
	}
	if _, err := e.ReadFile(ctx, id, "/tmp/d/missing", 100); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
	if _, err := e.ReadFile(ctx, id, "/tmp/d", 100); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("a directory: %v", err)
	}
	if _, err := e.ReadFile(ctx, id, "/tmp/d/f", 3); err == nil || !strings.Contains(err.Error(), "larger than 3 bytes") {
		t.Errorf("over the bound: %v", err)
	}
}
