package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/containers/podman/v5/pkg/specgen"

	"github.com/terok-ai/terok-go/lib/agent"
	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/hostcheck"
	"github.com/terok-ai/terok-go/lib/project"
	"github.com/terok-ai/terok-go/lib/session"
	"github.com/terok-ai/terok-go/lib/task"
	"github.com/terok-ai/terok-go/lib/taskcheck"
)

// DoctorCmd is `terok doctor [TASK]`: it checks the host, or with TASK that
// running task (lib/taskcheck), and prints one record per check, {check,
// status, detail, fix}. It exits 0 when every check is ok, 1 when the
// worst is a warning and 2 when one failed. With --fix it removes what the
// orphans check found, asking first.
type DoctorCmd struct {
	Task  string   `arg:"" optional:"" help:"Check this running task (id or unique prefix) instead of the host: warden, shield, dns, gate, workspace, agent, clock." completion:"task"`
	Image string   `help:"Image of the probe containers (default: the first of localhost/terok/busybox:latest, localhost/terok/debian:bookworm that exists)." placeholder:"IMAGE"`
	Fix   bool     `help:"Remove what the orphans check finds (containers, volumes, wardens and sockets of tasks that no record claims), asking first."`
	Yes   bool     `short:"y" help:"Do not ask for confirmation of --fix."`
	Only  []string `help:"Run only these checks (comma-separated): podman, container, task, binaries, cgroups, ulimits, userns, nft, shield, git, gum, dbus, notifier, vault, gpu, orphans. 'binaries' needs no engine, so it also runs in a chroot. With TASK: warden, shield, dns, gate, workspace, agent, clock." placeholder:"CHECK"`
}

func (c *DoctorCmd) Run(env *cli.Env) error {
	if c.Task != "" {
		if c.Fix {
			return cli.Usagef("--fix is for the host checks (it removes orphans); not with a task")
		}
		return c.runTask(env)
	}
	if c.Yes && !c.Fix {
		return cli.Usagef("--yes answers --fix's question; without --fix nothing asks")
	}
	if c.Fix && len(c.Only) > 0 && !slices.Contains(c.Only, "orphans") {
		return cli.Usagef("--fix removes what the orphans check finds; --only leaves it out")
	}
	for _, o := range c.Only {
		if !slices.Contains(hostcheck.Checks, o) {
			return cli.Usagef("--only: no check %q", o).WithHint("the checks: %s", strings.Join(hostcheck.Checks, ", "))
		}
	}
	opts, results := c.options(env)
	opts.Only = c.Only
	if len(c.Only) > 0 {
		results = nil // the configuration's own check is not among those asked for
	}
	orphans := &orphanFinder{env: env}
	defer orphans.close()
	opts.Orphans = orphans.find
	results = append(results, hostcheck.Run(env.Ctx, opts)...)
	if c.Fix {
		if err := orphans.fix(results, c.Yes); err != nil {
			return err
		}
	}
	if err := cli.List(env, results, doctorColumns); err != nil {
		return err
	}
	if rank := hostcheck.Worst(results).Rank(); rank != 0 {
		return cli.ExitStatus(rank)
	}
	return nil
}

// orphanFinder runs lib/task's FindOrphans for the orphans check, and
// keeps what it found for --fix.
type orphanFinder struct {
	env   *cli.Env
	s     *session.Session
	r     *task.Runner
	found task.Orphans
}

func (o *orphanFinder) find(ctx context.Context) ([]string, error) {
	s, err := session.Open(o.env)
	if err != nil {
		return nil, err
	}
	o.s = s
	// The runner outlives the check: --fix removes with it.
	if o.r, err = s.Runner(o.env.Ctx); err != nil {
		return nil, err
	}
	if o.found, err = o.r.FindOrphans(ctx); err != nil {
		return nil, err
	}
	return o.found.Lines(), nil
}

func (o *orphanFinder) close() {
	if o.s != nil {
		o.s.Close()
	}
}

// fix removes what the orphans check found, once confirmed, and puts the
// outcome in the check's record.
func (o *orphanFinder) fix(results []hostcheck.Result, yes bool) error {
	i := slices.IndexFunc(results, func(r hostcheck.Result) bool { return r.Check == "orphans" })
	// Only a record the check made from what it found (which happened
	// before the record, unlike a find that timed out) is acted on.
	if i < 0 || results[i].Fix != hostcheck.OrphanFix || o.found.Empty() {
		return nil // nothing found, or nothing could be looked at: the record says why
	}
	lines := o.found.Lines()
	if err := o.env.Confirm(fmt.Sprintf("Remove %d things of tasks that no record claims (%s)?", len(lines), strings.Join(lines, "; ")), yes); err != nil {
		return err
	}
	if err := o.r.RemoveOrphans(o.env.Ctx, o.found); err != nil {
		results[i].Detail, results[i].Fix = "removing them: "+err.Error(), "terok doctor --fix again"
		return nil
	}
	results[i] = hostcheck.Result{Check: "orphans", Status: hostcheck.OK, Detail: "removed: " + strings.Join(lines, "; ")}
	return nil
}

// runTask runs the task checks on one task. A task that does not exist
// exits 4 (one line on stderr); one that is not running gives every check
// a failure saying so, with the fix.
func (c *DoctorCmd) runTask(env *cli.Env) error {
	for _, o := range c.Only {
		if !slices.Contains(taskcheck.Checks, o) {
			return cli.Usagef("--only: no task check %q", o).WithHint("the task checks: %s", strings.Join(taskcheck.Checks, ", "))
		}
	}
	if c.Image != "" {
		return cli.Usagef("--image is for the host checks; the task checks probe the task's own container")
	}
	if err := task.ValidPrefix(c.Task); err != nil {
		return cli.Usagef("%v", err)
	}
	s, err := session.Open(env)
	if err != nil {
		return err
	}
	defer s.Close()
	id, err := s.ResolveTask(c.Task)
	if err != nil {
		return err
	}
	r, err := s.Runner(env.Ctx)
	if err != nil {
		return err
	}
	rec, err := r.Store().Load(id)
	if err != nil {
		return err
	}
	opts := taskcheck.Options{Runner: r, Record: rec, Only: c.Only}
	if exe := dispatchingExe(); exe != "" {
		opts.Verify = func(ctx context.Context, pid int) error { return verifyShield(ctx, exe, pid) }
	}
	results := taskcheck.Run(env.Ctx, opts)
	if err := cli.List(env, results, doctorColumns); err != nil {
		return err
	}
	if rank := hostcheck.Worst(results).Rank(); rank != 0 {
		return cli.ExitStatus(rank)
	}
	return nil
}

// options builds the checks' options from terok's configuration. A
// configuration that cannot be read is itself a failed check, and the
// doctor goes on with the defaults.
func (c *DoctorCmd) options(env *cli.Env) (hostcheck.Options, []hostcheck.Result) {
	opts := hostcheck.Options{Image: c.Image, Getenv: env.Getenv, UID: os.Getuid()}
	var early []hostcheck.Result
	paths, err := config.ResolvePaths(env.Getenv, opts.UID)
	if err != nil {
		early = append(early, hostcheck.Result{Check: "config", Status: hostcheck.Fail,
			Detail: err.Error(), Fix: "set HOME, XDG_RUNTIME_DIR or TEROK_RUNTIME_DIR"})
		return opts, early
	}
	g, err := config.LoadGlobal(paths.ConfigFile())
	if err != nil {
		r := hostcheck.Result{Check: "config", Status: hostcheck.Fail, Detail: err.Error(),
			Fix: "terok-project config check"}
		var fe *config.FileError
		if errors.As(err, &fe) && fe.Hint != "" {
			r.Fix = fe.Hint
		}
		early = append(early, r)
		g = config.DefaultGlobal()
	}
	opts.Engine = engine.OptionsFromConfig(paths, g, env.Getenv)
	opts.TaskProbe = taskProbe(paths, g, env.Getenv, opts.UID != 0)
	projects := readProjects(paths)
	opts.Vault = &hostcheck.VaultProbe{Dir: paths.VaultDir(), PassphraseCommand: len(g.Vault.PassphraseCommand) > 0,
		Needs: vaultAgents(paths, g, projects)}
	opts.GPU = &hostcheck.GPUProbe{Needs: gpuNeeds(projects)}
	return opts, early
}

// readProjects are the projects that can be read, by name. What cannot be
// read counts for nothing in the checks: the configuration's own check
// reports it.
func readProjects(paths config.Paths) map[string]config.Project {
	out := map[string]config.Project{}
	projects := project.Store{Paths: paths}
	if ps, err := projects.Names(); err == nil {
		for _, n := range ps {
			if p, err := projects.Load(n); err == nil {
				out[n] = p
			}
		}
	}
	return out
}

// gpuNeeds are the CDI devices each project's run.gpus asks for.
func gpuNeeds(projects map[string]config.Project) map[string][]string {
	out := map[string][]string{}
	for n, p := range projects {
		if len(p.Run.GPUs) > 0 {
			out[n] = p.Run.GPUs.Devices()
		}
	}
	return out
}

// vaultAgents are the configured agents (config.toml's image.agents and
// every project's) whose roster entry names a vault provider, sorted. What
// cannot be read (the roster) counts for nothing here: the configuration's
// own check reports it.
func vaultAgents(paths config.Paths, g config.Global, projects map[string]config.Project) []string {
	roster, err := agent.Load(paths.AgentsDir())
	if err != nil {
		return nil
	}
	names := slices.Clone(g.Image.Agents)
	for _, p := range projects {
		names = append(names, p.Image.Agents...)
	}
	var out []string
	for _, n := range names {
		if a, ok := roster.Get(n); ok && a.Vault.Provider != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// taskProbe runs a container the way tasks run theirs: lib/task's spec
// builder and engine lock, and the shield verified by `terok-shield verify
// --pid` (this binary, which handles the rootless user namespace).
func taskProbe(paths config.Paths, g config.Global, getenv func(string) string, rootless bool) *hostcheck.TaskProbe {
	tp := &hostcheck.TaskProbe{
		Spec: func(image, name string, command []string) (*specgen.SpecGenerator, error) {
			return task.ProbeSpec(paths, g, rootless, image, name, command)
		},
		Lock: func() (func(), error) { return task.EngineLock(paths, getenv, rootless) },
		UID:  task.AgentUID,
	}
	if exe := dispatchingExe(); exe != "" {
		tp.Verify = func(ctx context.Context, pid int) error { return verifyShield(ctx, exe, pid) }
	}
	return tp
}

// dispatchingExe is this binary when it dispatches on its name (terok or a
// terok-* link), else the terok on the PATH (a test binary running the
// doctor in-process is not terok), else "".
func dispatchingExe() string {
	if exe, err := os.Executable(); err == nil && strings.HasPrefix(filepath.Base(exe), "terok") &&
		!strings.HasSuffix(exe, ".test") {
		return exe
	}
	if exe, err := exec.LookPath("terok"); err == nil {
		return exe
	}
	return ""
}

// verifyShield runs `terok shield verify --json --pid PID` and reads its
// verdict.
func verifyShield(ctx context.Context, exe string, pid int) error {
	cmd := exec.CommandContext(ctx, exe, "shield", "verify", "--json", "--pid", strconv.Itoa(pid))
	out, err := cmd.Output()
	var v struct {
		OK     bool   `json:"ok"`
		Reason string `json:"reason"`
	}
	line, _, _ := strings.Cut(string(out), "\n")
	if jerr := json.Unmarshal([]byte(line), &v); jerr != nil {
		if err == nil {
			err = jerr
		}
		return fmt.Errorf("terok-shield verify --pid %d: %w", pid, err)
	}
	if !v.OK {
		return errors.New(v.Reason)
	}
	return nil
}

var doctorColumns = []cli.Column[hostcheck.Result]{
	{Header: "CHECK", Value: func(r hostcheck.Result) string { return r.Check }},
	{Header: "STATUS", Value: func(r hostcheck.Result) string { return string(r.Status) }},
	{Header: "DETAIL", Value: func(r hostcheck.Result) string { return r.Detail }},
	{Header: "FIX", Value: func(r hostcheck.Result) string { return r.Fix }},
}
