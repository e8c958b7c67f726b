package cli

import (
	"context"
	"io"
	"os"

	"github.com/mattn/go-isatty"
)

// Version is terok's version; the entry point sets it (from the build's
// -ldflags) before any command runs. Libraries record it, e.g. in image
// labels.
var Version = "dev"

// Env is everything a command handler may touch of its process: standard
// streams, environment, context and terminal facts. The entry point builds
// one from the process (OSEnv); tests build their own.
type Env struct {
	Ctx    context.Context
	Prog   string // the command's name, e.g. "terok-project", used in errors
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string

	// StdinTTY and StdoutTTY say whether the streams are terminals.
	StdinTTY, StdoutTTY bool

	// JSON is set by --json: force JSON lines even on a terminal, and
	// report the final error as a JSON object on stderr too.
	JSON bool
}

// OSEnv returns the Env of this process.
func OSEnv(ctx context.Context, prog string) *Env {
	e := &Env{
		Ctx:       ctx,
		Prog:      prog,
		Stdin:     os.Stdin,
		Stdout:    os.Stdout,
		Stderr:    os.Stderr,
		Getenv:    os.Getenv,
		StdinTTY:  isTerminal(os.Stdin),
		StdoutTTY: isTerminal(os.Stdout),
	}
	// TEROK_FORCE_TTY=1 renders tables as on a terminal (never prompts);
	// for screenshots, docs and tests of the human output.
	if os.Getenv("TEROK_FORCE_TTY") == "1" {
		e.StdoutTTY = true
	}
	return e
}

func isTerminal(f *os.File) bool {
	fd := f.Fd()
	return isatty.IsTerminal(fd) || isatty.IsCygwinTerminal(fd)
}

// JSONLines reports whether results are printed as JSON lines.
func (e *Env) JSONLines() bool { return e.JSON || !e.StdoutTTY }

// Interactive reports whether a person can be asked: both stdin and stdout
// are terminals and the input is not already taken by piped targets.
func (e *Env) Interactive() bool {
	return e.StdinTTY && e.StdoutTTY && os.Getenv("TEROK_FORCE_TTY") != "1"
}
