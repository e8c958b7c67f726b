package agent

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Launch is what a task asks of an agent.
type Launch struct {
	Headless bool          // headless (a prompt, a timeout, an exit code) or interactive
	Prompt   string        // required headless; optional interactively
	Model    string        // "" for the agent's default
	Timeout  time.Duration // headless only; 0 for none
	// Resume continues the agent's last session (headless, for agents
	// that can: see Agent.CanResume; ignored for the others).
	Resume bool
}

// Command is an agent's process: its argument list (never shell text) and
// the environment variables it needs on top of the container's.
type Command struct {
	Argv []string
	Env  map[string]string
}

// TimeoutKillAfter is how long an agent that ran past its timeout has,
// after SIGTERM, before it is killed.
const TimeoutKillAfter = 10 * time.Second

// Command returns the process that runs the agent as l asks. A headless run
// with a timeout runs under timeout(1), so that it ends with exit status 124
// when it runs past it.
func (a *Agent) Command(l Launch) (Command, error) {
	m, mode := a.Interactive, "interactive"
	if l.Headless {
		m, mode = a.Headless, "headless"
	}
	if l.Headless && strings.TrimSpace(l.Prompt) == "" {
		return Command{}, fmt.Errorf("agent %s: a headless run needs a prompt", a.Name)
	}
	if l.Model != "" && len(m.Model) == 0 {
		return Command{}, fmt.Errorf("agent %s takes no model (%s)", a.Name, mode)
	}
	if l.Timeout < 0 || (l.Timeout > 0 && !l.Headless) {
		return Command{}, fmt.Errorf("agent %s: a timeout applies to headless runs only", a.Name)
	}
	secs := ""
	if l.Timeout > 0 {
		secs = strconv.FormatInt(int64((l.Timeout+time.Second-1)/time.Second), 10)
	}
	flags := append([]string{}, a.Permissions.Flags...)
	if l.Model != "" {
		flags = append(flags, replaceIn(m.Model, "{model}", l.Model)...)
	}
	if secs != "" {
		flags = append(flags, replaceIn(m.Timeout, "{timeout}", secs)...)
	}
	bin := m.Binary
	if bin == "" {
		bin = a.Binary
	}
	argv := []string{bin}
	placed := false
	for _, arg := range m.Args {
		switch arg {
		case "{flags}":
			argv = append(argv, flags...)
			placed = true
		case "{prompt}":
			if l.Resume && l.Headless {
				argv = append(argv, m.Resume...)
			}
			if l.Prompt != "" {
				argv = append(argv, l.Prompt)
			}
		default:
			argv = append(argv, arg)
		}
	}
	if !placed {
		argv = append(append([]string{bin}, flags...), argv[1:]...)
	}
	if !l.Headless && l.Prompt != "" && !hasPrompt(m.Args) {
		return Command{}, fmt.Errorf("agent %s takes no prompt interactively", a.Name)
	}
	if secs != "" {
		argv = append([]string{"timeout", "--kill-after=" + strconv.Itoa(int(TimeoutKillAfter/time.Second)), secs}, argv...)
	}
	return Command{Argv: argv, Env: a.Environ()}, nil
}

// Environ is the environment the agent needs on top of the container's:
// its env and its permissions' env.
func (a *Agent) Environ() map[string]string {
	env := map[string]string{}
	for k, v := range a.Env {
		env[k] = v
	}
	for k, v := range a.Permissions.Env {
		env[k] = v
	}
	return env
}

func hasPrompt(args []string) bool {
	for _, a := range args {
		if a == "{prompt}" {
			return true
		}
	}
	return false
}

func replaceIn(flags []string, ph, v string) []string {
	out := make([]string, len(flags))
	for i, f := range flags {
		out[i] = strings.ReplaceAll(f, ph, v)
	}
	return out
}
