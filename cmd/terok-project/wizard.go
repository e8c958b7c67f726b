package projectcmd

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/terok-ai/terok-go/lib/agent"
	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/gate"
	"github.com/terok-ai/terok-go/lib/policy"
	"github.com/terok-ai/terok-go/lib/session"
	"github.com/terok-ai/terok-go/lib/vault"
)

// The wizard of `terok-project new` on a terminal. It asks its questions
// first and only fills in the flags: the project is then written by the
// same code as `new --flags`, once, after the last answer — so Esc or
// Ctrl-C during the questions leaves nothing behind. Then it offers the
// steps a new project usually needs (sync the gate, build the image, store
// the agents' credentials), each skippable, each by running the very
// command it prints first, and ends by printing the scriptable equivalent
// of everything it did.

// probeTimeout is how long the wizard waits for an upstream to answer
// git ls-remote.
const probeTimeout = 20 * time.Second

// wizard asks for what the flags would say and sets them on c.
func (c *NewCmd) wizard(env *cli.Env, s *session.Session) error {
	g := s.Global
	var err error
	if c.Description, err = env.AskValid("Description", "", "--description", oneLine); err != nil {
		return err
	}
	var remote gate.Remote
	probe := func(u string) (string, error) {
		if u == "" {
			return "", nil
		}
		abs, err := resolveUpstream(u)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(env.Stderr, "Checking %s ...\n", abs)
		if remote, err = gate.Probe(env.Ctx, abs, env.Getenv, probeTimeout); err != nil {
			var ue *gate.UpstreamError
			if errors.As(err, &ue) {
				return "", cli.Failf("%v", err).WithHint("fix it, or leave the answer empty for no upstream")
			}
			return "", err
		}
		return abs, nil
	}
	if c.Upstream, err = env.AskValid("Upstream (git URL or local path, empty for none)", "", "--upstream", probe); err != nil {
		return err
	}
	if c.Branch, err = c.askBranch(env, remote); err != nil {
		return err
	}
	if c.Branch == config.DefaultProject().Branch {
		c.Branch = "" // the default stays implicit, as without --branch
	}
	if c.Base, err = env.Ask("Base image", g.Image.Base, "--base"); err != nil {
		return err
	}
	if c.Base == g.Image.Base {
		c.Base = "" // values equal to the global defaults stay inherited
	}
	if err := c.askAgents(env, s); err != nil {
		return err
	}
	return c.askProfiles(env, s)
}

func oneLine(s string) (string, error) {
	if strings.ContainsAny(s, "\r\n") {
		return "", errors.New("must be one line")
	}
	return s, nil
}

// askBranch offers the upstream's branches (its HEAD's first), or asks for
// a name when there are none to offer.
func (c *NewCmd) askBranch(env *cli.Env, remote gate.Remote) (string, error) {
	def := config.DefaultProject().Branch
	if len(remote.Branches) == 0 {
		return env.AskValid("Default branch", def, "--branch", func(b string) (string, error) {
			return b, config.ValidBranch(b)
		})
	}
	if remote.Head != "" {
		def = remote.Head
	} else if !slices.Contains(remote.Branches, def) {
		def = remote.Branches[0]
	}
	var choices []cli.Choice
	for _, b := range remote.Branches {
		if config.ValidBranch(b) == nil {
			choices = append(choices, cli.Choice{Value: b, Label: b})
		}
	}
	return env.Choose("Default branch (the upstream's branches)", choices, def)
}

// askAgents offers the roster, the global image.agents selected, and
// asks which is the default when more than one is chosen.
func (c *NewCmd) askAgents(env *cli.Env, s *session.Session) error {
	r, err := s.Roster()
	if err != nil {
		return err
	}
	agents, err := env.ChooseMany("Agents to install", agentChoices(r.All()), s.Global.Image.Agents)
	if err != nil {
		return err
	}
	if len(agents) > 1 {
		def := agents[0]
		if g := s.Global.Image.Agents; len(g) > 0 && slices.Contains(agents, g[0]) {
			def = g[0]
		}
		var choices []cli.Choice
		for _, a := range agents {
			choices = append(choices, cli.Choice{Value: a, Label: a})
		}
		first, err := env.Choose("Default agent (the one tasks run unless told)", choices, def)
		if err != nil {
			return err
		}
		agents = defaultFirst(agents, first)
	}
	if !slices.Equal(agents, s.Global.Image.Agents) {
		c.Agents = agents
	}
	return nil
}

// agentChoices shows each agent with its label and description.
func agentChoices(all []*agent.Agent) []cli.Choice {
	w := 0
	for _, a := range all {
		w = max(w, len(a.Name))
	}
	out := make([]cli.Choice, 0, len(all))
	for _, a := range all {
		what := a.Description
		if a.Label != "" && a.Label != a.Name {
			what = a.Label + ": " + what
		}
		out = append(out, cli.Choice{Value: a.Name, Label: fmt.Sprintf("%-*s  %s", w, a.Name, what)})
	}
	return out
}

// defaultFirst moves first to the front, keeping the others' order.
func defaultFirst(list []string, first string) []string {
	out := []string{first}
	for _, a := range list {
		if a != first {
			out = append(out, a)
		}
	}
	return out
}

// askProfiles offers the egress profiles (terok-shield profiles), the
// global shield.profiles selected.
func (c *NewCmd) askProfiles(env *cli.Env, s *session.Session) error {
	all, err := policy.Profiles(s.Paths)
	if err != nil {
		return session.ConfigError(err)
	}
	names := make([]string, 0, len(all))
	w := 0
	for n := range all {
		names = append(names, n)
		w = max(w, len(n))
	}
	slices.Sort(names)
	choices := make([]cli.Choice, 0, len(names))
	for _, n := range names {
		choices = append(choices, cli.Choice{Value: n, Label: fmt.Sprintf("%-*s  %s", w, n, all[n].Description)})
	}
	profiles, err := env.ChooseMany("Egress profiles: what the tasks may reach", choices, s.Global.Shield.Profiles)
	if err != nil {
		return err
	}
	if !slices.Equal(profiles, s.Global.Shield.Profiles) {
		c.Profiles = profiles
	}
	return nil
}

// A step is one thing the wizard offers after writing the project: the
// command that does it (which the wizard runs, and prints for scripts).
type step struct {
	argv     []string
	question string
	done     bool
}

// finish offers the steps after the project is written, then prints the
// summary: the scriptable equivalent of what was done, and what is left.
func (c *NewCmd) finish(env *cli.Env, s *session.Session) error {
	p, err := s.Projects().Load(c.Name)
	if err != nil {
		return projectError(c.Name, err)
	}
	steps := []*step{}
	if p.Upstream != "" {
		steps = append(steps, &step{argv: []string{"terok-gate", "sync", c.Name},
			question: "Sync the gate (mirror the upstream for the tasks) now?"})
	}
	steps = append(steps, &step{argv: []string{"terok-image", "build", c.Name},
		question: "Build the project's image now? (the first build takes minutes)"})
	vaultSteps, err := c.vaultSteps(s, p)
	if err != nil {
		return err
	}
	var vaultInit *step
	if _, err := os.Stat(filepath.Join(s.Paths.VaultDir(), vault.IdentityFile)); len(vaultSteps) > 0 && err != nil {
		vaultInit = &step{argv: []string{"terok-vault", "init"},
			question: "Create the vault now? (the agents' credentials are kept there, encrypted)"}
		steps = append(steps, vaultInit)
	}
	fmt.Fprintf(env.Stdout, "\nProject %s is written. Each step below can be skipped; its command does it later.\n", c.Name)
	var failed error
	built := false
	for _, st := range steps {
		if failed = c.offer(env, st); failed != nil {
			break
		}
		built = built || st.done && st.argv[0] == "terok-image"
	}
	for _, vs := range vaultSteps {
		if failed != nil || vaultInit != nil && !vaultInit.done {
			break // no vault to store them in: left to do
		}
		failed = c.offerVault(env, vs, built)
	}
	printSummary(env, newArgv(c), append(steps, flatten(vaultSteps)...))
	return failed
}

// offer prints a step's command, asks, and runs it when agreed.
func (c *NewCmd) offer(env *cli.Env, st *step) error {
	fmt.Fprintf(env.Stdout, "\n  $ %s\n", shellLine(st.argv))
	ok, err := env.Agree(st.question, true)
	if err != nil || !ok {
		return err
	}
	if err := runStep(env, st.argv); err != nil {
		return err
	}
	st.done = true
	return nil
}

// A vaultStep stores one provider's credential: with an API key, or
// (when the agent has a sign-in and its image is built) the agent's own
// sign-in.
type vaultStep struct {
	provider, agent string
	set, login      *step
}

func flatten(vs []vaultStep) []*step {
	var out []*step
	for _, v := range vs {
		if v.login != nil && v.login.done {
			out = append(out, v.login)
		} else {
			out = append(out, v.set)
		}
	}
	return out
}

// vaultSteps lists one credential per vault provider of the project's
// agents (the first agent naming it), skipping agents with none.
func (c *NewCmd) vaultSteps(s *session.Session, p config.Project) ([]vaultStep, error) {
	r, err := s.Roster()
	if err != nil {
		return nil, err
	}
	var out []vaultStep
	seen := map[string]bool{}
	for _, name := range p.EffectiveAgents(s.Global) {
		a, ok := r.Get(name)
		if !ok || a.Vault.Provider == "" || a.Vault.Unsupported != "" || seen[a.Vault.Provider] {
			continue
		}
		seen[a.Vault.Provider] = true
		vs := vaultStep{provider: a.Vault.Provider, agent: name,
			set: &step{argv: []string{"terok-vault", "set", a.Vault.Provider}}}
		if a.HasLogin() {
			vs.login = &step{argv: []string{"terok-vault", "login", name, "--project", c.Name}}
		}
		out = append(out, vs)
	}
	return out, nil
}

func (c *NewCmd) offerVault(env *cli.Env, vs vaultStep, built bool) error {
	fmt.Fprintf(env.Stdout, "\n  $ %s\n", shellLine(vs.set.argv))
	if vs.login != nil && built {
		fmt.Fprintf(env.Stdout, "  $ %s\n", shellLine(vs.login.argv))
	}
	ok, err := env.Agree(fmt.Sprintf("Store the %s credential (for %s) in the vault now?", vs.provider, vs.agent), true)
	if err != nil || !ok {
		return err
	}
	st := vs.set
	if vs.login != nil && built {
		how, err := env.Choose("How?", []cli.Choice{
			{Value: "set", Label: "Paste an API key: " + shellLine(vs.set.argv)},
			{Value: "login", Label: "Sign in with " + vs.agent + "'s own login: " + shellLine(vs.login.argv)},
		}, "set")
		if err != nil {
			return err
		}
		if how == "login" {
			st = vs.login
		}
	}
	if err := runStep(env, st.argv); err != nil {
		return err
	}
	st.done = true
	return nil
}

// runStep runs a terok command as this binary (which dispatches on the
// name it is called by), on the terminal, so its own prompts and progress
// show as they would when typed.
func runStep(env *cli.Env, argv []string) error {
	exe, err := os.Executable()
	if err != nil {
		return cli.Failf("finding this binary to run %s: %v", argv[0], err)
	}
	cmd := execCommand(env, exe)
	cmd.Args = argv
	// Ctrl-C reaches the step itself from the terminal; it is given time
	// to stop as it does when typed, not killed by this context.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	err = cmd.Run()
	if env.Ctx.Err() != nil {
		return cli.Failf("interrupted during %s", shellLine(argv))
	}
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		return cli.ExitStatus(xe.ExitCode())
	}
	if err != nil {
		return cli.Failf("%s: %v", shellLine(argv), err)
	}
	return nil
}

// printSummary prints the scriptable equivalent of the wizard: the new
// command, the steps done, and those left to do.
func printSummary(env *cli.Env, newArgv []string, steps []*step) {
	fmt.Fprintf(env.Stdout, "\nThe wizard's scriptable equivalent:\n  %s\n", shellLine(newArgv))
	var left []string
	for _, st := range steps {
		if st.done {
			fmt.Fprintf(env.Stdout, "  %s\n", shellLine(st.argv))
		} else {
			left = append(left, shellLine(st.argv))
		}
	}
	if len(left) > 0 {
		fmt.Fprintf(env.Stdout, "Left to do:\n  %s\n", strings.Join(left, "\n  "))
	}
}

// newArgv is the `terok-project new` command line that makes the same
// project as c (flags left at their defaults are left out).
func newArgv(c *NewCmd) []string {
	argv := []string{"terok-project", "new", c.Name}
	for _, f := range []struct{ flag, v string }{
		{"--description", c.Description}, {"--upstream", c.Upstream}, {"--branch", c.Branch},
		{"--base", c.Base}, {"--agents", strings.Join(c.Agents, ",")}, {"--profiles", strings.Join(c.Profiles, ",")},
	} {
		if f.v != "" {
			argv = append(argv, f.flag, f.v)
		}
	}
	return argv
}

// shellLine renders argv for a POSIX shell: words of plain characters as
// they are, anything else in single quotes.
func shellLine(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = shellWord(a)
	}
	return strings.Join(out, " ")
}

func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,@+%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
