package manual

import (
	"fmt"
	"strings"

	"github.com/terok-ai/terok-go/lib/cli"
)

// Zsh is the zsh completion of c: the file _NAME for a directory of $fpath.
func Zsh(c cli.Command) (string, error) {
	s, err := newSpec(c, nil)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	zshHeader(&b, c)
	zshCore(&b, s)
	fmt.Fprintf(&b, "\n_%s_at 1\n", s.fn())
	return b.String(), nil
}

// HostZsh is the zsh completion of the bare binary: its own verbs, and
// `terok NAME ...` handed to the completion of terok-NAME (_normal finds
// it, as the file _terok-NAME beside this one).
func HostZsh(host cli.Command, cmds []cli.Command) (string, error) {
	s, err := newSpec(host, cmds)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	zshHeader(&b, host)
	zshCore(&b, s)
	if len(s.delegates) > 0 {
		fmt.Fprintf(&b, "\n# `%s NAME ...` is `%s-NAME ...`: complete it as that command.\n", s.prog, s.prog)
		b.WriteString("if ((CURRENT > 2)); then\n")
		b.WriteString("  case ${words[2]} in\n")
		ws := make([]string, len(s.delegates))
		for i, d := range s.delegates {
			ws[i] = d.word
		}
		fmt.Fprintf(&b, "    (%s)\n", strings.Join(ws, "|"))
		fmt.Fprintf(&b, "      words=(\"%s-${words[2]}\" \"${(@)words[3,-1]}\")\n", s.prog)
		b.WriteString("      ((CURRENT--))\n")
		b.WriteString("      _normal\n")
		b.WriteString("      return ;;\n")
		b.WriteString("  esac\n")
		b.WriteString("fi\n")
	}
	fmt.Fprintf(&b, "_%s_at 1\n", s.fn())
	return b.String(), nil
}

func zshHeader(b *strings.Builder, c cli.Command) {
	fmt.Fprintf(b, "#compdef %s\n", c.Name)
	scriptHeader(b, "zsh", c.Name, c.Summary, "Install as _"+c.Name+" in a directory of $fpath.")
	b.WriteString("\n")
}

// zshAction is the zsh code that offers what c completes.
func zshAction(c Completer) string {
	switch c.Kind {
	case FileNames:
		return `_files`
	case DirNames:
		return `_files -/`
	case Words:
		ws := make([]string, len(c.Words))
		for i, w := range c.Words {
			ws[i] = sq(w)
		}
		return `compadd -- ` + strings.Join(ws, " ")
	case Lister:
		return `items=(${(f)"$(` + c.Command + ` 2>/dev/null)"}); compadd -a items`
	}
	return ":"
}

// zshDescribe is items as a zsh array of 'word:description' for
// _describe, one a line, indented by indent.
func zshDescribe(items []item, indent string) string {
	var b strings.Builder
	b.WriteString("(\n")
	for _, it := range items {
		b.WriteString(indent + "  " + sq(strings.ReplaceAll(it.word, ":", `\:`)+":"+it.help) + "\n")
	}
	b.WriteString(indent + ")")
	return b.String()
}

// zshCore writes _PROG_at START, which completes the command line of
// s.prog that starts at words[START].
func zshCore(b *strings.Builder, s *spec) {
	f := s.fn()
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	w("# _%s_at START completes the %s command line that starts at\n", f, s.prog)
	w("# words[START].\n")
	w("_%s_at() {\n", f)
	w("  local cur=${words[CURRENT]} cmd= flag= w\n")
	w("  local -a items\n")
	w("  integer i npos=0 skip=0 dashdash=0\n")
	w("  # Walk the words before the cursor: enter subcommands, count\n")
	w("  # arguments, and skip the value of a flag that takes one.\n")
	w("  for ((i = $1 + 1; i < CURRENT; i++)); do\n")
	w("    w=${words[i]}\n")
	w("    if ((skip)); then\n")
	w("      skip=0\n")
	w("      continue\n")
	w("    fi\n")
	w("    if ((!dashdash)); then\n")
	w("      case $w in\n")
	w("        (--) dashdash=1; continue ;;\n")
	w("        (--*=*) continue ;;\n")
	w("        (-?*)\n")
	w("          flag=$w\n")
	if vf := s.valueFlags(); len(vf) > 0 {
		w("          case \"$cmd:$w\" in\n")
		w("            (%s) skip=1 ;;\n", casePatterns(vf, "|"))
		w("          esac\n")
	}
	w("          continue ;;\n")
	w("      esac\n")
	w("    fi\n")
	if tr := s.transitions(); len(tr) > 0 {
		w("    case \"$cmd:$w\" in\n")
		w("      (%s) cmd=${cmd:+$cmd }$w; npos=0 ;;\n", casePatterns(tr, "|"))
		w("      (*) npos+=1 ;;\n")
		w("    esac\n")
	} else {
		w("    npos+=1\n")
	}
	w("  done\n")
	w("  if ((!dashdash)) && [[ $cur == --*=* ]]; then\n")
	w("    flag=${cur%%%%=*}\n")
	w("    compset -P '*='\n")
	w("    skip=1\n")
	w("  fi\n")
	w("  if ((skip)); then\n")
	w("    # The cursor is on the value of $flag.\n")
	if va := s.valueArms(); len(va) > 0 {
		w("    case \"$cmd:$flag\" in\n")
		for _, a := range va {
			w("      (%s) %s ;;\n", casePatterns(a.pats, "|"), zshAction(a.comp))
		}
		w("    esac\n")
	}
	w("    return\n")
	w("  fi\n")
	w("  if ((!dashdash)) && [[ $cur == -* ]]; then\n")
	w("    case $cmd in\n")
	for _, g := range s.flagGroups() {
		w("      (%s)\n        items=%s ;;\n", quoteAll(g.cmds, dq, "|"), zshDescribe(g.items, "        "))
	}
	w("    esac\n")
	w("    _describe -t options option items\n")
	w("    return\n")
	w("  fi\n")
	w("  case \"$cmd:$npos\" in\n")
	for _, n := range s.nodes {
		if it := s.subItems(n); len(it) > 0 {
			w("    (%s)\n      items=%s\n      _describe -t commands command items ;;\n",
				casePattern(pat{cmd: n.name(), word: "0"}), zshDescribe(it, "      "))
		}
	}
	for _, a := range s.argArms() {
		w("    (%s) %s ;;\n", casePatterns(a.pats, "|"), zshAction(a.comp))
	}
	w("  esac\n")
	w("}\n")
}
