// Command terok-task runs agents in hardened containers and keeps each
// run — its logs, exit code and pushed commits — inspectable afterwards.
//
// Synopsis:
//
//	terok-task run PROJECT [PROMPT | -] [--agent A] [--prompt-file F] [--model M] [--timeout D] [--branch B] [--detach]
//	terok-task run -i PROJECT [PROMPT] [--agent A] [--model M] [--branch B] [--detach]
//	terok-task run --shell PROJECT [--branch B] [--detach]
//	terok-task run --web PROJECT [PROMPT] [--agent A] [--model M] [--branch B] [--open] [--listen ADDR] [--view-only] [--detach]
//	terok-task login TASK
//	terok-task web TASK [--open] [--listen ADDR] [--view-only] [--detach]
//	terok-task ls [--project P] [--status S] [--agent A]
//	terok-task show TASK
//	terok-task logs TASK [-f] [--tail N] [--since T]
//	terok-task wait TASK... | -
//	terok-task stop TASK... | - [--time D]
//	terok-task start TASK
//	terok-task restart TASK... | - [--recreate] [--time D]
//	terok-task followup TASK [PROMPT | -] [--prompt-file F] [--timeout D] [--detach]
//	terok-task diff TASK... | - [--patch]
//	terok-task exec TASK [-t] [-i] -- CMD [ARG...]
//	terok-task rm TASK... | - [--force] [--yes]
//	terok-task schedule add NAME PROJECT PROMPT --on-calendar SPEC [--agent A] [--model M] [--timeout D] [--keep N] [--notify] [--cron]
//	terok-task schedule ls | show NAME | rm NAME... | run NAME
//
// A TASK is a task's id or any unique prefix of one.
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
	"github.com/terok-ai/terok-go/lib/session"
	"github.com/terok-ai/terok-go/lib/shield"
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
	Web    WebCmd    `cmd:"" help:"Serve a running interactive task's session to a browser."`
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

	// Scheduled headless runs (schedule.go).
	Schedule ScheduleCmd `cmd:"" help:"Run a headless prompt on a calendar: a systemd timer (or a crontab line) that runs terok-task unattended."`
}

// resolve turns an id or unique prefix into a record.
func resolve(s *session.Session, ref string) (task.Record, error) {
	id, err := s.ResolveTask(ref)
	if err != nil {
		return task.Record{}, err
	}
	return s.RunnerWithoutEngine().Store().Load(id)
}

// live returns a task's container state, nil when the container is gone.
func live(ctx context.Context, r *task.Runner, rec task.Record) (*engine.ContainerState, error) {
	st, err := r.Engine.InspectContainer(ctx, rec.Container)
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
	Project    string          `arg:"" help:"The project." completion:"project"`
	Prompt     string          `arg:"" optional:"" help:"The prompt (for the command agent, the shell command line), or - to read it from stdin."`
	Agent      string          `help:"The agent (default: the project's first agent)." placeholder:"NAME"`
	PromptFile string          `help:"Read the prompt from a file." placeholder:"FILE" type:"existingfile"`
	Model      string          `help:"The model, for agents that take one." placeholder:"MODEL"`
	Timeout    config.Duration `help:"Stop the agent after this long; exit code 124 (default: run.timeout)." placeholder:"DURATION"`
	Branch     string          `help:"The branch to start from (default: the project's branch)." placeholder:"BRANCH"`
	Detach     bool            `short:"d" help:"Print the task as one JSON line and return at once."`

	// Interactive runs: see login.go.
	Interactive bool `short:"i" help:"Run the agent interactively in a tmux session in the container and attach this terminal to it (C-b d detaches)."`
	Shell       bool `help:"Run a login shell in the session instead of the agent (implies -i)."`

	// Web mode: see web.go.
	Web bool `help:"Run the agent as -i does and serve its session to a browser: print the URL as one JSON line and serve until the task ends (with --detach, the task's warden serves it and the command returns)."`
	WebFlags
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
	mode, err := c.mode(env)
	if err != nil {
		return err
	}
	prompt, err := c.prompt(env, mode)
	if err != nil {
		return err
	}
	return c.execute(env, mode, prompt, nil)
}

// execute makes the task and runs it: run's own path, and a schedule's
// (schedule.go), which learns of the task through created as soon as its
// record exists.
func (c *RunCmd) execute(env *cli.Env, mode task.Mode, prompt string, created func(task.Record)) error {
	trace := env.Tracer()
	if err := config.ValidName(c.Project); err != nil {
		return cli.Usagef("%v", err)
	}
	s, err := session.Open(env)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.Projects().Load(c.Project); err != nil {
		return runError(c.Project, err)
	}
	trace("load")
	r, err := s.Runner(env.Ctx)
	if err != nil {
		return err
	}
	trace("connect")
	r.Trace = trace
	req := task.Request{
		Project: c.Project, Agent: c.Agent, Prompt: prompt, Model: c.Model,
		Timeout: c.Timeout.D(), Mode: mode, Branch: c.Branch,
	}
	rec, err := r.Create(env.Ctx, req)
	if im := (*task.ImageMissingError)(nil); errors.As(err, &im) && env.Interactive() {
		// On a terminal, offer to build it, then carry on.
		if err := env.Confirm(fmt.Sprintf("Project %s has no image yet. Build it now?", c.Project), false); err != nil {
			return runError(c.Project, im)
		}
		if err := buildImage(env, r.Exe, c.Project); err != nil {
			return err
		}
		rec, err = r.Create(env.Ctx, req)
	}
	if err != nil {
		return runError(c.Project, err)
	}
	if created != nil {
		created(rec)
	}
	if sh, err := r.LoadShield(rec.ID); err == nil {
		for _, n := range sh.Notes {
			env.Warnf("egress: %s", n)
		}
	}
	// Attached before it starts, like podman run: no output is lost and the
	// stream ends when the container does.
	out := output(env)
	var (
		streamed chan error
		before   func(task.Record) error
	)
	if !c.Detach && !task.HasSession(mode) {
		streamed = make(chan error, 1)
		before = func(rec task.Record) error {
			if err := attachOutput(env, r, out, rec, streamed); err != nil {
				return err
			}
			trace("attach")
			return nil
		}
	}
	if rec, err = r.Start(env.Ctx, rec, before); err != nil {
		return err
	}
	if c.Web {
		return serveWeb(env, r, rec, c.WebFlags, c.Detach)
	}
	if c.Detach {
		if task.HasSession(mode) {
			loginHint(env, rec.ID, "attaches to its session")
		}
		return cli.Line(env.Stdout, view(rec, task.Running, -1, nil))
	}
	if task.HasSession(mode) {
		return attach(env, r, rec)
	}
	return follow(env, r, out, rec, trace, streamed)
}

// attachOutput attaches to a task's output before it starts, like podman
// run: no output is lost, and streamed gets the stream's end (when the
// container stops).
func attachOutput(env *cli.Env, r *task.Runner, out *cli.Stream[Event], rec task.Record, streamed chan error) error {
	ready := make(chan bool, 1)
	go func() {
		streamed <- r.Engine.AttachOutput(env.Ctx, rec.Container, emitter(out, rec.ID, "stdout"), emitter(out, rec.ID, "stderr"), ready)
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

func (c *RunCmd) prompt(env *cli.Env, mode task.Mode) (string, error) {
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

// runError maps what run met about its project to exit codes and hints.
// Errors that carry their own code and hint (a missing image: 3) pass as
// they are.
func runError(name string, err error) error {
	var ua *agent.UnknownError
	switch {
	case errors.Is(err, project.ErrNotFound):
		return cli.NotFoundf("no project named %q", name).WithHint("'terok-project ls' lists projects")
	case errors.As(err, &ua):
		return cli.Usagef("%v", err).WithHint("%s", ua.Hint())
	}
	return session.ConfigError(err)
}

// output prints a task's events as they come: with JSON lines, a log event
// per line of its output (blank lines left out) and its exit; on a
// terminal, its output as it comes, stdout to stdout and stderr to stderr.
func output(env *cli.Env) *cli.Stream[Event] {
	return &cli.Stream[Event]{
		Env: env,
		JSON: func(e Event) any {
			if e.Type == "log" {
				if e.Line = strings.TrimSuffix(e.Line, "\n"); e.Line == "" {
					return nil
				}
			}
			return e
		},
		Text: func(env *cli.Env, e Event) error {
			if e.Type != "log" {
				return nil
			}
			w := env.Stdout
			if e.Stream == "stderr" {
				w = env.Stderr
			}
			_, err := io.WriteString(w, e.Line)
			return err
		},
	}
}

// emitter turns one stream of a task's output, as the engine hands it
// over, into log events, one per line (each with its newline, but for a
// last line without one).
func emitter(out *cli.Stream[Event], id, stream string) func(string) {
	return func(chunk string) {
		for _, l := range strings.SplitAfter(chunk, "\n") {
			if l != "" {
				// A log callback has nowhere to report to; the exit event's
				// write is checked.
				_ = out.Print(Event{Type: "log", ID: id, Stream: stream, Line: l})
			}
		}
	}
}

// follow streams a running task's output until it ends and returns its
// exit code as the command's. streamed, when not nil, is an output stream
// already attached (see RunCmd); otherwise follow reads the task's log.
func follow(env *cli.Env, r *task.Runner, out *cli.Stream[Event], rec task.Record, trace func(string), streamed chan error) error {
	if streamed == nil {
		streamed = make(chan error, 1)
		go func() {
			streamed <- r.Engine.Logs(env.Ctx, rec.Container, true, "", "", emitter(out, rec.ID, "stdout"), emitter(out, rec.ID, "stderr"))
		}()
	}
	o, err := r.Wait(env.Ctx, rec)
	if err != nil {
		return err
	}
	trace("wait")
	select {
	case err := <-streamed:
		_ = err // the output is best effort: the exit status is the outcome
	case <-time.After(5 * time.Second):
	}
	trace("logs")
	code := o.Code
	if err := out.Print(Event{Type: "exit", ID: rec.ID, Status: string(o.Status), ExitCode: &code}); err != nil {
		return err
	}
	if o.Code != 0 {
		return cli.ExitStatus(o.Code)
	}
	return nil
}

// View is a task as ls and show print it.
type View struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	Project    string          `json:"project"`
	Agent      string          `json:"agent"`
	Mode       task.Mode       `json:"mode"`
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
	Posture    shield.Posture  `json:"posture,omitempty"`
	Shield     *ShieldView     `json:"shield,omitempty"`
	Vault      *VaultView      `json:"vault,omitempty"`
}

// VaultView is what show says of the vault: the task's use of it, and the
// model providers its shield keeps it from.
type VaultView struct {
	// Provider, Tokens and Requests: the provider the task's agent reaches
	// through the vault, its live phantom tokens (masked) and how many
	// requests the proxy served it; empty for a task that uses no vault.
	Provider string   `json:"provider,omitempty"`
	Tokens   []string `json:"tokens,omitempty"`
	Requests int      `json:"requests"`
	// Denied are the providers whose real hosts its shield denies; Lifted
	// those its project lets it reach directly (project.toml [vault] direct).
	Denied []string `json:"denied"`
	Lifted []string `json:"lifted"`
}

// ShieldView is a task's egress policy, as show prints it.
type ShieldView struct {
	Posture shield.Posture `json:"posture"`
	Allow   []string       `json:"allow"`
	Deny    []string       `json:"deny"`
	Notes   []string       `json:"notes,omitempty"`
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
