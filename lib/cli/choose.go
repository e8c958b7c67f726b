package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

// The prompts below are the wizards' (terok-project new): a choice from a
// list, several choices, an answer checked until it is valid, and a yes/no
// whose "no" is an answer rather than an error. Like Ask and Confirm they
// only ever run when a person is at a terminal (Interactive): without one
// they fail at once with a usage error. Esc or Ctrl-C in any of them is
// ErrAborted, so that a wizard can stop before writing anything.

// ErrAborted is returned when a person leaves a prompt with Esc or Ctrl-C.
var ErrAborted = &Error{Code: ExitInterrupted, Msg: "aborted"}

// Choice is one item of a list to choose from: the value a command uses,
// and the line a person reads (the value and what it is).
type Choice struct {
	Value, Label string
}

// Choose asks for one of choices, the cursor starting on def.
func (e *Env) Choose(header string, choices []Choice, def string) (string, error) {
	got, err := e.choose(header, choices, []string{def}, false)
	if err != nil {
		return "", err
	}
	return got[0], nil
}

// ChooseMany asks for one or more of choices, those in defs selected at
// first. The answer keeps the order of choices.
func (e *Env) ChooseMany(header string, choices []Choice, defs []string) ([]string, error) {
	return e.choose(header, choices, defs, true)
}

func (e *Env) choose(header string, choices []Choice, defs []string, many bool) ([]string, error) {
	if !e.Interactive() {
		return nil, Usagef("%s: no terminal to ask", strings.TrimSuffix(header, ":"))
	}
	if len(choices) == 0 {
		return nil, Failf("%s: nothing to choose from", header)
	}
	if gum, ok := e.gum(); ok {
		out, err := e.gumOutput(exec.CommandContext(e.Ctx, gum, gumChooseArgs(header, choices, defs, many)...), true)
		if err != nil {
			return nil, err
		}
		return ParseChosen(out, choices)
	}
	for i, c := range choices {
		fmt.Fprintf(e.Stderr, "  %d) %s\n", i+1, c.Label)
	}
	prompt := header
	if many {
		prompt += " (numbers or names, comma-separated)"
	}
	prompt += " [" + strings.Join(defs, ",") + "]: "
	for {
		ans, err := e.readLine(prompt)
		if err != nil {
			return nil, err
		}
		if ans == "" {
			return defs, nil
		}
		got, err := pickTyped(ans, choices)
		if err == nil && (many || len(got) == 1) {
			return got, nil
		}
		if err == nil {
			err = errors.New("choose one")
		}
		fmt.Fprintf(e.Stderr, "%s: %v\n", e.Prog, err)
	}
}

// gumChooseArgs is gum's command line for a choice: each item is shown by
// its label and answered by its value (a tab separates them; labels are
// one line, and the selected ones are named by label, commas escaped).
func gumChooseArgs(header string, choices []Choice, defs []string, many bool) []string {
	args := []string{"choose", "--header=" + header, "--label-delimiter=\t"}
	if many {
		args = append(args, "--no-limit")
	}
	var sel []string
	for _, c := range choices {
		if slices.Contains(defs, c.Value) {
			sel = append(sel, strings.ReplaceAll(gumLabel(c), ",", `\,`))
		}
	}
	if len(sel) > 0 {
		args = append(args, "--selected="+strings.Join(sel, ","))
	}
	args = append(args, "--")
	for _, c := range choices {
		args = append(args, gumLabel(c)+"\t"+c.Value)
	}
	return args
}

func gumLabel(c Choice) string {
	l := strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, c.Label)
	if l == "" {
		return c.Value
	}
	return l
}

// ParseChosen reads what gum choose printed: one value per line. Every
// value must be one of choices; the answer keeps their order.
func ParseChosen(out string, choices []Choice) ([]string, error) {
	picked := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		if !slices.ContainsFunc(choices, func(c Choice) bool { return c.Value == l }) {
			return nil, Failf("gum choose answered %q, which was not offered", l)
		}
		picked[l] = true
	}
	var got []string
	for _, c := range choices {
		if picked[c.Value] {
			got = append(got, c.Value)
		}
	}
	if len(got) == 0 {
		return nil, ErrAborted
	}
	return got, nil
}

// pickTyped reads a typed answer to a choice without gum: numbers of the
// list or values, comma-separated.
func pickTyped(ans string, choices []Choice) ([]string, error) {
	var got []string
	for _, f := range strings.Split(ans, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if n, err := strconv.Atoi(f); err == nil && n >= 1 && n <= len(choices) {
			f = choices[n-1].Value
		} else if !slices.ContainsFunc(choices, func(c Choice) bool { return c.Value == f }) {
			return nil, fmt.Errorf("%q is not one of the list", f)
		}
		if !slices.Contains(got, f) {
			got = append(got, f)
		}
	}
	if len(got) == 0 {
		return nil, errors.New("choose at least one")
	}
	return got, nil
}

// AskValid asks like Ask until check accepts the answer; check returns
// the value to use (e.g. a path made absolute) or says what is wrong,
// which is shown before asking again with the rejected answer to edit.
func (e *Env) AskValid(label, def, flag string, check func(string) (string, error)) (string, error) {
	for {
		ans, err := e.Ask(label, def, flag)
		if err != nil {
			return "", err
		}
		v, err := check(ans)
		if err == nil {
			return v, nil
		}
		fmt.Fprintf(e.Stderr, "%s: %v\n", e.Prog, err)
		if h := HintOf(err); h != "" {
			fmt.Fprintf(e.Stderr, "hint: %s\n", h)
		}
		def = ans
	}
}

// Agree asks a yes/no question whose answer is a choice, not a
// permission: a "no" is false (where Confirm makes it ErrDeclined). def is
// the answer Enter gives.
func (e *Env) Agree(question string, def bool) (bool, error) {
	if !e.Interactive() {
		return false, Usagef("%s: no terminal to ask", strings.TrimSuffix(question, "?"))
	}
	if gum, ok := e.gum(); ok {
		cmd := exec.CommandContext(e.Ctx, gum, "confirm", "--default="+strconv.FormatBool(def), "--", question)
		_, err := e.gumOutput(cmd, false)
		var xe *exec.ExitError
		switch {
		case err == nil:
			return true, nil
		case errors.As(err, &xe) && xe.ExitCode() == 1:
			return false, nil
		case errors.As(err, &xe):
			return false, Failf("gum confirm: %v", err)
		}
		return false, err
	}
	hint := " [y/N] "
	if def {
		hint = " [Y/n] "
	}
	ans, err := e.readLine(question + hint)
	if err != nil {
		return false, err
	}
	switch strings.ToLower(ans) {
	case "":
		return def, nil
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// gumOutput runs gum on the terminal and returns what it printed. Exit
// 130 (Ctrl-C) is ErrAborted, and so is 1 (Esc) when escAborts; any other
// failure is returned as it is.
func (e *Env) gumOutput(cmd *exec.Cmd, escAborts bool) (string, error) {
	cmd.Stdin, cmd.Stderr = os.Stdin, os.Stderr
	out, err := cmd.Output()
	var xe *exec.ExitError
	if errors.As(err, &xe) && (xe.ExitCode() == 130 || escAborts && xe.ExitCode() == 1) {
		return "", ErrAborted
	}
	if err != nil && !errors.As(err, &xe) {
		return "", Failf("%s: %v", cmd.Args[0], err)
	}
	return string(out), err
}
