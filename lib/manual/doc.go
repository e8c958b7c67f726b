// Package manual makes terok's man pages and shell completions from the
// commands' kong grammars, so that --help, the manual and the completions
// cannot disagree. It owns:
//
//   - the man pages: one per command (terok-project(1) ...), terok(1) for
//     the bare binary with the command table and the exit codes, and
//     terok-config(5) from config.Schema();
//   - the bash, zsh and fish completions of each command and of terok;
//   - the rules both follow: what a `completion:"NAME"` tag on an argument
//     or flag offers (Completers), and how a cli.Section's body becomes
//     roff: a line "  name  text" is an item of a list, another indented
//     line a line of an example, the rest running text.
//
// Everything it makes is a function of the grammar and an Edition: no
// clock, no environment, so the files checked in under man/ and
// completions/ are tested to be current (cmd/terok's TestDocsCurrent).
package manual
