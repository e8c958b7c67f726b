// Command terok-task runs agents in hardened containers and keeps each
// run — its logs, exit code and pushed commits — inspectable afterwards.
//
// Synopsis:
//
//	terok-task run PROJECT [PROMPT | -] [--agent A] [--prompt-file F] [--model M] [--timeout D] [--branch B] [--detach]
//	terok-task run -i PROJECT [PROMPT] [--agent A] [--model M] [--branch B] [--detach]
//	terok-task run --shell PROJECT [--branch B] [--detach]
//	terok-task login ID
//	terok-task ls [--project P] [--status S] [--agent A]
//	terok-task show ID
//	terok-task logs ID [-f] [--tail N] [--since T]
//	terok-task wait ID... | -
//	terok-task stop ID... | - [--time D]
//	terok-task start ID
//	terok-task restart ID... | - [--recreate] [--time D]
//	terok-task followup ID [PROMPT | -] [--prompt-file F] [--timeout D] [--detach]
//	terok-task diff ID... | - [--patch]
//	terok-task exec ID [-t] [-i] -- CMD [ARG...]
//	terok-task rm ID... | - [--force] [--yes]
//
// Ids are accepted by any unique prefix.
package taskcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/terok-ai/terok-go/lib/agent"
	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/project"
	"github.com/terok-ai/terok-go/lib/task"
)

// Command is terok-task's entry in the command table.
var Command = cli.Command{
	Name:    "terok-task",
	Summary: "run agents in hardened containers, headless or in a terminal session, and manage their tasks",
	Detail: "A task is one run of an agent on a project: a hardened container with its own workspace volume, " +
		"a fresh clone of the project from the gate on a branch of its own, a default-deny egress firewall (terok-shield(1)), " +
		"and a warden on the host that serves the task's gate and resolver on the task's own loopback and keeps its " +
		"firewall open as its policy says. Headless runs stream the agent's output and exit with the agent's " +
		"exit code (124 past the timeout). Interactive runs (-i, or --shell for a login shell) keep the agent in a tmux " +
		"session inside the container and attach this terminal to it: tmux's C-b d detaches and leaves the task running, " +
		"'terok-task login ID' attaches again, and the task ends when the session's program exits.",
	Grammar:  func() any { return &Grammar{} },
	Sections: sections,
}

// Grammar is terok-task's command line.
type Grammar struct {
	cli.Globals
	Run    RunCmd    `cmd:"" help:"Create a task and run its agent headless, or interactively with -i."`
	Login  LoginCmd  `cmd:"" help:"Attach this terminal to an interactive task's session again."`
	Ls     LsCmd     `cmd:"" help:"List tasks with their live status."`
	Show   ShowCmd   `cmd:"" help:"Show a task: record, container, hardening in force, warden, branch."`
	Logs   LogsCmd   `cmd:"" help:"Print a task's output (also after it exited)."`
	Wait   WaitCmd   `cmd:"" help:"Wait for tasks to finish; exit with the last one's code."`
	Stop   StopCmd   `cmd:"" help:"Stop tasks: SIGTERM, then SIGKILL after --time."`
	Start  StartCmd  `cmd:"" help:"Start a stopped task again on the same workspace."`
	Rm     RmCmd     `cmd:"" help:"Remove tasks: archive record and logs, remove container, workspace and token."`
	Warden WardenCmd `cmd:"" hidden:"" help:"Serve a task's endpoints (started by run and start)."`

	// The lifecycle of a task that ran (lifecycle.go).
	Restart  RestartCmd  `cmd:"" help:"Stop tasks if they run and start them again on the same workspace (--recreate: in a new container of the current image)."`
	Followup FollowupCmd `cmd:"" help:"Run a new headless prompt on a task's workspace, resuming the agent's session where it can."`
	Diff     DiffCmd     `cmd:"" help:"Show what a task's workspace has that the gate lacks: uncommitted changes and unpushed commits."`
	Exec     ExecCmd     `cmd:"" help:"Run a command inside a running task, as the agent's user in the workspace."`
}

// session is what every verb needs: paths, config, the engine and a runner.
type session struct {
	r *task.Runner
}

// open reads the configuration and connects to Podman.
func open(env *cli.Env) (*session, error) {
	s, err := openWithoutEngine(env)
	if err != nil {
		return nil, err
	}
	return s, s.connect(env)
}

// Runner reads the configuration and connects to Podman: a task runner
// for verbs outside terok-task (terok uninstall).
func Runner(env *cli.Env) (*task.Runner, error) {
	s, err := open(env)
	if err != nil {
		return nil, err
	}
	return s.r, nil
}

// RunnerWithoutEngine reads the configuration only, for a verb that must
// act before Podman answers (terok panic); Connect connects it later.
func RunnerWithoutEngine(env *cli.Env) (*task.Runner, error) {
	s, err := openWithoutEngine(env)
	if err != nil {
		return nil, err
	}
	return s.r, nil
}

// Connect connects a runner from RunnerWithoutEngine to Podman.
func Connect(env *cli.Env, r *task.Runner) error { return (&session{r: r}).connect(env) }

// connect connects the session to Podman and loads the agent roster.
func (s *session) connect(env *cli.Env) error {
	e, err := engine.Connect(env.Ctx, engine.OptionsFromConfig(s.r.Paths, s.r.Global, env.Getenv))
	if err != nil {
		return err
	}
	rootless, err := e.Rootless(env.Ctx)
	if err != nil {
		return err
	}
	roster, err := agent.Load(s.r.Paths.AgentsDir())
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	s.r.Engine, s.r.Rootless, s.r.Roster, s.r.Exe = e, rootless, roster, exe
	return nil
}

func configErr(err error) error {
	var fe *config.FileError
	if errors.As(err, &fe) {
		e := cli.Failf("%s", fe.Error())
		e.Hint = fe.Hint
		return e
	}
	return err
}

// resolve turns an id or unique prefix into a record.
func (s *session) resolve(ref string) (task.Record, error) {
	id, err := s.r.Store().Resolve(ref)
	switch {
	case errors.Is(err, task.ErrNotFound):
		return task.Record{}, cli.NotFoundf("no task %q", ref).WithHint("'terok-task ls' lists tasks")
	case errors.Is(err, task.ErrAmbiguous):
		return task.Record{}, cli.Usagef("%v", err).WithHint("give more characters of the id")
	case err != nil:
		return task.Record{}, cli.Usagef("%v", err)
	}
	return s.r.Store().Load(id)
}

// live returns a task's container state, nil when the container is gone.
func (s *session) live(ctx context.Context, rec task.Record) (*engine.ContainerState, error) {
	st, err := s.r.Engine.InspectContainer(ctx, rec.Container)
	if errors.Is(err, engine.ErrNoSuchContainer) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// RunCmd is `terok-task run`.
type RunCmd struct {
	Project    string        `arg:"" help:"The project." completion:"project"`
	Prompt     string        `arg:"" optional:"" help:"The prompt (for the command agent, the shell command line), or - to read it from stdin."`
	Agent      string        `help:"The agent (default: the project's first agent)." placeholder:"NAME"`
	PromptFile string        `help:"Read the prompt from a file." placeholder:"FILE" type:"existingfile"`
	Model      string        `help:"The model, for agents that take one." placeholder:"MODEL"`
	Timeout    time.Duration `help:"Stop the agent after this long; exit code 124 (default: run.timeout)." placeholder:"DURATION"`
	Branch     string        `help:"The branch to start from (default: the project's branch)." placeholder:"BRANCH"`
	Detach     bool          `short:"d" help:"Print the task as one JSON line and return at once."`

	// Interactive runs: see login.go.
	Interactive bool `short:"i" help:"Run the agent interactively in a tmux session in the container and attach this terminal to it (C-b d detaches)."`
	Shell       bool `help:"Run a login shell in the session instead of the agent (implies -i)."`
}

// Event is a JSON line of a streaming run.
type Event struct {
	Type     string `json:"type"`
	ID       string `json:"id"`
	Stream   string `json:"stream,omitempty"`
	Line     string `json:"line,omitempty"`
	Status   string `json:"status,omitempty"`
	ExitCode *int   `json:"exit_code,omitempty"`
}

func (c *RunCmd) Run(env *cli.Env) error {
	trace := env.Tracer()
	mode, err := c.mode(env)
	if err != nil {
		return err
	}
	prompt, err := c.prompt(env, mode)
	if err != nil {
		return err
	}
	if c.Timeout < 0 {
		return cli.Usagef("--timeout: negative duration")
	}
	if err := config.ValidName(c.Project); err != nil {
		return cli.Usagef("%v", err)
	}
	s, err := openWithoutEngine(env)
	if err != nil {
		return err
	}
	if _, err := (project.Store{Paths: s.r.Paths}).Load(c.Project); err != nil {
		return runError(c.Project, err)
	}
	trace("load")
	if err := s.connect(env); err != nil {
		return err
	}
	trace("connect")
	s.r.Trace = trace
	req := task.Request{
		Project: c.Project, Agent: c.Agent, Prompt: prompt, Model: c.Model,
		Timeout: c.Timeout, Mode: mode, Branch: c.Branch,
	}
	rec, err := s.r.Create(env.Ctx, req)
	if im := (*task.ImageMissingError)(nil); errors.As(err, &im) && env.Interactive() {
		// On a terminal, offer to build it, then carry on.
		if err := env.Confirm(fmt.Sprintf("Project %s has no image yet. Build it now?", c.Project), false); err != nil {
			return runError(c.Project, im)
		}
		if err := buildImage(env, s.r.Exe, c.Project); err != nil {
			return err
		}
		rec, err = s.r.Create(env.Ctx, req)
	}
	if err != nil {
		return runError(c.Project, err)
	}
	if sh, err := s.r.LoadShield(rec.ID); err == nil {
		for _, n := range sh.Notes {
			env.Warnf("egress: %s", n)
		}
	}
	// Attached before it starts, like podman run: no output is lost and the
	// stream ends when the container does.
	var (
		streamed chan error
		before   func(task.Record) error
	)
	if !c.Detach && !task.HasSession(mode) {
		streamed = make(chan error, 1)
		before = func(rec task.Record) error {
			if err := attachOutput(env, s, rec, streamed); err != nil {
				return err
			}
			trace("attach")
			return nil
		}
	}
	if rec, err = s.r.Start(env.Ctx, rec, before); err != nil {
		return err
	}
	if c.Detach {
		if task.HasSession(mode) {
			loginHint(env, rec.ID, "attaches to its session")
		}
		return cli.Line(env.Stdout, view(rec, task.Running, -1, nil))
	}
	if task.HasSession(mode) {
		return attach(env, s, rec)
	}
	return follow(env, s, rec, trace, streamed)
}

// attachOutput attaches to a task's output before it starts, like podman
// run: no output is lost, and streamed gets the stream's end (when the
// container stops).
func attachOutput(env *cli.Env, s *session, rec task.Record, streamed chan error) error {
	ready := make(chan bool, 1)
	go func() {
		streamed <- s.r.Engine.AttachOutput(env.Ctx, rec.Container, emitter(env, rec.ID, "stdout"), emitter(env, rec.ID, "stderr"), ready)
	}()
	select {
	case <-ready:
		return nil
	case err := <-streamed:
		return fmt.Errorf("attaching to the task's output: %w", err)
	}
}

// buildImage runs `terok-image build PROJECT` on this terminal.
func buildImage(env *cli.Env, exe, project string) error {
	// The binary answers to the name it is called by.
	cmd := exec.CommandContext(env.Ctx, exe)
	cmd.Args = []string{"terok-image", "build", project}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, env.Stdout, env.Stderr
	if err := cmd.Run(); err != nil {
		return cli.Failf("building project %s's image failed: %v", project, err).WithHint("see the output above; retry with: terok-image build %s", project)
	}
	return nil
}

func (c *RunCmd) prompt(env *cli.Env, mode string) (string, error) {
	switch {
	case c.PromptFile != "" && c.Prompt != "":
		return "", cli.Usagef("give the prompt as an argument or with --prompt-file, not both")
	case c.PromptFile != "":
		b, err := os.ReadFile(c.PromptFile)
		return string(b), err
	case c.Prompt == "-":
		b, err := io.ReadAll(io.LimitReader(env.Stdin, 1<<20))
		return string(b), err
	case c.Prompt == "" && mode == task.Headless:
		return env.Ask("Prompt", "", "PROMPT")
	}
	return c.Prompt, nil
}

func runError(name string, err error) error {
	var im *task.ImageMissingError
	var ua *agent.UnknownError
	switch {
	case errors.Is(err, project.ErrNotFound):
		return cli.NotFoundf("no project named %q", name).WithHint("'terok-project ls' lists projects")
	case errors.As(err, &im):
		return cli.NotSetUpf("%v", err).WithHint("%s", im.Hint())
	case errors.As(err, &ua):
		return cli.Usagef("%v", err).WithHint("%s", ua.Hint())
	}
	return configErr(err)
}

// emitter writes one stream of a task's output: as JSON log lines when
// piped, else as it comes.
func emitter(env *cli.Env, id, stream string) func(string) {
	return func(chunk string) {
		if env.JSONLines() {
			for _, l := range strings.SplitAfter(chunk, "\n") {
				if l = strings.TrimSuffix(l, "\n"); l != "" {
					cli.Line(env.Stdout, Event{Type: "log", ID: id, Stream: stream, Line: l})
				}
			}
			return
		}
		w := env.Stdout
		if stream == "stderr" {
			w = env.Stderr
		}
		io.WriteString(w, chunk)
	}
}

// follow streams a running task's output until it ends and returns its
// exit code as the command's. streamed, when not nil, is an output stream
// already attached (see RunCmd); otherwise follow reads the task's log.
func follow(env *cli.Env, s *session, rec task.Record, trace func(string), streamed chan error) error {
	if streamed == nil {
		streamed = make(chan error, 1)
		go func() {
			streamed <- s.r.Engine.Logs(env.Ctx, rec.Container, true, "", "", emitter(env, rec.ID, "stdout"), emitter(env, rec.ID, "stderr"))
		}()
	}
	out, err := s.r.Wait(env.Ctx, rec)
	if err != nil {
		return err
	}
	trace("wait")
	select {
	case <-streamed:
	case <-time.After(5 * time.Second):
	}
	trace("logs")
	if env.JSONLines() {
		code := out.Code
		cli.Line(env.Stdout, Event{Type: "exit", ID: rec.ID, Status: string(out.Status), ExitCode: &code})
	}
	if out.Code != 0 {
		return cli.ExitStatus(out.Code)
	}
	return nil
}

// View is a task as ls and show print it.
type View struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	Project    string          `json:"project"`
	Agent      string          `json:"agent"`
	Mode       string          `json:"mode"`
	Status     string          `json:"status"`
	ExitCode   *int            `json:"exit_code"`
	Branch     string          `json:"branch"`
	BaseBranch string          `json:"base_branch"`
	Image      string          `json:"image"`
	Container  string          `json:"container"`
	Created    time.Time       `json:"created"`
	Prompts    int             `json:"prompts"`
	History    []task.Prompt   `json:"history,omitempty"`
	Hardening  *task.Hardening `json:"hardening,omitempty"`
	Warden     *WardenView     `json:"warden,omitempty"`
	Posture    string          `json:"posture,omitempty"`
	Shield     *ShieldView     `json:"shield,omitempty"`
}

// ShieldView is a task's egress policy, as show prints it.
type ShieldView struct {
	Posture string   `json:"posture"`
	Allow   []string `json:"allow"`
	Deny    []string `json:"deny"`
	Notes   []string `json:"notes,omitempty"`
}

// WardenView is a task's warden, as show prints it.
type WardenView struct {
	PID   int  `json:"pid"`
	Alive bool `json:"alive"`
}

func view(rec task.Record, st task.Status, code int, h *task.Hardening) View {
	v := View{ID: rec.ID, Name: rec.Name, Project: rec.Project, Agent: rec.Agent, Mode: rec.Mode,
		Status: string(st), Branch: rec.Branch, BaseBranch: rec.BaseBranch, Image: rec.Image,
		Container: rec.Container, Created: rec.Created, Prompts: len(rec.Prompts), Hardening: h}
	if code >= 0 {
		v.ExitCode = &code
	}
	return v
}

func fmtCode(c *int) string {
	if c == nil {
		return ""
	}
	return fmt.Sprint(*c)
}

// openWithoutEngine is open for the warden, which needs no Podman: it is
// given the task's process and serves until it ends.
func openWithoutEngine(env *cli.Env) (*session, error) {
	paths, err := config.ResolvePaths(env.Getenv, os.Getuid())
	if err != nil {
		return nil, cli.NotSetUpf("%v", err)
	}
	g, err := config.LoadGlobal(paths.ConfigFile())
	if err != nil {
		return nil, configErr(err)
	}
	return &session{r: &task.Runner{Paths: paths, Global: g, Getenv: env.Getenv}}, nil
}
