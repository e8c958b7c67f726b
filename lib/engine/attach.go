package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/containers/podman/v5/pkg/api/handlers"
	"github.com/containers/podman/v5/pkg/bindings"
	"github.com/containers/podman/v5/pkg/bindings/containers"
	dcontainer "github.com/docker/docker/api/types/container"
	"golang.org/x/term"
)

// TTYExec is a command to run in a running container on a pseudo-terminal.
type TTYExec struct {
	Cmd     []string
	Env     []string // KEY=value; without TERM the container's is used
	WorkDir string   // "" for the container's
}

// ttyDetachKeys is the engine's own detach sequence for terok's exec
// sessions. The engine always watches an exec's input for one, and the
// default (ctrl-p,ctrl-q) would hold back every ctrl-p typed (shell history,
// editors) until the next key: three ctrl-\ in a row are typed by nobody by
// chance. terok's sessions are detached from with tmux's own keys instead.
const ttyDetachKeys = `ctrl-\,ctrl-\,ctrl-\`

// ErrTTYDetached: the attach ended but the command runs on, detached by the
// engine's detach sequence in its input.
var ErrTTYDetached = errors.New("detached from the exec session; its command runs on")

// ExecTTY runs x in the running container id on a pseudo-terminal, with in
// as its input and out as its output, and returns the command's exit code
// once it ends.
//
// When this process's standard input is a terminal (the bindings look at
// os.Stdin and os.Stdout, whatever in and out are), the terminal is put in
// raw mode for the while, and the pseudo-terminal takes its window size at
// the start and again on every SIGWINCH. The terminal is restored on every
// return, also when ctx ends first (SIGINT, SIGTERM): then ExecTTY returns
// ctx's error at once and the command is left to the engine.
func (e *Engine) ExecTTY(ctx context.Context, id string, x TTYExec, in io.Reader, out io.Writer) (int, error) {
	sess, err := containers.ExecCreate(e.on(ctx), id, &handlers.ExecCreateConfig{ExecOptions: dcontainer.ExecOptions{
		Tty: true, AttachStdin: true, AttachStdout: true, AttachStderr: true,
		Cmd: x.Cmd, Env: x.Env, WorkingDir: x.WorkDir, DetachKeys: ttyDetachKeys,
	}})
	if err != nil {
		return -1, notFound(err)
	}

	// The bindings restore the terminal when the attach returns; this also
	// covers the return on ctx's end, while the attach still runs.
	if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
		if st, err := term.GetState(fd); err == nil {
			defer func() { _ = term.Restore(fd, st) }() // best effort: nothing else can repair the terminal
		}
	}

	// The attach upgrades its HTTP connection to a raw stream by swapping
	// the connection's transport: it gets a connection of its own, so that
	// no other request of this engine can be caught in the swap.
	actx, err := bindings.NewConnection(ctx, e.socket.URI)
	if err != nil {
		return -1, err
	}
	defer func() {
		if c, err := bindings.GetClient(actx); err == nil {
			c.Client.CloseIdleConnections()
		}
	}()
	opts := new(containers.ExecStartAndAttachOptions).
		WithInputStream(*bufio.NewReader(in)).WithOutputStream(out).WithErrorStream(out).
		WithAttachInput(true).WithAttachOutput(true).WithAttachError(true)
	done := make(chan error, 1)
	go func() { done <- containers.ExecStartAndAttach(actx, sess, opts) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		return -1, ctx.Err()
	}
	if err != nil {
		return -1, fmt.Errorf("attaching to the exec session: %w", err)
	}

	// The output ends a moment before the engine has the exit code.
	return e.execExit(ctx, sess)
}

// execExit is the exit code of exec session sess, whose output has ended:
// the engine has it a moment later; ErrTTYDetached when the command still
// runs 10 s on (a detach, not an end).
func (e *Engine) execExit(ctx context.Context, sess string) (int, error) {
	for deadline := time.Now().Add(10 * time.Second); ; {
		s, err := containers.ExecInspect(e.on(ctx), sess, nil)
		if err != nil {
			return -1, notFound(err)
		}
		if !s.Running {
			e.endExecSession(ctx, sess)
			return s.ExitCode, nil
		}
		if time.Now().After(deadline) {
			return -1, ErrTTYDetached
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
