package taskcmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/policy"
	"github.com/terok-ai/terok-go/lib/session"
	"github.com/terok-ai/terok-go/lib/task"
	"github.com/terok-ai/terok-go/lib/vault"
	"github.com/terok-ai/terok-go/lib/warden"
	"github.com/terok-ai/terok-go/lib/warden/services"
)

// LsCmd is `terok-task ls`.
type LsCmd struct {
	Project string `help:"Only this project's tasks." placeholder:"PROJECT" completion:"project"`
	Status  string `help:"Only tasks in this status: created, running, exited, failed, timed-out, stopped, missing." placeholder:"STATUS"`
	Agent   string `help:"Only tasks of this agent." placeholder:"NAME"`
	Quiet   bool   `short:"q" help:"Print ids only."`
}

func (c *LsCmd) Run(env *cli.Env) error {
	if c.Status != "" && !slices.Contains(task.Statuses, task.Status(c.Status)) {
		return cli.Usagef("--status: unknown status %q", c.Status)
	}
	// Where the time goes (TEROK_TRACE=1): the engine's one listing of
	// every task's container is most of it (bench: BenchmarkFiftyTasks).
	trace := env.Tracer()
	s, err := session.Open(env)
	if err != nil {
		return err
	}
	defer s.Close()
	r, err := s.Runner(env.Ctx)
	if err != nil {
		return err
	}
	ids, err := r.Store().IDs()
	if err != nil {
		return err
	}
	trace("ls.connect")
	live, err := r.Engine.ListContainers(env.Ctx, task.LabelTask)
	if err != nil {
		return err
	}
	trace("ls.engine")
	byName := map[string]*engine.ContainerState{}
	for i := range live {
		byName[strings.TrimPrefix(live[i].Name, "/")] = &live[i]
	}
	var out []View
	bad := error(nil)
	for _, id := range ids {
		rec, err := r.Store().Load(id)
		if err != nil {
			env.Warnf("skipping task %s: %v", id, err)
			bad = cli.ExitStatus(cli.ExitFailure)
			continue
		}
		if c.Project != "" && rec.Project != c.Project || c.Agent != "" && rec.Agent != c.Agent {
			continue
		}
		st, code := task.Derive(rec, byName[rec.Container])
		if c.Status != "" && string(st) != c.Status {
			continue
		}
		v := view(rec, st, code, nil)
		if st == task.Running {
			v.Warden = &WardenView{PID: rec.WardenPID, Alive: warden.Alive(rec.WardenPID)}
			if sh, err := r.LoadShield(rec.ID); err == nil {
				v.Posture = sh.PostureAt(time.Now())
			}
		}
		out = append(out, v)
	}
	trace("ls.records")
	if c.Quiet {
		for _, v := range out {
			fmt.Fprintln(env.Stdout, v.ID)
		}
		return bad
	}
	if err := cli.List(env, out, []cli.Column[View]{
		{Header: "ID", Value: func(v View) string { return v.ID }},
		{Header: "PROJECT", Value: func(v View) string { return v.Project }},
		{Header: "AGENT", Value: func(v View) string { return v.Agent }},
		{Header: "STATUS", Value: func(v View) string {
			switch {
			case v.Warden != nil && !v.Warden.Alive:
				return v.Status + ", cut off"
			case v.Posture == policy.PostureQuarantine || v.Posture == policy.PostureDown:
				return v.Status + ", shield " + string(v.Posture)
			}
			return v.Status
		}},
		{Header: "EXIT", Value: func(v View) string { return fmtCode(v.ExitCode) }},
		{Header: "BRANCH", Value: func(v View) string { return v.Branch }},
		{Header: "CREATED", Value: func(v View) string { return v.Created.Local().Format("2006-01-02 15:04") }},
	}); err != nil {
		return err
	}
	return bad
}

// ShowCmd is `terok-task show`.
type ShowCmd struct {
	ID string `arg:"" name:"task" help:"The task (any unique prefix of its id)." completion:"task"`
}

func (c *ShowCmd) Run(env *cli.Env) error {
	s, r, rec, err := openResolved(env, c.ID)
	if err != nil {
		return err
	}
	defer s.Close()
	st, err := live(env.Ctx, r, rec)
	if err != nil {
		return err
	}
	status, code := task.Derive(rec, st)
	h := rec.Hardening
	v := view(rec, status, code, &h)
	v.Warden = &WardenView{PID: rec.WardenPID, Alive: warden.Alive(rec.WardenPID)}
	v.History = rec.Prompts
	warden := "not running"
	if v.Warden.Alive {
		warden = fmt.Sprintf("serving (pid %d)", rec.WardenPID)
	} else if status == task.Running {
		warden = "gone: the task has no gate"
	}
	optOuts := strings.Join(h.OptOuts, "; ")
	if optOuts == "" {
		optOuts = "none"
	}
	egress, providers := "unknown", "unknown"
	v.Vault = &VaultView{Denied: []string{}, Lifted: []string{}}
	if sh, err := r.LoadShield(rec.ID); err == nil {
		v.Vault.Denied, v.Vault.Lifted = append(v.Vault.Denied, sh.VaultDenied()...), append(v.Vault.Lifted, sh.VaultDirect...)
		providers = fmt.Sprintf("real hosts denied: %s; lifted (project.toml [vault] direct): %s", orNone(v.Vault.Denied), orNone(v.Vault.Lifted))
		v.Shield = &ShieldView{Posture: sh.PostureAt(time.Now()), Allow: []string{}, Deny: []string{}, Notes: sh.Notes}
		for _, e := range sh.Allow {
			v.Shield.Allow = append(v.Shield.Allow, e.Text)
		}
		for _, e := range sh.Deny {
			v.Shield.Deny = append(v.Shield.Deny, e.Text)
		}
		egress = fmt.Sprintf("%s; allow %s; deny %s", v.Shield.Posture, orNone(v.Shield.Allow), orNone(v.Shield.Deny))
	}
	use, err := r.VaultUse(env.Ctx, rec)
	if err != nil {
		env.Warnf("the task's vault use: %v", err)
	}
	vaultLine := "not used"
	if use != nil {
		v.Vault.Provider, v.Vault.Tokens, v.Vault.Requests = use.Provider, use.Tokens, use.Requests
		tokens := orNone(use.Tokens)
		if len(use.Tokens) == 0 {
			tokens = "none live"
		}
		vaultLine = fmt.Sprintf("%s; token %s; %d request(s)", use.Provider, tokens, use.Requests)
	}
	return cli.Object(env, v, []cli.Field{
		{Name: "id", Value: v.ID}, {Name: "project", Value: v.Project}, {Name: "agent", Value: v.Agent},
		{Name: "status", Value: v.Status}, {Name: "exit code", Value: fmtCode(v.ExitCode)},
		{Name: "branch", Value: v.Branch + " (from " + v.BaseBranch + ")"},
		{Name: "image", Value: v.Image}, {Name: "container", Value: v.Container},
		{Name: "created", Value: v.Created.Local().Format(time.RFC3339)},
		{Name: "prompts", Value: promptsLine(rec.Prompts)},
		{Name: "capabilities", Value: "drop " + strings.Join(h.CapDrop, ",") + "; add " + orNone(h.CapAdd)},
		{Name: "no new privileges", Value: fmt.Sprint(h.NoNewPrivileges)},
		{Name: "user namespace", Value: h.UserNS},
		{Name: "limits", Value: fmt.Sprintf("pids %d, memory %d bytes, cpus %g", h.PidsLimit, h.MemoryBytes, h.CPUs)},
		{Name: "opt-outs", Value: optOuts},
		{Name: "egress", Value: egress},
		{Name: "vault", Value: vaultLine},
		{Name: "model providers", Value: providers},
		{Name: "warden", Value: warden},
	})
}

func orNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ",")
}

// LogsCmd is `terok-task logs`.
type LogsCmd struct {
	ID     string `arg:"" name:"task" help:"The task." completion:"task"`
	Follow bool   `short:"f" help:"Keep printing until the task ends."`
	Tail   int    `help:"Only the last N lines." placeholder:"N" default:"-1"`
	Since  string `help:"Only output since a time (RFC 3339) or a duration ago (10m)." placeholder:"TIME"`
}

func (c *LogsCmd) Run(env *cli.Env) error {
	s, r, rec, err := openResolved(env, c.ID)
	if err != nil {
		return err
	}
	defer s.Close()
	tail := ""
	if c.Tail >= 0 {
		tail = fmt.Sprint(c.Tail)
	}
	// The agent's output as it is, even piped; JSON lines with --json.
	out := output(env)
	out.OnRequest = true
	err = r.Engine.Logs(env.Ctx, rec.Container, c.Follow, tail, c.Since, emitter(out, rec.ID, "stdout"), emitter(out, rec.ID, "stderr"))
	if errors.Is(err, engine.ErrNoSuchContainer) {
		arch := filepath.Join(s.Paths.ArchiveDir(), "tasks", rec.ID, "container.log")
		if b, e := os.ReadFile(arch); e == nil {
			_, err = env.Stdout.Write(b)
			return err
		}
		return cli.Failf("task %s has no container and no archived log", rec.ID)
	}
	return err
}

// WaitCmd is `terok-task wait`.
type WaitCmd struct {
	IDs []string `arg:"" name:"task" help:"Tasks, or - to read them from stdin." completion:"task"`
}

func (c *WaitCmd) Run(env *cli.Env) error {
	s, r, recs, err := targets(env, c.IDs)
	if err != nil {
		return err
	}
	defer s.Close()
	// Each task's exit as it ends: a JSON line, or a row of one table.
	out := &cli.Stream[Event]{Env: env, Columns: exitColumns}
	last := 0
	for _, rec := range recs {
		o, err := r.Wait(env.Ctx, rec)
		if err != nil {
			return err
		}
		code := o.Code
		if err := out.Print(Event{Type: "exit", ID: rec.ID, Status: string(o.Status), ExitCode: &code}); err != nil {
			return err
		}
		last = o.Code
	}
	if last != 0 {
		return cli.ExitStatus(last)
	}
	return nil
}

var exitColumns = []cli.Column[Event]{
	{Header: "ID", Value: func(e Event) string { return e.ID }},
	{Header: "STATUS", Value: func(e Event) string { return e.Status }},
	{Header: "EXIT", Value: func(e Event) string { return fmtCode(e.ExitCode) }},
}

// targets resolves id arguments (or - for stdin) to records, all or none,
// before connecting to Podman, which it does only when there is a task to
// act on: the runner is nil when there is none. The caller closes the
// session.
func targets(env *cli.Env, args []string) (*session.Session, *task.Runner, []task.Record, error) {
	ids, _, err := env.Targets(args, "id")
	if err != nil {
		return nil, nil, nil, err
	}
	s, err := session.Open(env)
	if err != nil {
		return nil, nil, nil, err
	}
	var recs []task.Record
	for _, id := range ids {
		rec, err := resolve(s, id)
		if err != nil {
			return nil, nil, nil, err
		}
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		return s, nil, nil, nil
	}
	r, err := s.Runner(env.Ctx)
	if err != nil {
		s.Close()
		return nil, nil, nil, err
	}
	return s, r, recs, nil
}

// openResolved resolves one id, then connects.
func openResolved(env *cli.Env, id string) (*session.Session, *task.Runner, task.Record, error) {
	s, r, recs, err := targets(env, []string{id})
	if err != nil {
		return nil, nil, task.Record{}, err
	}
	return s, r, recs[0], nil
}

// StopCmd is `terok-task stop`.
type StopCmd struct {
	IDs  []string        `arg:"" name:"task" help:"Tasks, or - to read them from stdin." completion:"task"`
	Time config.Duration `help:"Time between SIGTERM and SIGKILL." default:"10s" placeholder:"DURATION"`
}

func (c *StopCmd) Run(env *cli.Env) error {
	s, r, recs, err := targets(env, c.IDs)
	if err != nil {
		return err
	}
	defer s.Close()
	var out []Event
	for _, rec := range recs {
		if err := r.Stop(env.Ctx, rec, c.Time.D()); err != nil {
			return err
		}
		out = append(out, Event{Type: "stopped", ID: rec.ID, Status: string(task.Stopped)})
	}
	return cli.List(env, out, exitColumns)
}

// StartCmd is `terok-task start`.
type StartCmd struct {
	ID string `arg:"" name:"task" help:"The task." completion:"task"`
}

func (c *StartCmd) Run(env *cli.Env) error {
	s, r, rec, err := openResolved(env, c.ID)
	if err != nil {
		return err
	}
	defer s.Close()
	st, err := live(env.Ctx, r, rec)
	if err != nil {
		return err
	}
	if st == nil {
		return cli.Failf("task %s's container is gone; it cannot start again", rec.ID).WithHint("'terok-task rm %s' cleans it up", rec.ID)
	}
	if st.Running {
		return cli.Failf("task %s is running", rec.ID)
	}
	if rec, err = r.StartAgain(env.Ctx, rec); err != nil {
		return lifecycleError(rec, err)
	}
	if task.HasSession(rec.Mode) {
		loginHint(env, rec.ID, "attaches to its session")
	}
	return cli.Line(env.Stdout, view(rec, task.Running, -1, nil))
}

// RmCmd is `terok-task rm`.
type RmCmd struct {
	IDs   []string `arg:"" name:"task" help:"Tasks, or - to read them from stdin." completion:"task"`
	Force bool     `help:"Remove running tasks too (they are stopped first)."`
	Yes   bool     `short:"y" help:"Do not ask for confirmation."`
}

// Removed is the JSON line rm prints per task.
type Removed struct {
	ID      string `json:"id"`
	Removed bool   `json:"removed"`
	Archive string `json:"archive"`
}

func (c *RmCmd) Run(env *cli.Env) error {
	fromStdin := len(c.IDs) == 1 && c.IDs[0] == "-"
	s, r, all, err := targets(env, c.IDs)
	if err != nil {
		return err
	}
	defer s.Close()
	var recs []task.Record
	for _, rec := range all {
		st, err := live(env.Ctx, r, rec)
		if err != nil {
			return err
		}
		if st != nil && st.Running && !c.Force {
			return cli.Failf("task %s is running; stop it first or pass --force", rec.ID)
		}
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		return nil
	}
	if fromStdin && !c.Yes {
		return cli.Usagef("targets read from stdin leave nothing to answer a confirmation; pass --yes")
	}
	// Like every confirmation: asked on a terminal, --yes in scripts, and
	// without either a usage error that names --yes.
	if err := env.Confirm(fmt.Sprintf("Remove %d task(s)?", len(recs)), c.Yes); err != nil {
		return err
	}
	var out []Removed
	for _, rec := range recs {
		arch, err := r.Remove(context.WithoutCancel(env.Ctx), rec)
		if err != nil {
			_ = cli.List(env, out, rmColumns) // what was done so far; the failure is the error to report
			return err
		}
		out = append(out, Removed{ID: rec.ID, Removed: true, Archive: arch})
	}
	return cli.List(env, out, rmColumns)
}

var rmColumns = []cli.Column[Removed]{
	{Header: "REMOVED", Value: func(r Removed) string { return r.ID }},
	{Header: "ARCHIVE", Value: func(r Removed) string { return r.Archive }},
}

// WardenCmd is the hidden `terok-task warden`: the task's warden process.
type WardenCmd struct {
	ID  string `arg:"" name:"task" help:"The task's full id."`
	Pid int    `help:"The container's first process." required:""`
	// The vault's key comes on stdin (warden.VaultKeyFlag), never on the
	// command line, in the environment or in a file.
	VaultKeyStdin bool `name:"vault-key-stdin" help:"Read the vault's key from stdin (the command that starts the task hands it over)."`
}

func (c *WardenCmd) Run(env *cli.Env) error {
	if err := task.ValidID(c.ID); err != nil {
		return cli.Usagef("%v", err)
	}
	s, err := session.Open(env)
	if err != nil {
		return err
	}
	defer s.Close()
	var key *vault.Key
	if c.VaultKeyStdin {
		if key, err = vault.ReadKey(env.Stdin); err != nil {
			return err
		}
	}
	return services.Serve(env.Ctx, &services.Runner{Paths: s.Paths, Global: s.Global, Getenv: s.Env.Getenv}, c.ID, c.Pid, key, func() { fmt.Fprintln(env.Stdout, warden.ReadyLine) })
}
