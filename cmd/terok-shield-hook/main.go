// Command terok-shield-hook is the shield's OCI hook (createRuntime): it
// installs the default-deny ruleset in a starting task container's network
// namespace (shield.Hook), as `terok-shield hook` does. It is a binary of
// its own, installed beside terok, because the OCI runtime runs it on every
// task's start, before the task's first process: it links only what the
// hook runs and starts in a fraction of terok's time (docs/decisions.md,
// "Start time"). terok's setup registers it when it is there; nobody runs
// it by hand.
//
//	terok-shield-hook hook    (the container's state on stdin)
//
// Exit status: 0 with the ruleset installed and verified, 2 for a bad
// command line or a state that is not a task container's, 1 otherwise.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/terok-ai/terok-go/lib/shield"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stderr)) }

// run is the command: its arguments (after argv[0]), stdin and stderr; it
// returns the exit status.
func run(args []string, stdin io.Reader, stderr io.Writer) int {
	// The registration's arguments are terok's (argv[0] terok-shield, then
	// hook), so that either binary can be registered.
	if len(args) != 1 || args[0] != "hook" {
		fmt.Fprintf(stderr, "%s: usage: %s hook (the container's state on stdin; run by the OCI runtime)\n", shield.HookBinaryName, shield.HookBinaryName)
		return 2
	}
	if _, err := shield.Hook(stdin); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", shield.HookBinaryName, err)
		if ie := (*shield.HookInputError)(nil); errors.As(err, &ie) {
			return 2
		}
		return 1
	}
	return 0
}
