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
	s, r, rec, err := runningSession(env, c.ID, "log in to", ", then log in")
	if err != nil {
		return err
	}
	defer s.Close()
	if !env.Interactive() {
		return cli.Usagef("login attaches a terminal, and stdin or stdout is not one")
	}
	return attach(env, r, rec)
}

// runningSession opens the session and finds task ref, which must have a
// session (not headless: "it has no session to <what>") and be running
// (else how to start it again, and <then> after that). The caller closes
// the session; on an error it is closed already.
func runningSession(env *cli.Env, ref, what, then string) (*session.Session, *task.Runner, task.Record, error) {
	s, err := session.Open(env)
	if err != nil {
		return nil, nil, task.Record{}, err
	}
	fail := func(err error) (*session.Session, *task.Runner, task.Record, error) {
		s.Close()
		return nil, nil, task.Record{}, err
	}
	rec, err := resolve(s, ref)
	if err != nil {
		return fail(err)
	}
	if !task.HasSession(rec.Mode) {
		return fail(cli.Failf("task %s runs headless: it has no session to %s", rec.ID, what).
			WithHint("'terok-task logs -f %s' follows its output", rec.ID))
	}
	r, err := s.Runner(env.Ctx)
	if err != nil {
		return fail(err)
	}
	st, err := live(env.Ctx, r, rec)
	if err != nil {
		return fail(err)
	}
	if status, _ := task.Derive(rec, st); status != task.Running {
		e := cli.Failf("task %s is not running (%s): its session is over", rec.ID, status)
		if st == nil {
			return fail(e.WithHint("its container is gone; 'terok-task rm %s' cleans it up", rec.ID))
		}
		return fail(e.WithHint("'terok-task start %s' starts it again on the same workspace%s", rec.ID, then))
	}
	return s, r, rec, nil
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
