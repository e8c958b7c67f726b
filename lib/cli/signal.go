package cli

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
)

// Signal is why a command's context ended: the signal that ended it. Its
// exit code is the shell's for a process that a signal ended, 128 plus the
// signal's number: 130 for Ctrl-C (SIGINT), 143 for SIGTERM.
type Signal struct{ Sig syscall.Signal }

func (s Signal) Error() string { return s.Sig.String() }
func (s Signal) ExitCode() int { return 128 + int(s.Sig) }

// SignalContext returns a context that SIGINT and SIGTERM cancel, with
// the Signal as its cause, for the entry point to hand every command.
// stop releases the signals.
func SignalContext(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			cancel(Signal{s.(syscall.Signal)})
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(nil)
	}
}

// interrupted gives a command's outcome once a signal ended it (see
// SignalContext): whatever the handler returned, the exit code is the
// signal's (130 for Ctrl-C). A handler's own message (an *Error, e.g.
// "interrupted; task ... runs on") is still reported; an error that only
// says the context ended (a library's "context canceled") is not. A
// context cancelled otherwise (by a caller of Run, a test) leaves the
// outcome to the handler; an error of the cancellation itself still exits
// 130 (CodeOf).
func interrupted(ctx context.Context, err error) error {
	if ctx == nil || ctx.Err() == nil {
		return err
	}
	cause := context.Cause(ctx)
	var sig Signal
	if !errors.As(cause, &sig) {
		return err
	}
	var e *Error
	if err == nil || !errors.As(err, &e) && (errors.Is(err, context.Canceled) || errors.Is(err, cause)) {
		return ExitStatus(sig.ExitCode())
	}
	return &Error{Code: sig.ExitCode(), Msg: err.Error(), Hint: HintOf(err), Err: err}
}
