// Package cli owns the conventions every terok command shares, so that a
// person learns them once:
//
//   - what goes where: results to stdout (JSON lines when stdout is not a
//     terminal or with --json, an aligned table on a terminal: List for
//     results known at once, Stream for what a command reports while it
//     runs), errors and hints to stderr as "terok-<cmd>: message" and
//     "hint: ...";
//   - exit codes, mapped from typed errors in one place (CodeOf): a
//     library error that knows its code keeps it; a signal that ends a
//     command gives 128 plus its number (130 for Ctrl-C, SignalContext);
//   - flag ranges, checked by the grammar (a Validate method of the verb)
//     before a handler runs;
//   - targets read from stdin when the target argument is "-" (bare ids or
//     JSON objects whose id, name or project field is picked with gjson);
//   - prompts: gum only when stdin and stdout are terminals; otherwise
//     nothing ever waits for input and a missing value is a usage error that
//     names the flag.
//
// A command handler receives an *Env holding its stdin, stdout, stderr,
// environment and context; nothing here touches os.Stdout or calls os.Exit,
// so every command runs in-process in tests.
package cli
