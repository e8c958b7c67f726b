package manual

import (
	"fmt"
	"strings"

	"github.com/terok-ai/terok-go/lib/cli"
)

// Bash is the bash completion of c, for `complete -F`. It needs bash 4 and
// nothing of the bash-completion package.
func Bash(c cli.Command) (string, error) {
	s, err := newSpec(c, nil)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	bashHeader(&b, c)
	bashCore(&b, s)
	fmt.Fprintf(&b, "\n_%s() { _%s_at 0; }\ncomplete -F _%s %s\n", s.fn(), s.fn(), s.fn(), s.prog)
	return b.String(), nil
}

// HostBash is the bash completion of the bare binary: its own verbs, and
// `terok NAME ...` completed as `terok-NAME ...` for each command of the
// table. It carries those commands' completion too, so that it works alone.
func HostBash(host cli.Command, cmds []cli.Command) (string, error) {
	s, err := newSpec(host, cmds)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	bashHeader(&b, host)
	bashCore(&b, s)
	for _, c := range cmds {
		cs, err := newSpec(c, nil)
		if err != nil {
			return "", err
		}
		b.WriteString("\n")
		bashCore(&b, cs)
	}
	fmt.Fprintf(&b, "\n# `%s NAME ...` is `%s-NAME ...`: complete it as that command.\n", s.prog, s.prog)
	fmt.Fprintf(&b, "_%s() {\n", s.fn())
	if len(s.delegates) > 0 {
		b.WriteString("    if ((COMP_CWORD > 1)); then\n")
		b.WriteString("        case ${COMP_WORDS[1]} in\n")
		for _, d := range s.delegates {
			fmt.Fprintf(&b, "        %s)\n            _%s_at 1\n            return\n            ;;\n", d.word, ident(d.prog))
		}
		b.WriteString("        esac\n    fi\n")
	}
	fmt.Fprintf(&b, "    _%s_at 0\n}\ncomplete -F _%s %s\n", s.fn(), s.fn(), s.prog)
	return b.String(), nil
}

func bashHeader(b *strings.Builder, c cli.Command) {
	b.WriteString("# shellcheck shell=bash\n")
	scriptHeader(b, "bash", c.Name, c.Summary,
		"Install as share/bash-completion/completions/"+c.Name+",\n# or load it with: source "+c.Name)
}

// bashAction is the bash code that fills COMPREPLY for c from $cur.
func bashAction(c Completer) string {
	switch c.Kind {
	case FileNames:
		return `compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur")`
	case DirNames:
		return `compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- "$cur")`
	case Words:
		return `mapfile -t COMPREPLY < <(compgen -W ` + sq(strings.Join(c.Words, " ")) + ` -- "$cur")`
	case Lister:
		return `mapfile -t COMPREPLY < <(compgen -W "$(` + c.Command + ` 2>/dev/null)" -- "$cur")`
	}
	return ":"
}

// bashCore writes _PROG_at START, which completes the command line of
// s.prog that starts at COMP_WORDS[START].
func bashCore(b *strings.Builder, s *spec) {
	f := s.fn()
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	w("# _%s_at START completes the %s command line that starts at\n", f, s.prog)
	w("# COMP_WORDS[START].\n")
	w("_%s_at() {\n", f)
	w("    local start=$1 cur=${COMP_WORDS[COMP_CWORD]}\n")
	w("    local cmd=\"\" flag=\"\" w i npos=0 skip=0 dashdash=0\n")
	w("    # Walk the words before the cursor: enter subcommands, count\n")
	w("    # arguments, and skip the value of a flag that takes one.\n")
	w("    for ((i = start + 1; i < COMP_CWORD; i++)); do\n")
	w("        w=${COMP_WORDS[i]}\n")
	w("        if ((!dashdash)) && [[ $w == \"=\" ]]; then\n")
	w("            skip=1 # bash splits --flag=value at the \"=\"\n")
	w("            continue\n")
	w("        fi\n")
	w("        if ((skip)); then\n")
	w("            skip=0\n")
	w("            continue\n")
	w("        fi\n")
	w("        if ((!dashdash)); then\n")
	w("            case $w in\n")
	w("            --)\n")
	w("                dashdash=1\n")
	w("                continue\n")
	w("                ;;\n")
	w("            --*=*) continue ;;\n")
	w("            -?*)\n")
	w("                flag=$w\n")
	if vf := s.valueFlags(); len(vf) > 0 {
		w("                case \"$cmd:$w\" in\n")
		w("                %s) skip=1 ;;\n", casePatterns(vf, " | "))
		w("                esac\n")
	}
	w("                continue\n")
	w("                ;;\n")
	w("            esac\n")
	w("        fi\n")
	if tr := s.transitions(); len(tr) > 0 {
		w("        case \"$cmd:$w\" in\n")
		w("        %s)\n", casePatterns(tr, " | "))
		w("            cmd=${cmd:+$cmd }$w npos=0\n")
		w("            ;;\n")
		w("        *) npos=$((npos + 1)) ;;\n")
		w("        esac\n")
	} else {
		w("        npos=$((npos + 1))\n")
	}
	w("    done\n")
	w("    if ((!dashdash)) && [[ $cur == \"=\" ]]; then\n")
	w("        cur=\"\" skip=1\n")
	w("    fi\n")
	w("    COMPREPLY=()\n")
	w("    if ((skip)); then\n")
	w("        # The cursor is on the value of $flag.\n")
	if va := s.valueArms(); len(va) > 0 {
		w("        case \"$cmd:$flag\" in\n")
		for _, a := range va {
			w("        %s) %s ;;\n", casePatterns(a.pats, " | "), bashAction(a.comp))
		}
		w("        esac\n")
	}
	w("        return 0\n")
	w("    fi\n")
	w("    if ((!dashdash)) && [[ $cur == -* ]]; then\n")
	w("        case $cmd in\n")
	for _, g := range s.flagGroups() {
		w("        %s) w=%s ;;\n", quoteAll(g.cmds, dq, " | "), sq(words(g.items)))
	}
	w("        *) w=\"\" ;;\n")
	w("        esac\n")
	w("        mapfile -t COMPREPLY < <(compgen -W \"$w\" -- \"$cur\")\n")
	w("        return 0\n")
	w("    fi\n")
	w("    case \"$cmd:$npos\" in\n")
	for _, n := range s.nodes {
		if it := s.subItems(n); len(it) > 0 {
			w("    %s) mapfile -t COMPREPLY < <(compgen -W %s -- \"$cur\") ;;\n",
				casePattern(pat{cmd: n.name(), word: "0"}), sq(words(it)))
		}
	}
	for _, a := range s.argArms() {
		w("    %s) %s ;;\n", casePatterns(a.pats, " | "), bashAction(a.comp))
	}
	w("    esac\n")
	w("    return 0\n")
	w("}\n")
}
