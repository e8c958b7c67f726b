package manual

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/terok-ai/terok-go/lib/cli"
)

// The completion scripts of the three shells share one plan. A script
// walks the words before the cursor as kong would: a word that names a
// subcommand of the current command enters it, a flag that takes a value
// swallows the next word, anything else is an argument and is counted.
// Where the walk ends (the command, how many arguments, whether a value is
// due) says what to offer. The shells differ only in syntax, so the plan is
// read off the grammar once, here, as lists of "command:word" cases.

// spec is the completion plan of one program.
type spec struct {
	prog  string
	root  *command
	nodes []*command // root first, parents before children
	// delegates are commands of the table that the bare binary completes
	// as its first word ("project"), handing the rest to terok-project.
	delegates []delegate
}

type delegate struct {
	word, help, prog string
}

// pat is one case of a script: the command's path and a word, matching
// "cmd:word", or every word from an argument's position on when glob.
type pat struct {
	cmd, word string
	glob      bool
}

// arm is the patterns that share one completion.
type arm struct {
	pats []pat
	comp Completer
}

// item is a word offered with its description.
type item struct{ word, help string }

func newSpec(c cli.Command, delegates []cli.Command) (*spec, error) {
	root, err := load(c)
	if err != nil {
		return nil, err
	}
	s := &spec{prog: c.Name, root: root}
	root.walk(func(n *command) { s.nodes = append(s.nodes, n) })
	for _, d := range delegates {
		s.delegates = append(s.delegates, delegate{
			word: strings.TrimPrefix(d.Name, c.Name+"-"), help: d.Summary, prog: d.Name,
		})
	}
	return s, nil
}

// fn is the program's name as a shell identifier: terok_project.
func (s *spec) fn() string { return ident(s.prog) }

func ident(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, name)
}

// transitions are the "cmd:sub" pairs that enter a subcommand.
func (s *spec) transitions() []pat {
	var out []pat
	for _, n := range s.nodes {
		for _, sub := range n.subs {
			out = append(out, pat{cmd: n.name(), word: sub.path[len(sub.path)-1]})
		}
	}
	return out
}

// valueFlags are the "cmd:--flag" pairs of flags that take a value.
func (s *spec) valueFlags() []pat {
	var out []pat
	for _, n := range s.nodes {
		for _, f := range n.allFlags() {
			if f.placeholder == "" {
				continue
			}
			for _, w := range flagWords(f) {
				out = append(out, pat{cmd: n.name(), word: w})
			}
		}
	}
	return out
}

// valueArms say how a flag's value is completed, where it can be.
func (s *spec) valueArms() []arm {
	var out []arm
	for _, n := range s.nodes {
		for _, f := range n.allFlags() {
			if f.placeholder == "" || f.complete.Kind == None {
				continue
			}
			for _, w := range flagWords(f) {
				out = addArm(out, pat{cmd: n.name(), word: w}, f.complete)
			}
		}
	}
	return out
}

// argArms say how each argument is completed, where it can be. A repeated
// (last) argument matches every position from its own on; its arm comes
// after those of fixed positions, so that the first matching case wins.
func (s *spec) argArms() []arm {
	var fixed, rest []arm
	for _, n := range s.nodes {
		for i, a := range n.args {
			if a.complete.Kind == None {
				continue
			}
			if a.repeated {
				rest = addArm(rest, pat{cmd: n.name(), word: strconv.Itoa(i), glob: true}, a.complete)
			} else {
				fixed = addArm(fixed, pat{cmd: n.name(), word: strconv.Itoa(i)}, a.complete)
			}
		}
	}
	return append(fixed, rest...)
}

func addArm(arms []arm, p pat, c Completer) []arm {
	for i := range arms {
		if sameCompleter(arms[i].comp, c) {
			arms[i].pats = append(arms[i].pats, p)
			return arms
		}
	}
	return append(arms, arm{pats: []pat{p}, comp: c})
}

func sameCompleter(a, b Completer) bool {
	return a.Kind == b.Kind && a.Command == b.Command &&
		strings.Join(a.Words, "\x00") == strings.Join(b.Words, "\x00")
}

// subItems are the subcommands offered at n (and at the top of the bare
// binary, the commands of the table).
func (s *spec) subItems(n *command) []item {
	var out []item
	for _, sub := range n.subs {
		out = append(out, item{sub.path[len(sub.path)-1], oneLine(sub.help)})
	}
	if n == s.root {
		for _, d := range s.delegates {
			out = append(out, item{d.word, oneLine(d.help)})
		}
	}
	return out
}

// flagGroup is the commands at which the same flags are offered.
type flagGroup struct {
	cmds  []string
	items []item
}

// flagGroups are the flags offered at each command, commands that offer
// the same ones grouped, in the order of their first command.
func (s *spec) flagGroups() []flagGroup {
	var out []flagGroup
	index := map[string]int{}
	for _, n := range s.nodes {
		it := flagItems(n)
		if len(it) == 0 {
			continue
		}
		key := fmt.Sprint(it)
		if i, ok := index[key]; ok {
			out[i].cmds = append(out[i].cmds, n.name())
			continue
		}
		index[key] = len(out)
		out = append(out, flagGroup{cmds: []string{n.name()}, items: it})
	}
	return out
}

func quoteAll(ws []string, quote func(string) string, sep string) string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = quote(w)
	}
	return strings.Join(out, sep)
}

// flagItems are the flags offered at n: --long, and -x where there is one.
func flagItems(n *command) []item {
	var out []item
	for _, f := range n.allFlags() {
		for _, w := range flagWords(f) {
			out = append(out, item{w, oneLine(f.help)})
		}
	}
	return out
}

func flagWords(f flag) []string {
	w := []string{"--" + f.long}
	if f.short != 0 {
		w = append(w, "-"+string(f.short))
	}
	return w
}

func words(items []item) string {
	w := make([]string, len(items))
	for i, it := range items {
		w[i] = it.word
	}
	return strings.Join(w, " ")
}

// header is the comment at the top of every script.
func scriptHeader(b *strings.Builder, shell, prog, summary, install string) {
	fmt.Fprintf(b, "# %s completion for %s: %s\n", shell, prog, oneLine(summary))
	fmt.Fprintf(b, "# Generated by lib/manual from %s's grammar; do not edit.\n", prog)
	fmt.Fprintf(b, "# Regenerate with: make completions\n")
	fmt.Fprintf(b, "# %s\n\n", install)
}

// sq quotes s for a POSIX shell, fish and zsh alike: in single quotes.
// Fish also takes \' and \\ inside single quotes; see fishQuote.
func sq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// dq is a pattern's literal part in double quotes, for bash and zsh; the
// words of a grammar are names, with nothing to escape, but a path holds
// spaces.
func dq(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`")
	return `"` + r.Replace(s) + `"`
}

// casePattern is p as a bash or zsh case pattern.
func casePattern(p pat) string {
	if p.glob {
		return dq(p.cmd+":") + "*"
	}
	return dq(p.cmd + ":" + p.word)
}

func casePatterns(ps []pat, sep string) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = casePattern(p)
	}
	return strings.Join(out, sep)
}
