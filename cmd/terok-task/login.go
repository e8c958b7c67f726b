package taskcmd

import (
	"fmt"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/session"
	"github.com/terok-ai/terok-go/lib/task"
)

// mode checks run's mode flags and returns the task's mode. Everything
// here is decided before anything is created.
func (c *RunCmd) mode(env *cli.Env) (task.Mode, error) {
	mode := task.Headless
	if c.set() && !c.Web {
		return "", cli.Usagef("--open, --listen and --view-only go with --web")
	}
	switch {
	case c.Shell:
		mode = task.Shell
		if c.Prompt != "" || c.PromptFile != "" {
			return "", cli.Usagef("--shell takes no prompt")
		}
		if c.Model != "" {
			return "", cli.Usagef("--shell takes no model")
		}
	case c.Interactive || c.Web:
		mode = task.Interactive
	default:
		return mode, nil
	}
	if c.Timeout != 0 {
		return "", cli.Usagef("--timeout applies to headless runs only")
	}
	// Attaching needs a terminal on both ends; without one nothing would
	// read the session or ever detach. --detach starts the session anyway,
	// for a later login.
	if !c.Detach && !c.Web && !env.Interactive() {
		return "", cli.Usagef("-i and --shell attach a terminal, and stdin or stdout is not one").
			WithHint("pass --detach to start the session now, then 'terok-task login ID' on a terminal")
	}
	return mode, nil
}

// LoginCmd is `terok-task login`.
type LoginCmd struct {
	ID string `arg:"" name:"task" help:"The task (any unique prefix of its id)." completion:"task"`
}

func (c *LoginCmd) Run(env *cli.Env) error {
	s, err := session.Open(env)
	if err != nil {
		return err
	}
	defer s.Close()
	rec, err := resolve(s, c.ID)
	if err != nil {
		return err
	}
	if !task.HasSession(rec.Mode) {
		return cli.Failf("task %s runs headless: it has no session to log in to", rec.ID).
			WithHint("'terok-task logs -f %s' follows its output", rec.ID)
	}
	r, err := s.Runner(env.Ctx)
	if err != nil {
		return err
	}
	st, err := live(env.Ctx, r, rec)
	if err != nil {
		return err
	}
	if status, _ := task.Derive(rec, st); status != task.Running {
		e := cli.Failf("task %s is not running (%s): its session is over", rec.ID, status)
		if st == nil {
			return e.WithHint("its container is gone; 'terok-task rm %s' cleans it up", rec.ID)
		}
		return e.WithHint("'terok-task start %s' starts it again on the same workspace, then log in", rec.ID)
	}
	if !env.Interactive() {
		return cli.Usagef("login attaches a terminal, and stdin or stdout is not one")
	}
	return attach(env, r, rec)
}

// attach attaches the terminal to a running task's session. A detach
// leaves the task running and says how to come back (exit 0); the end of
// the session is the end of the task, whose exit code becomes the
// command's.
func attach(env *cli.Env, r *task.Runner, rec task.Record) error {
	a, err := r.Attach(env.Ctx, rec, env.Getenv("TERM"), env.Stdin, env.Stdout)
	if err != nil && env.Ctx.Err() != nil {
		return cli.Failf("interrupted; task %s runs on", rec.ID).WithHint("'terok-task login %s' attaches again", rec.ID)
	}
	if err != nil {
		return err
	}
	if a.Detached {
		loginHint(env, rec.ID, "attaches again")
		return nil
	}
	o := a.Outcome
	if o.Status == task.Missing {
		return cli.Failf("task %s's container vanished", rec.ID)
	}
	code := o.Code
	if env.JSON {
		// The exit status below carries the outcome even when stdout is gone.
		_ = cli.Line(env.Stdout, Event{Type: "exit", ID: rec.ID, Status: string(o.Status), ExitCode: &code})
	} else {
		fmt.Fprintf(env.Stderr, "%s: task %s ended: %s, exit code %d\n", env.Prog, rec.ID, o.Status, code)
	}
	if code != 0 {
		return cli.ExitStatus(code)
	}
	return nil
}

// loginHint tells on stderr how to attach to a task's session.
func loginHint(env *cli.Env, id, what string) {
	fmt.Fprintf(env.Stderr, "task %s runs on: 'terok-task login %s' %s\n", id, id, what)
}
