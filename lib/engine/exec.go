package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/containers/podman/v5/pkg/api/handlers"
	"github.com/containers/podman/v5/pkg/bindings/containers"
)

// Exec is a process to run inside a running container.
type Exec struct {
	Cmd     []string          // the argument list (never shell text)
	User    string            // "uid:gid" or a name; "" for the container's user
	WorkDir string            // "" for the container's working directory
	Env     map[string]string // on top of the container's environment

	// Stdin, when not nil, is attached to the process's standard input
	// until it ends (EOF closes the process's input).
	Stdin io.Reader
	// Stdout and Stderr receive the process's output; nil drops it. With
	// TTY both streams arrive, mixed, on Stdout.
	Stdout, Stderr io.Writer
	// TTY gives the process a terminal. When this process's own standard
	// input is a terminal, it is put in raw mode for the session and the
	// terminal's size follows it (the bindings use os.Stdin and os.Stdout
	// for that).
	TTY bool
}

// ErrNotRunning is returned by Exec for a container that is not running.
var ErrNotRunning = errors.New("the container is not running")

// Exec runs a process inside a running container, streams its output, and
// returns its exit code (126: it could not be run; 127: no such command,
// as a shell reports them).
func (e *Engine) Exec(ctx context.Context, container string, x Exec) (int, error) {
	if len(x.Cmd) == 0 {
		return -1, errors.New("exec: no command")
	}
	cfg := new(handlers.ExecCreateConfig)
	cfg.Cmd = x.Cmd
	cfg.User = x.User
	cfg.WorkingDir = x.WorkDir
	cfg.Tty = x.TTY
	cfg.AttachStdin = x.Stdin != nil
	cfg.AttachStdout = true
	cfg.AttachStderr = true
	keys := make([]string, 0, len(x.Env))
	for k := range x.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cfg.Env = append(cfg.Env, k+"="+x.Env[k])
	}
	session, err := containers.ExecCreate(e.on(ctx), container, cfg)
	if err != nil {
		err = notFound(err)
		if !errors.Is(err, ErrNoSuchContainer) {
			if st, ierr := e.InspectContainer(ctx, container); ierr == nil && !st.Running {
				return -1, fmt.Errorf("%w: %s", ErrNotRunning, container)
			}
		}
		return -1, err
	}
	stdout, stderr := x.Stdout, x.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	opts := new(containers.ExecStartAndAttachOptions).
		WithOutputStream(stdout).WithErrorStream(stderr).
		WithAttachOutput(true).WithAttachError(true).WithAttachInput(x.Stdin != nil)
	if x.Stdin != nil {
		opts = opts.WithInputStream(*bufio.NewReader(x.Stdin))
	}
	if err := containers.ExecStartAndAttach(e.on(ctx), session, opts); err != nil {
		return -1, fmt.Errorf("exec: %w", err)
	}
	// The output ends when the process does; its exit code may be
	// recorded a moment later.
	for i := 0; ; i++ {
		s, err := containers.ExecInspect(e.on(ctx), session, nil)
		if err != nil {
			return -1, fmt.Errorf("exec: %w", err)
		}
		if !s.Running {
			e.endExecSession(ctx, session)
			return s.ExitCode, nil
		}
		if i == 200 {
			return -1, fmt.Errorf("exec: the process's output ended but it still runs")
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}
