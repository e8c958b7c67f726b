package manual

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/terok-ai/terok-go/lib/cli"
)

// Completers are the names a grammar may give in a `completion:"NAME"` tag
// on an argument or flag, and what each offers. A name that is not here
// fails the generator, so a typo cannot ship a silent completion.
var Completers = map[string]Completer{
	"project":        {Kind: Lister, Command: "terok-project ls -q"},
	"task":           {Kind: Lister, Command: "terok-task ls -q"},
	"gate-ref":       {Kind: Lister, Command: "terok-gate ls -q"},
	"backup":         {Kind: Lister, Command: "terok-gate backups -q"},
	"file":           {Kind: FileNames},
	"dir":            {Kind: DirNames},
	"image":          {Kind: Lister, Command: "terok-image ls -q"},
	"agent":          {Kind: Lister, Command: "terok-image agents -q"},
	"provider":       {Kind: Lister, Command: "terok-vault routes -q"},
	"family":         {Kind: Words, Words: []string{"deb", "rpm"}},
	"layer":          {Kind: Words, Words: []string{"l0", "l1", "l2", "base"}},
	"bootstrap-tool": {Kind: Words, Words: []string{"mmdebstrap", "debootstrap"}},
}

// Kind is how a value is completed.
type Kind int

const (
	None      Kind = iota // nothing is offered
	FileNames             // file and directory names
	DirNames              // directory names
	Words                 // a fixed list (an enum)
	Lister                // the lines a command prints
)

// Completer says what completes one argument or flag value.
type Completer struct {
	Kind    Kind
	Words   []string // for Words
	Command string   // for Lister: a command line printing one candidate per line
}

// command is what the pages and completions show of one node of a kong
// model: hidden commands and flags are left out.
type command struct {
	prog      string
	path      []string // below the program: nil at the top, ["config", "schema"]
	help      string
	args      []arg
	flags     []flag // its own
	inherited []flag // its ancestors', which kong accepts here too
	global    int    // how many of allFlags() are the program's own
	subs      []*command
	// bareDefault: run with no subcommand, the program runs a hidden
	// default one (the bare binary's command list).
	bareDefault bool
}

// name is the command's path below the program, words joined by spaces.
func (c *command) name() string { return strings.Join(c.path, " ") }

// walk calls fn on c and every command below it, parents first.
func (c *command) walk(fn func(*command)) {
	fn(c)
	for _, s := range c.subs {
		s.walk(fn)
	}
}

// allFlags are the flags accepted at c: inherited first.
func (c *command) allFlags() []flag {
	return append(append([]flag(nil), c.inherited...), c.flags...)
}

type arg struct {
	name, help         string
	optional, repeated bool
	complete           Completer
}

type flag struct {
	long        string
	short       rune
	help        string
	placeholder string // "" for a switch (bool or counter)
	def         string
	envs        []string
	complete    Completer
}

// Model builds c's kong model exactly as its parser does, bound to a
// throwaway Env that writes nowhere.
func Model(c cli.Command) (*kong.Application, error) {
	env := &cli.Env{
		Ctx:    context.Background(),
		Prog:   c.Name,
		Stdin:  strings.NewReader(""),
		Stdout: io.Discard,
		Stderr: io.Discard,
		Getenv: func(string) string { return "" },
	}
	k, err := cli.Parser(c, env, c.Grammar())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Name, err)
	}
	return k.Model, nil
}

// load builds the shown tree of c's grammar.
func load(c cli.Command) (*command, error) {
	app, err := Model(c)
	if err != nil {
		return nil, err
	}
	return convert(c.Name, app.Node, nil, nil, 0)
}

func convert(prog string, n *kong.Node, path []string, inherited []flag, global int) (*command, error) {
	out := &command{prog: prog, path: path, help: n.Help, inherited: inherited, global: global}
	if n.Type == kong.ApplicationNode {
		out.help = "" // the Detail, which the pages show themselves
	}
	out.bareDefault = n.DefaultCmd != nil && n.DefaultCmd.Hidden
	for _, f := range n.Flags {
		if f.Hidden {
			continue
		}
		fl := flag{long: f.Name, short: f.Short, help: f.Help, envs: f.Envs}
		if f.HasDefault && f.Default != "" && !f.IsBool() {
			fl.def = f.Default
		}
		if !f.IsBool() && !f.IsCounter() {
			fl.placeholder = placeholder(f)
			c, err := completerOf(f.Value)
			if err != nil {
				return nil, fmt.Errorf("%s: --%s: %w", strings.Join(append([]string{prog}, path...), " "), f.Name, err)
			}
			fl.complete = c
		}
		out.flags = append(out.flags, fl)
	}
	for _, p := range n.Positional {
		c, err := completerOf(p)
		if err != nil {
			return nil, fmt.Errorf("%s: argument %s: %w", strings.Join(append([]string{prog}, path...), " "), p.Name, err)
		}
		out.args = append(out.args, arg{
			name: p.Name, help: p.Help,
			optional: !p.Required, repeated: p.IsCumulative(),
			complete: c,
		})
	}
	below := out.allFlags()
	if n.Type == kong.ApplicationNode {
		global = len(out.flags)
	}
	for _, ch := range n.Children {
		if ch.Hidden || ch.Type != kong.CommandNode {
			continue
		}
		sub, err := convert(prog, ch, append(append([]string(nil), path...), ch.Name), below, global)
		if err != nil {
			return nil, err
		}
		out.subs = append(out.subs, sub)
	}
	return out, nil
}

// placeholder names a flag's value: its placeholder tag, its enum's
// values, else what kong's help shows (which quotes a default instead:
// the pages give the default in words).
func placeholder(f *kong.Flag) string {
	switch {
	case f.PlaceHolder != "":
		return f.PlaceHolder
	case f.Enum != "":
		return strings.Join(f.EnumSlice(), "|")
	case f.HasDefault:
		g := *f
		g.HasDefault = false
		return g.FormatPlaceHolder()
	}
	return f.FormatPlaceHolder()
}

// completerOf reads what completes v: its completion tag, else its enum,
// else its kong type (path, existingfile, existingdir).
func completerOf(v *kong.Value) (Completer, error) {
	if name := v.Tag.Get("completion"); name != "" {
		c, ok := Completers[name]
		if !ok {
			known := make([]string, 0, len(Completers))
			for k := range Completers {
				known = append(known, k)
			}
			sort.Strings(known)
			return Completer{}, fmt.Errorf("unknown completion %q (known: %s)", name, strings.Join(known, ", "))
		}
		return c, nil
	}
	if v.Enum != "" {
		return Completer{Kind: Words, Words: v.EnumSlice()}, nil
	}
	switch v.Tag.Type {
	case "path", "existingfile", "filecontent":
		return Completer{Kind: FileNames}, nil
	case "existingdir":
		return Completer{Kind: DirNames}, nil
	}
	return Completer{}, nil
}
