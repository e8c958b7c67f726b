package cli

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/term"
)

// ErrDeclined is returned when a person answers a confirmation with no.
var ErrDeclined = Failf("aborted: not confirmed")

// Confirm asks a yes/no question. yes (from --yes) answers it at once.
// Without a terminal nothing waits: the answer is a usage error naming the
// flag. A "no" is ErrDeclined.
func (e *Env) Confirm(question string, yes bool) error {
	if yes {
		return nil
	}
	if !e.Interactive() {
		return Usagef("%s: confirmation needed and no terminal to ask; pass --yes", strings.TrimSuffix(question, "?"))
	}
	if gum, ok := e.gum(); ok {
		cmd := exec.CommandContext(e.Ctx, gum, "confirm", "--default=false", "--", question)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		err := cmd.Run()
		var xe *exec.ExitError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &xe) && xe.ExitCode() == 1:
			return ErrDeclined
		case errors.As(err, &xe) && xe.ExitCode() == 130:
			return &Error{Code: ExitInterrupted, Msg: "aborted"}
		default:
			return Failf("gum confirm: %v", err)
		}
	}
	ans, err := e.readLine(question + " [y/N] ")
	if err != nil {
		return err
	}
	switch strings.ToLower(ans) {
	case "y", "yes":
		return nil
	}
	return ErrDeclined
}

// Ask asks for one value on a terminal, offering def. flag names the option
// that gives the value in scripts; without a terminal Ask fails with a usage
// error naming it.
func (e *Env) Ask(label, def, flag string) (string, error) {
	if !e.Interactive() {
		return "", Usagef("missing %s (no terminal to ask)", flag)
	}
	if gum, ok := e.gum(); ok {
		cmd := exec.CommandContext(e.Ctx, gum, "input", "--prompt="+label+": ", "--value="+def, "--placeholder="+flag)
		out, err := e.gumOutput(cmd, true) // Esc or Ctrl-C: aborted
		if errors.Is(err, ErrAborted) {
			return "", err
		}
		if err != nil {
			return "", Failf("gum input: %v", err)
		}
		return strings.TrimSpace(out), nil
	}
	prompt := label
	if def != "" {
		prompt += " [" + def + "]"
	}
	ans, err := e.readLine(prompt + ": ")
	if err != nil {
		return "", err
	}
	if ans == "" {
		return def, nil
	}
	return ans, nil
}

func (e *Env) gum() (string, bool) {
	if e.Getenv("TEROK_NO_GUM") == "1" {
		return "", false
	}
	p, err := exec.LookPath("gum")
	return p, err == nil
}

// readLine is the prompt used on a terminal without gum.
func (e *Env) readLine(prompt string) (string, error) {
	fmt.Fprint(e.Stderr, prompt)
	line, err := bufio.NewReader(e.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", Failf("aborted: no answer")
	}
	return strings.TrimSpace(line), nil
}

// AskSecret asks for a secret (a passphrase, an API key) on a terminal,
// never echoing it: gum's password input, else the terminal with echo
// off. Without a terminal it fails with a usage error; hint says how to
// give the secret in scripts.
func (e *Env) AskSecret(label, hint string) (string, error) {
	if !e.Interactive() {
		return "", Usagef("%s needed and no terminal to ask", strings.ToLower(label)).WithHint("%s", hint)
	}
	if gum, ok := e.gum(); ok {
		cmd := exec.CommandContext(e.Ctx, gum, "input", "--password", "--prompt="+label+": ")
		cmd.Stdin, cmd.Stderr = os.Stdin, os.Stderr
		out, err := cmd.Output()
		var xe *exec.ExitError
		if errors.As(err, &xe) && xe.ExitCode() == 130 {
			return "", &Error{Code: ExitInterrupted, Msg: "aborted"}
		}
		if err != nil {
			return "", Failf("gum input: %v", err)
		}
		return strings.TrimRight(string(out), "\r\n"), nil
	}
	f, ok := e.Stdin.(*os.File)
	if !ok {
		return "", Usagef("%s needed and no terminal to ask", strings.ToLower(label)).WithHint("%s", hint)
	}
	fmt.Fprint(e.Stderr, label+": ")
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(e.Stderr)
	if err != nil {
		return "", Failf("reading the %s: %v", strings.ToLower(label), err)
	}
	return string(b), nil
}
