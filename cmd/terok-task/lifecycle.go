package taskcmd

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/terok-ai/terok-go/lib/agent"
	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/session"
	"github.com/terok-ai/terok-go/lib/task"
)

// RestartCmd is `terok-task restart`.
type RestartCmd struct {
	IDs      []string        `arg:"" name:"task" help:"Tasks, or - to read them from stdin." completion:"task"`
	Recreate bool            `help:"Replace the container by a new one of the project's current image first (after terok-image build); the workspace, branch and agent's home stay."`
	Time     config.Duration `help:"Time between SIGTERM and SIGKILL when stopping a running task." default:"10s" placeholder:"DURATION"`
}

func (c *RestartCmd) Run(env *cli.Env) error {
	s, r, recs, err := targets(env, c.IDs)
	if err != nil {
		return err
	}
	defer s.Close()
	var out []View
	for _, rec := range recs {
		rec, err := r.Restart(env.Ctx, rec, c.Recreate, c.Time.D())
		if err != nil {
			_ = cli.List(env, out, restartColumns) // what was done so far; the failure is the error to report
			return lifecycleError(rec, err)
		}
		out = append(out, view(rec, task.Running, -1, nil))
	}
	return cli.List(env, out, restartColumns)
}

var restartColumns = []cli.Column[View]{
	{Header: "ID", Value: func(v View) string { return v.ID }},
	{Header: "STATUS", Value: func(v View) string { return v.Status }},
	{Header: "IMAGE", Value: func(v View) string { return v.Image }},
}

// lifecycleError maps lib/task's errors to terok's exit codes and hints.
// Errors that carry their own code and hint (a missing image: 3) pass as
// they are.
func lifecycleError(rec task.Record, err error) error {
	var ua *agent.UnknownError
	switch {
	case errors.Is(err, task.ErrNoContainer):
		return cli.Failf("task %s's container is gone; it cannot start again", rec.ID).WithHint("'terok-task rm %s' cleans it up", rec.ID)
	case errors.Is(err, task.ErrRunning):
		return runningError(rec)
	case errors.As(err, &ua):
		return cli.Failf("task %s's agent: %v", rec.ID, err).WithHint("%s", ua.Hint())
	}
	return session.ConfigError(err)
}

func runningError(rec task.Record) error {
	return cli.Usagef("task %s is running", rec.ID).
		WithHint("wait for it to end ('terok-task wait %s') or stop it ('terok-task stop %s') first", rec.ID, rec.ID)
}

// FollowupCmd is `terok-task followup`.
type FollowupCmd struct {
	ID         string          `arg:"" name:"task" help:"The task (any unique prefix of its id); it must not be running." completion:"task"`
	Prompt     string          `arg:"" optional:"" help:"The new prompt (for the command agent, the shell command line), or - to read it from stdin."`
	PromptFile string          `help:"Read the prompt from a file." placeholder:"FILE" type:"existingfile"`
	Timeout    config.Duration `help:"Stop the agent after this long; exit code 124 (default: run.timeout)." placeholder:"DURATION"`
	Detach     bool            `short:"d" help:"Print the task as one JSON line and return at once."`
}

func (c *FollowupCmd) Run(env *cli.Env) error {
	if c.PromptFile != "" && c.Prompt != "" {
		return cli.Usagef("give the prompt as an argument or with --prompt-file, not both")
	}
	s, r, rec, err := openResolved(env, c.ID)
	if err != nil {
		return err
	}
	defer s.Close()
	// Said before the prompt is asked for.
	if st, err := live(env.Ctx, r, rec); err != nil {
		return err
	} else if st != nil && st.Running {
		return runningError(rec)
	}
	prompt, err := (&RunCmd{Prompt: c.Prompt, PromptFile: c.PromptFile}).prompt(env, task.Headless)
	if err != nil {
		return err
	}
	if strings.TrimSpace(prompt) == "" {
		return cli.Usagef("the prompt is empty")
	}
	req := task.FollowupRequest{Prompt: prompt, Timeout: c.Timeout.D()}
	// As run does: attached before it starts, so that no output is lost.
	out := output(env)
	var streamed chan error
	if !c.Detach {
		streamed = make(chan error, 1)
		req.BeforeStart = func(rec task.Record) error { return attachOutput(env, r, out, rec, streamed) }
	}
	rec, err = r.Followup(env.Ctx, rec, req)
	if err != nil {
		return lifecycleError(rec, err)
	}
	if c.Detach {
		return cli.Line(env.Stdout, view(rec, task.Running, -1, nil))
	}
	return follow(env, r, out, rec, env.Tracer(), streamed)
}

// ExecCmd is `terok-task exec`.
type ExecCmd struct {
	ID          string   `arg:"" name:"task" help:"The task; it must be running." completion:"task"`
	Command     []string `arg:"" passthrough:"" help:"The command and its arguments, after --." placeholder:"CMD"`
	TTY         bool     `short:"t" help:"Give the command a terminal."`
	Interactive bool     `short:"i" help:"Pass this command's standard input to it."`
}

func (c *ExecCmd) Run(env *cli.Env) error {
	argv := c.Command
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:]
	}
	if len(argv) == 0 {
		return cli.Usagef("no command: terok-task exec ID -- CMD [ARG...]")
	}
	s, r, rec, err := openResolved(env, c.ID)
	if err != nil {
		return err
	}
	defer s.Close()
	x := engine.Exec{Cmd: argv, Stdout: env.Stdout, Stderr: env.Stderr, TTY: c.TTY}
	if c.Interactive {
		x.Stdin = env.Stdin
	}
	code, err := r.Exec(env.Ctx, rec, x)
	switch {
	case errors.Is(err, engine.ErrNotRunning):
		return cli.Failf("task %s is not running", rec.ID).WithHint("start it: terok-task start %s", rec.ID)
	case errors.Is(err, engine.ErrNoSuchContainer):
		return cli.Failf("task %s's container is gone", rec.ID).WithHint("'terok-task rm %s' cleans it up", rec.ID)
	case err != nil:
		return err
	case code != 0:
		return cli.ExitStatus(code)
	}
	return nil
}

// DiffCmd is `terok-task diff`.
type DiffCmd struct {
	IDs   []string `arg:"" name:"task" help:"Tasks, or - to read them from stdin." completion:"task"`
	Patch bool     `short:"p" help:"Print a unified patch of the net change from the gate's copy to the working tree instead of the changed files and commits."`
}

// DiffFileLine is a changed file, as diff prints it.
type DiffFileLine struct {
	Type string `json:"type"` // file
	ID   string `json:"id"`
	task.DiffFile
}

// DiffCommitLine is an unpushed commit, as diff prints it.
type DiffCommitLine struct {
	Type string `json:"type"` // commit
	ID   string `json:"id"`
	task.DiffCommit
}

func (c *DiffCmd) Run(env *cli.Env) error {
	s, r, recs, err := targets(env, c.IDs)
	if err != nil {
		return err
	}
	defer s.Close()
	var files []DiffFileLine
	var commits []DiffCommitLine
	var patch bytes.Buffer
	for _, rec := range recs {
		d, err := r.Diff(env.Ctx, rec, c.Patch)
		switch {
		case errors.Is(err, task.ErrNoWorkspace):
			return cli.Failf("task %s: %v", rec.ID, err).WithHint("its entry point clones the project when it first starts")
		case err != nil:
			return lifecycleError(rec, err)
		}
		patch.WriteString(d.Patch)
		for _, f := range d.Files {
			files = append(files, DiffFileLine{Type: "file", ID: rec.ID, DiffFile: f})
		}
		for _, cm := range d.Commits {
			commits = append(commits, DiffCommitLine{Type: "commit", ID: rec.ID, DiffCommit: cm})
		}
	}
	if c.Patch {
		b := patch.Bytes()
		if env.StdoutTTY {
			b = cli.Visible(b)
		}
		_, err := env.Stdout.Write(b)
		return err
	}
	many := len(recs) > 1
	fileCols := []cli.Column[DiffFileLine]{
		{Header: "STATUS", Value: func(f DiffFileLine) string { return f.Status }},
		{Header: "PATH", Value: func(f DiffFileLine) string { return f.Path }},
		{Header: "+", Value: func(f DiffFileLine) string { return lines(f.Binary, f.Additions) }},
		{Header: "-", Value: func(f DiffFileLine) string { return lines(f.Binary, f.Deletions) }},
		{Header: "WHERE", Value: func(f DiffFileLine) string { return where(f.DiffFile) }},
	}
	commitCols := []cli.Column[DiffCommitLine]{
		{Header: "COMMIT", Value: func(c DiffCommitLine) string { return short(c.Commit) }},
		{Header: "AUTHOR", Value: func(c DiffCommitLine) string { return c.Author }},
		{Header: "SUBJECT", Value: func(c DiffCommitLine) string { return c.Subject }},
	}
	if many {
		fileCols = append([]cli.Column[DiffFileLine]{{Header: "TASK", Value: func(f DiffFileLine) string { return f.ID }}}, fileCols...)
		commitCols = append([]cli.Column[DiffCommitLine]{{Header: "TASK", Value: func(c DiffCommitLine) string { return c.ID }}}, commitCols...)
	}
	if err := cli.List(env, files, fileCols); err != nil {
		return err
	}
	if !env.JSONLines() && len(files) > 0 && len(commits) > 0 {
		fmt.Fprintln(env.Stdout)
	}
	return cli.List(env, commits, commitCols)
}

func lines(binary bool, n int) string {
	if binary {
		return "bin"
	}
	return fmt.Sprint(n)
}

// where says where a file's change lies: in the index, the working tree,
// untracked, in unpushed commits.
func where(f task.DiffFile) string {
	var w []string
	if f.Staged {
		w = append(w, "staged")
	}
	if f.Unstaged {
		w = append(w, "unstaged")
	}
	if f.Untracked {
		w = append(w, "untracked")
	}
	for _, c := range f.Commits {
		w = append(w, short(c))
	}
	return strings.Join(w, ",")
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// promptsLine is show's summary of a task's prompts: how many, and the
// last.
func promptsLine(ps []task.Prompt) string {
	if len(ps) == 0 {
		return "0"
	}
	last := ps[len(ps)-1]
	text, _, cut := strings.Cut(last.Text, "\n")
	if r := []rune(text); len(r) > 60 {
		text, cut = string(r[:60]), true
	}
	if cut || last.Truncated {
		text += "..."
	}
	how := last.Kind
	if last.Resumed {
		how += ", resumed"
	}
	return fmt.Sprintf("%d; last (%s, %s): %s", len(ps), how, last.Time.Local().Format("2006-01-02 15:04"), text)
}
