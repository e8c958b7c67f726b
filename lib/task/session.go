package task

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/terok-ai/terok-go/lib/engine"
)

// An interactive or shell task's container keeps its program in a tmux
// session (terok-entry starts it, and the task ends when the session's
// program does). A terminal attaches to the session through an exec of
// `terok-entry --attach` with a TTY; leaving it with tmux's detach keys
// ends the exec and nothing else.

// attachCmd is what an attach runs in the task's container.
var attachCmd = []string{"terok-entry", "--attach"}

// Exit codes of `terok-entry --attach` besides 0 (detached, the session
// runs on).
const (
	attachSessionOver = 100 // the session ended: the task is ending
	attachInterrupted = 130 // ctrl-c while waiting for the session to start
)

// HasSession reports whether tasks of a mode run in a session that a
// terminal can attach to.
func HasSession(mode Mode) bool { return mode == Interactive || mode == Shell }

// Attached is how an attach to a task's session ended.
type Attached struct {
	// Detached: the person left the session, which runs on.
	Detached bool
	// Outcome is how the task ended, when it did (Detached is false).
	Outcome Outcome
}

// Attach connects in and out (normally the process's terminal: see
// engine.ExecTTY) to a running task's session, until the person detaches
// or the session ends. When it ends, Attach waits for the task to end and
// records its outcome, as Wait does. term is the TERM the terminal has
// ("" for the container's).
func (r *Runner) Attach(ctx context.Context, rec Record, term string, in io.Reader, out io.Writer) (Attached, error) {
	x := engine.TTYExec{Cmd: attachCmd}
	if term != "" {
		x.Env = []string{"TERM=" + term}
	}
	code, err := r.Engine.ExecTTY(ctx, rec.Container, x, in, out)
	if ctx.Err() != nil {
		return Attached{}, ctx.Err()
	}
	if errors.Is(err, engine.ErrTTYDetached) {
		return Attached{Detached: true}, nil
	}
	st, ierr := r.Engine.InspectContainer(ctx, rec.Container)
	if ierr != nil && !errors.Is(ierr, engine.ErrNoSuchContainer) {
		return Attached{}, ierr
	}
	running := ierr == nil && st.Running
	switch {
	case err == nil && code == attachSessionOver, !running:
		// The session is over (or the task ended, which is why the exec
		// failed): wait for the task to end.
		o, werr := r.Wait(ctx, rec)
		return Attached{Outcome: o}, werr
	case err == nil && (code == 0 || code == attachInterrupted):
		// A ctrl-c before the session started also leaves the task
		// running, for a later attach.
		return Attached{Detached: true}, nil
	case err != nil:
		return Attached{}, err
	}
	return Attached{}, fmt.Errorf("attaching to the task's session failed (exit code %d)", code)
}
