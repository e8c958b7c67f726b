package main

import (
	"os"
	"path/filepath"
	"strings"

	clearancecmd "github.com/terok-ai/terok-go/cmd/terok-clearance"
	gatecmd "github.com/terok-ai/terok-go/cmd/terok-gate"
	imagecmd "github.com/terok-ai/terok-go/cmd/terok-image"
	projectcmd "github.com/terok-ai/terok-go/cmd/terok-project"
	shieldcmd "github.com/terok-ai/terok-go/cmd/terok-shield"
	taskcmd "github.com/terok-ai/terok-go/cmd/terok-task"
	vaultcmd "github.com/terok-ai/terok-go/cmd/terok-vault"
	"github.com/terok-ai/terok-go/lib/cli"
)

// Commands is the table of terok's commands, each callable as
// terok-<name> through a link or as `terok <name>`. A command appears here
// only once it is implemented.
var Commands = []cli.Command{
	projectcmd.Command,
	gatecmd.Command,
	imagecmd.Command,
	taskcmd.Command,
	shieldcmd.Command,
	vaultcmd.Command,
	clearancecmd.Command,
}

// lookup finds a command by its full name ("terok-project") or short name
// ("project").
func lookup(name string) (cli.Command, bool) {
	for _, c := range Commands {
		if c.Name == name || c.Name == "terok-"+name {
			return c, true
		}
	}
	return cli.Command{}, false
}

// dispatch picks the command from the name the binary was called by (links
// resolved hop by hop until a known name appears), then from the first
// argument. It returns the command's arguments. ok is false when the host
// verbs of the bare binary should handle args.
func dispatch(args []string) (cli.Command, []string, bool) {
	for _, name := range callNames(args[0]) {
		if c, ok := lookup(name); ok && strings.HasPrefix(name, "terok-") {
			return c, args[1:], true
		}
	}
	if len(args) > 1 {
		if c, ok := lookup(args[1]); ok {
			return c, args[2:], true
		}
	}
	return cli.Command{}, args[1:], false
}

// callNames returns the base name of argv0 and of each hop of the symbolic
// links it goes through (at most 8).
func callNames(argv0 string) []string {
	names := []string{filepath.Base(argv0)}
	p := argv0
	for i := 0; i < 8; i++ {
		if !strings.Contains(p, "/") {
			break
		}
		t, err := os.Readlink(p)
		if err != nil {
			break
		}
		if !filepath.IsAbs(t) {
			t = filepath.Join(filepath.Dir(p), t)
		}
		names = append(names, filepath.Base(t))
		p = t
	}
	return names
}
