package cli

import (
	"context"
	"errors"
	"fmt"
)

// Exit codes, documented in every man page (terok(1) EXIT STATUS).
const (
	ExitOK       = 0
	ExitFailure  = 1
	ExitUsage    = 2
	ExitNotSetUp = 3
	ExitNotFound = 4
	ExitTimeout  = 124
	// ExitInterrupted is Ctrl-C's (128 + SIGINT, see SignalContext; SIGTERM
	// gives 143), and a cancellation's wherever it is met.
	ExitInterrupted = 130
)

// Error is an error with an exit code and an optional hint line.
type Error struct {
	Code int
	Msg  string
	Hint string
	Err  error // the cause, if any
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// WithHint returns a copy of e with a hint line.
func (e *Error) WithHint(format string, a ...any) *Error {
	c := *e
	c.Hint = fmt.Sprintf(format, a...)
	return &c
}

// Usagef is a usage error (exit 2): the command line or its input is wrong.
func Usagef(format string, a ...any) *Error {
	return &Error{Code: ExitUsage, Msg: fmt.Sprintf(format, a...)}
}

// NotFoundf is a not-found error (exit 4).
func NotFoundf(format string, a ...any) *Error {
	return &Error{Code: ExitNotFound, Msg: fmt.Sprintf(format, a...)}
}

// NotSetUpf is a host-not-set-up error (exit 3); give it a hint with the fix.
func NotSetUpf(format string, a ...any) *Error {
	return &Error{Code: ExitNotSetUp, Msg: fmt.Sprintf(format, a...)}
}

// Failf is a plain failure (exit 1).
func Failf(format string, a ...any) *Error {
	return &Error{Code: ExitFailure, Msg: fmt.Sprintf(format, a...)}
}

// ExitStatus is returned by a handler that wants a specific exit code with no
// error message (e.g. a report whose worst check was a warning).
type ExitStatus int

func (e ExitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// CodeOf maps an error to the process exit code, in this one place: a
// handler's ExitStatus or *Error says it; else a library error that knows
// its code says it (ExitCode(), e.g. 3 for an engine that is not set up,
// 4 for a missing image); else a cancellation is ExitInterrupted; else
// ExitFailure. Commands return library errors that carry a code as they
// are, rather than wrapping them again.
func CodeOf(err error) int {
	if err == nil {
		return ExitOK
	}
	var st ExitStatus
	if errors.As(err, &st) {
		return int(st)
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var c interface{ ExitCode() int }
	if errors.As(err, &c) {
		return c.ExitCode()
	}
	if errors.Is(err, context.Canceled) {
		return ExitInterrupted
	}
	return ExitFailure
}

// HintOf returns the hint line of err, if it carries one: an *Error's
// Hint, or the Hint() of a library error that knows its fix.
func HintOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Hint
	}
	var h interface{ Hint() string }
	if errors.As(err, &h) {
		return h.Hint()
	}
	return ""
}
