package manual

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/terok-ai/terok-go/lib/cli"
)

// Fish is the fish completion of c: the file NAME.fish for a directory of
// $fish_complete_path.
func Fish(c cli.Command) (string, error) {
	s, err := newSpec(c, nil)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fishHeader(&b, c)
	fishCore(&b, s, "")
	return b.String(), nil
}

// HostFish is the fish completion of the bare binary: its own verbs, and
// `terok NAME ...` completed as `terok-NAME ...` (complete -C loads that
// command's completion, the file NAME.fish beside this one).
func HostFish(host cli.Command, cmds []cli.Command) (string, error) {
	s, err := newSpec(host, cmds)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fishHeader(&b, host)
	guard := ""
	if len(s.delegates) > 0 {
		f := s.fn()
		ws := make([]string, len(s.delegates))
		for i, d := range s.delegates {
			ws[i] = d.word
		}
		w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
		w("# __%s_delegated: the cursor is after `%s NAME`, which is `%s-NAME`.\n", f, s.prog, s.prog)
		w("function __%s_delegated\n", f)
		w("    set -l words (commandline -opc)\n")
		w("    set -q words[2]; and contains -- $words[2] %s\n", strings.Join(ws, " "))
		w("end\n\n")
		w("# __%s_delegate completes `%s NAME ...` as `%s-NAME ...`.\n", f, s.prog, s.prog)
		w("function __%s_delegate\n", f)
		w("    set -l words (commandline -opc)\n")
		w("    set -l cur (commandline -ct)\n")
		w("    set -e words[1]\n")
		w("    set words[1] %s-$words[1]\n", s.prog)
		w("    complete -C (string join ' ' -- (string escape -- $words) \"$cur\")\n")
		w("end\n\n")
		w("complete -c %s -n __%s_delegated -f -a '(__%s_delegate)'\n\n", s.prog, f, f)
		guard = "not __" + f + "_delegated; and "
	}
	fishCore(&b, s, guard)
	return b.String(), nil
}

func fishHeader(b *strings.Builder, c cli.Command) {
	scriptHeader(b, "fish", c.Name, c.Summary,
		"Install as "+c.Name+".fish in a directory of $fish_complete_path.")
}

// fishQuote quotes s for fish: in single quotes, where fish takes \' and
// \\ as escapes.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// fishValue are the options of `complete` that say how a flag's value or
// an argument is completed.
func fishValue(c Completer, flag bool) string {
	req := ""
	if flag {
		req = "-x "
	}
	switch c.Kind {
	case FileNames:
		if flag {
			return "-r -F"
		}
		return "-F"
	case DirNames:
		return req + "-a '(__fish_complete_directories (commandline -ct))'"
	case Words:
		return req + "-a " + fishQuote(strings.Join(c.Words, " "))
	case Lister:
		return req + "-a " + fishQuote("("+c.Command+" 2>/dev/null)")
	}
	return strings.TrimSpace(req)
}

// fishCore writes the state function of s.prog, its two conditions and the
// complete lines; guard is prefixed to every condition.
func fishCore(b *strings.Builder, s *spec, guard string) {
	f, p := s.fn(), s.prog
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	w("# __%s_state prints where the cursor is on the %s\n", f, p)
	w("# command line: how many arguments its subcommand already has, then\n")
	w("# the subcommand's path (its words joined by spaces, empty at the top).\n")
	w("function __%s_state\n", f)
	w("    set -l words (commandline -opc)\n")
	w("    set -e words[1]\n")
	w("    set -l cmd ''\n")
	w("    set -l npos 0\n")
	w("    set -l skip 0\n")
	w("    set -l dashdash 0\n")
	w("    for w in $words\n")
	w("        if test $skip = 1\n")
	w("            set skip 0\n")
	w("            continue\n")
	w("        end\n")
	w("        if test $dashdash = 0\n")
	w("            switch $w\n")
	w("                case --\n")
	w("                    set dashdash 1\n")
	w("                    continue\n")
	w("                case '--*=*'\n")
	w("                    continue\n")
	w("                case '-?*'\n")
	if vf := s.valueFlags(); len(vf) > 0 {
		w("                    switch \"$cmd:$w\"\n")
		w("                        case %s\n", fishPatterns(vf))
		w("                            set skip 1\n")
		w("                    end\n")
	}
	w("                    continue\n")
	w("            end\n")
	w("        end\n")
	if tr := s.transitions(); len(tr) > 0 {
		w("        switch \"$cmd:$w\"\n")
		w("            case %s\n", fishPatterns(tr))
		w("                set cmd (string trim -- \"$cmd $w\")\n")
		w("                set npos 0\n")
		w("            case '*'\n")
		w("                set npos (math $npos + 1)\n")
		w("        end\n")
	} else {
		w("        set npos (math $npos + 1)\n")
	}
	w("    end\n")
	w("    echo $npos\n")
	w("    echo $cmd\n")
	w("end\n\n")

	w("# __%s_at CMD N: the cursor is on argument N of subcommand CMD\n", f)
	w("# (counting from 0; N+ is N or any later one).\n")
	w("function __%s_at\n", f)
	w("    set -l s (__%s_state)\n", f)
	w("    test \"$s[2]\" = \"$argv[1]\"; or return 1\n")
	w("    switch $argv[2]\n")
	w("        case '*+'\n")
	w("            test $s[1] -ge (string trim -r -c + -- $argv[2])\n")
	w("        case '*'\n")
	w("            test $s[1] = $argv[2]\n")
	w("    end\n")
	w("end\n\n")

	w("# __%s_in CMD: the cursor is in subcommand CMD or below it, where\n", f)
	w("# CMD's flags apply.\n")
	w("function __%s_in\n", f)
	w("    set -l s (__%s_state)\n", f)
	w("    test \"$s[2]\" = \"$argv[1]\"; or string match -q -- \"$argv[1] *\" \"$s[2]\"\n")
	w("end\n\n")

	w("complete -c %s -f\n", p)
	// A condition is in double quotes; the command names in it are words
	// of the grammar, in single quotes where they hold a space.
	cond := func(c string) string {
		if guard == "" && c == "" {
			return ""
		}
		if c == "" {
			return `-n "` + strings.TrimSuffix(guard, "; and ") + `" `
		}
		return `-n "` + guard + c + `" `
	}
	for _, n := range s.nodes {
		in := ""
		if n != s.root {
			in = "__" + f + "_in " + fishWord(n.name())
		}
		for _, fl := range n.flags {
			opts := ""
			if fl.short != 0 {
				opts += "-s " + string(fl.short) + " "
			}
			opts += "-l " + fl.long
			if fl.placeholder != "" {
				opts += " " + fishValue(fl.complete, true)
			}
			w("complete -c %s %s%s -d %s\n", p, cond(in), opts, fishQuote(oneLine(fl.help)))
		}
		for _, it := range s.subItems(n) {
			w("complete -c %s %s-a %s -d %s\n", p,
				cond("__"+f+"_at "+fishWord(n.name())+" 0"), fishWord(it.word), fishQuote(it.help))
		}
		for i, a := range n.args {
			if a.complete.Kind == None {
				continue
			}
			pos := fmt.Sprint(i)
			if a.repeated {
				pos += "+"
			}
			w("complete -c %s %s%s\n", p, cond("__"+f+"_at "+fishWord(n.name())+" "+pos), fishValue(a.complete, false))
		}
	}
}

var plainWord = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.,:/+=@%-]*$`)

// fishWord is s bare when it is a plain word, else quoted.
func fishWord(s string) string {
	if plainWord.MatchString(s) {
		return s
	}
	return fishQuote(s)
}

func fishPatterns(ps []pat) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = fishQuote(p.cmd + ":" + p.word)
	}
	return strings.Join(out, " ")
}
