// Command terok is terok's one binary. Called as terok-<command> (through a
// link) it runs that command; called as terok it takes the command from its
// first argument (`terok project ls` = `terok-project ls`), or runs one of
// the host-level verbs (doctor, version, install-links); with neither it
// prints the command list.
//
// This file holds the one table of commands; nothing registers itself.
package main

import (
	"context"
	"os"

	"github.com/terok-ai/terok-go/lib/cli"
)

func main() {
	// Ctrl-C and SIGTERM cancel the command's context; it then exits 130
	// or 143 (cli.SignalContext).
	ctx, stop := cli.SignalContext(context.Background())
	code := Main(ctx, os.Args)
	stop()
	os.Exit(code)
}

// Main runs the command named by args and returns the exit code.
func Main(ctx context.Context, args []string) int {
	cli.Version = version
	if len(args) == 0 {
		args = []string{"terok"}
	}
	c, rest, ok := dispatch(args)
	if !ok {
		if len(rest) == 1 && (rest[0] == "-h" || rest[0] == "--help") {
			rest = nil // the bare binary's help is its command list
		}
		return cli.Run(Host, rest, cli.OSEnv(ctx, "terok"))
	}
	return cli.Run(c, rest, cli.OSEnv(ctx, c.Name))
}
