package task

import (
	"context"

	"github.com/terok-ai/terok-go/lib/engine"
)

// A browser's terminal (terok's web mode, lib/web) reaches a task's
// session as a terminal does, through an exec with a TTY, but it does
// not take the session over: `terok-entry --attach` detaches every other
// client (a login takes the session over), while several tabs may watch
// one task. So a browser's exec runs tmux's attach itself, without -d
// (and with -r for a view-only one), after waiting for the session as
// terok-entry does; it exits as terok-entry --attach does (0: detached,
// 100: the session is over).
const webAttachScript = `if ! tmux has-session -t =terok 2>/dev/null; then
	printf 'terok: waiting for the task'"'"'s session (the workspace is being cloned)...\r\n'
	until tmux has-session -t =terok 2>/dev/null; do sleep 0.1; done
fi
tmux -u attach-session $0 -t =terok || true
if tmux has-session -t =terok 2>/dev/null; then exit 0; fi
exit 100`

// WebDetachKeys leave the session as a person would (tmux's prefix and
// d): what a browser's stream types before it is closed, so that no tmux
// client is left behind on a terminal nobody reads (the engine does not
// end an exec's process when its stream closes).
var WebDetachKeys = []byte("\x02d")

// OpenWeb opens a stream of a browser's terminal, cols×rows, to a running
// task's session; viewOnly makes its tmux client read-only.
func (r *Runner) OpenWeb(ctx context.Context, rec Record, viewOnly bool, cols, rows int) (*engine.TTYStream, error) {
	flag := "" // $0 of the script, unquoted there: no word at all
	if viewOnly {
		flag = "-r"
	}
	x := engine.TTYExec{Cmd: []string{"sh", "-c", webAttachScript, flag}, Env: []string{"TERM=xterm-256color"}}
	return r.Engine.StartTTY(ctx, rec.Container, x, cols, rows)
}
