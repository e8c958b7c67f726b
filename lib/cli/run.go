package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/alecthomas/kong"
)

// Command is one entry of the entry point's command table.
type Command struct {
	Name    string     // e.g. "terok-project"
	Summary string     // one line, for the command list and man page NAME
	Detail  string     // the man page's DESCRIPTION and --help preamble
	Grammar func() any // a fresh kong grammar; its leaves have Run(*Env) error
	// Sections are extra man page sections (JSON FIELDS, FILES, ...).
	Sections []Section
}

// Section is an extra man page section.
type Section struct {
	Title string
	Body  string // paragraphs separated by blank lines; lines "  x  y" become a table
}

// Globals are the flags every command has.
type Globals struct {
	JSON bool `help:"Print JSON lines even on a terminal, and errors as JSON on stderr too."`
}

// AfterApply copies the global flags into the Env.
func (g *Globals) AfterApply(env *Env) error {
	env.JSON = env.JSON || g.JSON
	return nil
}

type kongExit int

// Parser builds the kong parser of a command bound to env.
func Parser(c Command, env *Env, grammar any) (*kong.Kong, error) {
	return kong.New(grammar,
		kong.Name(c.Name),
		kong.Description(c.Detail),
		kong.Writers(env.Stdout, env.Stderr),
		kong.Exit(func(code int) { panic(kongExit(code)) }),
		kong.Bind(env),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, NoExpandSubcommands: false}),
	)
}

// Run parses args (without the program name) and runs the chosen handler,
// returning the exit code. Errors are reported on env.Stderr by the rules of
// this package.
func Run(c Command, args []string, env *Env) (code int) {
	if env.Prog == "" {
		env.Prog = c.Name
	}
	defer func() {
		if r := recover(); r != nil {
			if k, ok := r.(kongExit); ok {
				code = int(k)
				return
			}
			panic(r)
		}
	}()
	grammar := c.Grammar()
	parser, err := Parser(c, env, grammar)
	if err != nil {
		// A broken grammar is a programming error; report it plainly.
		return Report(env, Failf("internal: %v", err))
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		var pe *kong.ParseError
		msg := err.Error()
		if errors.As(err, &pe) {
			msg = pe.Error()
		}
		return Report(env, Usagef("%s", msg).WithHint("run '%s --help' for usage", c.Name))
	}
	return Report(env, interrupted(env.Ctx, kctx.Run(env)))
}

// Report prints err the conventional way and returns its exit code.
func Report(env *Env, err error) int {
	code := CodeOf(err)
	var st ExitStatus
	if err == nil || errors.As(err, &st) {
		return code
	}
	msg := strings.TrimSpace(err.Error())
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	fmt.Fprintf(env.Stderr, "%s: %s\n", env.Prog, msg)
	hint := HintOf(err)
	if hint != "" {
		fmt.Fprintf(env.Stderr, "hint: %s\n", hint)
	}
	if env.JSON {
		obj := map[string]any{"type": "error", "error": msg, "code": code}
		if hint != "" {
			obj["hint"] = hint
		}
		Line(env.Stderr, obj)
	}
	return code
}

// Warnf prints a warning line on stderr.
func (e *Env) Warnf(format string, a ...any) {
	fmt.Fprintf(e.Stderr, "%s: warning: %s\n", e.Prog, fmt.Sprintf(format, a...))
}
