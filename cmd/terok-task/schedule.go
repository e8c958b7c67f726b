package taskcmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/terok-ai/terok-go/lib/agent"
	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/schedule"
	"github.com/terok-ai/terok-go/lib/session"
	"github.com/terok-ai/terok-go/lib/task"
)

// ScheduleCmd is `terok-task schedule`: headless runs on a calendar, by
// a systemd timer (or cron).
type ScheduleCmd struct {
	Add  ScheduleAddCmd  `cmd:"" help:"Add a schedule: its definition, and a systemd timer and service that run it (--cron: the crontab line instead)."`
	Ls   ScheduleLsCmd   `cmd:"" help:"List schedules with their next and last run."`
	Show ScheduleShowCmd `cmd:"" help:"Show a schedule: its definition, units, crontab line, last run and kept tasks."`
	Rm   ScheduleRmCmd   `cmd:"" help:"Remove schedules: disable and remove their units and definitions (their tasks stay)."`
	Run  ScheduleRunCmd  `cmd:"" help:"Run a schedule now, headless, as its timer does: never overlapping itself, never prompting."`
}

// ScheduleAddCmd is `terok-task schedule add`.
type ScheduleAddCmd struct {
	Name       string          `arg:"" help:"The schedule's name (a slug)."`
	Project    string          `arg:"" help:"The project." completion:"project"`
	Prompt     string          `arg:"" help:"The prompt (for the command agent, the shell command line), or - to read it from stdin."`
	OnCalendar string          `name:"on-calendar" required:"" help:"When to run: a systemd OnCalendar expression (daily, Mon..Fri 02:30, *:0/15; see systemd.time(7))." placeholder:"SPEC"`
	Agent      string          `help:"The agent (default: the project's first agent, when it runs)." placeholder:"NAME"`
	Model      string          `help:"The model, for agents that take one." placeholder:"MODEL"`
	Timeout    config.Duration `help:"Stop the agent after this long; exit code 124 (default: run.timeout)." placeholder:"DURATION"`
	Keep       int             `help:"Keep the tasks of the last N runs; older ones are removed after each run (0: keep all)." placeholder:"N"`
	Notify     bool            `help:"Show a desktop notification when a run ends (when there is a session bus)."`
	Cron       bool            `help:"Print the equivalent crontab line instead of writing systemd units."`
}

// ScheduleView is a schedule as add, ls and show print it.
type ScheduleView struct {
	Name       string              `json:"name"`
	Project    string              `json:"project"`
	Agent      string              `json:"agent"`
	Model      string              `json:"model,omitempty"`
	Timeout    string              `json:"timeout,omitempty"`
	OnCalendar string              `json:"on_calendar"`
	Next       *time.Time          `json:"next"`
	Keep       int                 `json:"keep"`
	Notify     bool                `json:"notify"`
	Prompt     string              `json:"prompt,omitempty"`
	Command    []string            `json:"command"`
	Cron       string              `json:"cron,omitempty"`
	Units      []string            `json:"units,omitempty"`
	Timer      string              `json:"timer,omitempty"`
	LastRun    *schedule.Run       `json:"last_run"`
	Tasks      []string            `json:"tasks,omitempty"`
	Env        []string            `json:"env,omitempty"`
	Created    time.Time           `json:"created"`
	Definition schedule.Definition `json:"-"`
}

// scheduleEnv are the variables add keeps for its runs when they are set:
// HOME and where terok keeps its things. XDG_RUNTIME_DIR is not kept: it
// belongs to a login session (see ScheduleRunCmd).
var scheduleEnv = append([]string{"HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"}, schedule.RootEnv...)

func (c *ScheduleAddCmd) Run(env *cli.Env) error {
	// Everything is checked before anything is written.
	if err := schedule.ValidName(c.Name); err != nil {
		return cli.Usagef("%v", err)
	}
	cal, err := schedule.ParseCalendar(c.OnCalendar)
	if err != nil {
		return cli.Usagef("--on-calendar: %v", err).WithHint("systemd-analyze calendar SPEC checks an expression; see systemd.time(7)")
	}
	if c.Keep < 0 {
		return cli.Usagef("--keep: %d is negative", c.Keep)
	}
	if err := config.ValidName(c.Project); err != nil {
		return cli.Usagef("%v", err)
	}
	prompt := c.Prompt
	if prompt == "-" {
		b, err := io.ReadAll(io.LimitReader(env.Stdin, 1<<20))
		if err != nil {
			return err
		}
		prompt = string(b)
	}
	if strings.TrimSpace(prompt) == "" {
		return cli.Usagef("the prompt is empty")
	}
	s, err := session.Open(env)
	if err != nil {
		return err
	}
	defer s.Close()
	st := schedule.Store{Paths: s.Paths}
	if st.Exists(c.Name) {
		return cli.Failf("schedule %s exists", c.Name).WithHint("'terok-task schedule rm %s' removes it first", c.Name)
	}
	p, err := s.Projects().Load(c.Project)
	if err != nil {
		return runError(c.Project, err)
	}
	if err := c.checkAgent(s, p); err != nil {
		return err
	}
	exe, err := scheduleExe()
	if err != nil {
		return err
	}
	d := schedule.Definition{Name: c.Name, Project: c.Project, Agent: c.Agent, Model: c.Model, Timeout: c.Timeout,
		OnCalendar: c.OnCalendar, Prompt: prompt, Keep: c.Keep, Notify: c.Notify, Exe: exe,
		Env: map[string]string{}, Created: time.Now().UTC().Truncate(time.Second)}
	for _, k := range scheduleEnv {
		if v := env.Getenv(k); v != "" {
			d.Env[k] = v
		}
	}
	var cron string
	dir, custom := "", false
	if c.Cron {
		if cron, err = d.CronLine(); err != nil {
			return cli.Usagef("--cron: %v", err).WithHint("without --cron, a systemd timer runs it")
		}
	} else if dir, custom, err = schedule.UnitDir(env.Getenv, os.Getuid()); err != nil {
		return cli.NotSetUpf("%v", err)
	}
	if err := st.Save(d); err != nil {
		return err
	}
	if c.Cron {
		_, err := fmt.Fprintln(env.Stdout, cron)
		return err
	}
	v := scheduleView(d, cal, nil)
	svc, timer, err := d.WriteUnits(dir)
	if err != nil {
		_ = st.Remove(c.Name) // the units' error is the one to report
		return err
	}
	v.Units = []string{svc, timer}
	v.Timer = timerState(env, dir, custom, true, d)
	if err := enableTimer(env, dir, custom, d); err != nil {
		return err
	}
	return printSchedule(env, v)
}

// checkAgent checks that the schedule's agent (or the project's default)
// is known and installed in the project's image.
func (c *ScheduleAddCmd) checkAgent(s *session.Session, p config.Project) error {
	installed := p.EffectiveAgents(s.Global)
	name := c.Agent
	if name == "" {
		if len(installed) == 0 {
			return cli.Usagef("project %s names no agent; pass --agent", c.Project)
		}
		name = installed[0]
	}
	roster, err := s.Roster()
	if err != nil {
		return err
	}
	if _, ok := roster.Get(name); !ok {
		return runError(c.Project, &agent.UnknownError{Name: name, Known: roster.Names()})
	}
	if !slices.Contains(installed, name) {
		return cli.Usagef("agent %s is not installed in project %s's image (its agents: %s)", name, c.Project, strings.Join(installed, ", "))
	}
	return nil
}

// scheduleExe is the absolute terok-task the units run: this binary, or
// the terok-task beside it when it runs under another name (installed
// links resolve to terok).
func scheduleExe() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if filepath.Base(exe) != "terok-task" {
		if sib := filepath.Join(filepath.Dir(exe), "terok-task"); fileExists(sib) {
			return sib, nil
		}
	}
	return exe, nil
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// systemdRuns reports whether systemd is the init system (sd_booted).
func systemdRuns() bool { return fileExists("/run/systemd/system") }

// timerState says, in a few words, what became of a schedule's timer.
func timerState(env *cli.Env, dir string, custom, adding bool, d schedule.Definition) string {
	switch {
	case custom:
		return "not enabled: units written to TEROK_UNIT_DIR, which systemd does not read"
	case !systemdRuns():
		return "not active: systemd is not running"
	case adding:
		return "enabled"
	}
	out, _ := systemctl(env, "is-active", schedule.UnitName(d.Name)+".timer").Output()
	return strings.TrimSpace(string(out))
}

// systemctl is systemctl for root's or the user's manager.
func systemctl(env *cli.Env, args ...string) *exec.Cmd {
	if os.Getuid() != 0 {
		args = append([]string{"--user"}, args...)
	}
	cmd := exec.CommandContext(env.Ctx, "systemctl", args...)
	cmd.Stderr = env.Stderr
	return cmd
}

// enableTimer reloads systemd and enables and starts the timer, when
// systemd runs and reads the units' directory; otherwise it says in one
// line why the timer is not active, and what cron would run instead.
func enableTimer(env *cli.Env, dir string, custom bool, d schedule.Definition) error {
	if custom || !systemdRuns() {
		why := "systemd is not running"
		if custom {
			why = "TEROK_UNIT_DIR is not where systemd looks"
		}
		env.Warnf("%s: the units are written to %s but timer %s.timer is not active", why, dir, schedule.UnitName(d.Name))
		if line, err := d.CronLine(); err == nil {
			fmt.Fprintf(env.Stderr, "hint: or run it from cron (crontab -e): %s\n", line)
		}
		return nil
	}
	for _, args := range [][]string{{"daemon-reload"}, {"enable", "--now", schedule.UnitName(d.Name) + ".timer"}} {
		if err := systemctl(env, args...).Run(); err != nil {
			return cli.Failf("systemctl %s: %v", strings.Join(args, " "), err).WithHint("the units are in %s; 'terok-task schedule rm %s' removes them", dir, d.Name)
		}
	}
	return nil
}

func scheduleView(d schedule.Definition, cal *schedule.Calendar, runs *schedule.Runs) ScheduleView {
	v := ScheduleView{Name: d.Name, Project: d.Project, Agent: d.Agent, Model: d.Model, OnCalendar: d.OnCalendar,
		Keep: d.Keep, Notify: d.Notify, Command: d.Args(), Created: d.Created, Definition: d}
	if d.Timeout != 0 {
		v.Timeout = d.Timeout.D().String()
	}
	if cal != nil {
		if n, ok := cal.Next(time.Now()); ok {
			v.Next = &n
		}
	}
	if runs != nil {
		if last, ok := runs.Last(); ok {
			v.LastRun = &last
		}
	}
	return v
}

// printSchedule prints one schedule: a JSON line, or its fields.
func printSchedule(env *cli.Env, v ScheduleView) error {
	last, lastTask, lastCode := "never", "", ""
	if v.LastRun != nil {
		last = v.LastRun.Started.Local().Format(time.RFC3339)
		lastTask, lastCode = v.LastRun.Task, fmtCode(v.LastRun.ExitCode)
		if v.LastRun.ExitCode == nil {
			lastCode = "running"
		}
		if v.LastRun.Error != "" {
			lastCode += " (" + v.LastRun.Error + ")"
		}
	}
	agentName := v.Agent
	if agentName == "" {
		agentName = "(the project's first)"
	}
	keep := "all"
	if v.Keep > 0 {
		keep = fmt.Sprint(v.Keep)
	}
	return cli.Object(env, v, []cli.Field{
		{Name: "name", Value: v.Name}, {Name: "project", Value: v.Project}, {Name: "agent", Value: agentName},
		{Name: "model", Value: v.Model}, {Name: "timeout", Value: v.Timeout},
		{Name: "on calendar", Value: v.OnCalendar}, {Name: "next run", Value: fmtTime(v.Next)},
		{Name: "keep", Value: keep}, {Name: "notify", Value: fmt.Sprint(v.Notify)},
		{Name: "prompt", Value: v.Prompt},
		{Name: "command", Value: strings.Join(v.Command, " ")},
		{Name: "environment", Value: strings.Join(v.Env, " ")},
		{Name: "units", Value: strings.Join(v.Units, ", ")}, {Name: "timer", Value: v.Timer},
		{Name: "cron", Value: v.Cron},
		{Name: "last run", Value: last}, {Name: "last task", Value: lastTask}, {Name: "last exit code", Value: lastCode},
		{Name: "tasks", Value: strings.Join(v.Tasks, ", ")},
	})
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.Local().Format(time.RFC3339)
}

// loadSchedule loads a schedule's definition: exit 4 when there is none.
func loadSchedule(s *session.Session, name string) (schedule.Definition, error) {
	d, err := schedule.Store{Paths: s.Paths}.Load(name)
	switch {
	case errors.Is(err, schedule.ErrNotFound):
		return d, cli.NotFoundf("no schedule %q", name).WithHint("'terok-task schedule ls' lists schedules")
	case err != nil && schedule.ValidName(name) != nil:
		return d, cli.Usagef("%v", err)
	}
	return d, session.ConfigError(err)
}

// ScheduleLsCmd is `terok-task schedule ls`.
type ScheduleLsCmd struct{}

func (c *ScheduleLsCmd) Run(env *cli.Env) error {
	s, err := session.OpenPaths(env)
	if err != nil {
		return err
	}
	defer s.Close()
	st := schedule.Store{Paths: s.Paths}
	names, err := st.Names()
	if err != nil {
		return err
	}
	var out []ScheduleView
	bad := error(nil)
	for _, n := range names {
		d, err := loadSchedule(s, n)
		if err == nil {
			var runs schedule.Runs
			if runs, err = st.LoadRuns(n); err == nil {
				cal, _ := schedule.ParseCalendar(d.OnCalendar) // a bad one has no next run
				out = append(out, scheduleView(d, cal, &runs))
				continue
			}
		}
		env.Warnf("skipping schedule %s: %v", n, err)
		bad = cli.ExitStatus(cli.ExitFailure)
	}
	if err := cli.List(env, out, []cli.Column[ScheduleView]{
		{Header: "NAME", Value: func(v ScheduleView) string { return v.Name }},
		{Header: "PROJECT", Value: func(v ScheduleView) string { return v.Project }},
		{Header: "AGENT", Value: func(v ScheduleView) string { return v.Agent }},
		{Header: "CALENDAR", Value: func(v ScheduleView) string { return v.OnCalendar }},
		{Header: "NEXT", Value: func(v ScheduleView) string { return fmtTimeShort(v.Next) }},
		{Header: "LAST", Value: func(v ScheduleView) string {
			if v.LastRun == nil {
				return ""
			}
			return fmtTimeShort(&v.LastRun.Started)
		}},
		{Header: "TASK", Value: func(v ScheduleView) string {
			if v.LastRun == nil {
				return ""
			}
			return v.LastRun.Task
		}},
		{Header: "EXIT", Value: func(v ScheduleView) string {
			if v.LastRun == nil {
				return ""
			}
			return fmtCode(v.LastRun.ExitCode)
		}},
	}); err != nil {
		return err
	}
	return bad
}

func fmtTimeShort(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04")
}

// ScheduleShowCmd is `terok-task schedule show`.
type ScheduleShowCmd struct {
	Name string `arg:"" help:"The schedule."`
}

func (c *ScheduleShowCmd) Run(env *cli.Env) error {
	s, err := session.OpenPaths(env)
	if err != nil {
		return err
	}
	defer s.Close()
	d, err := loadSchedule(s, c.Name)
	if err != nil {
		return err
	}
	runs, err := schedule.Store{Paths: s.Paths}.LoadRuns(c.Name)
	if err != nil {
		return err
	}
	cal, err := schedule.ParseCalendar(d.OnCalendar)
	if err != nil {
		env.Warnf("%v", err)
	}
	v := scheduleView(d, cal, &runs)
	v.Prompt, v.Env = d.Prompt, envPairs(d.Env)
	if line, err := d.CronLine(); err == nil {
		v.Cron = line
	}
	for _, r := range runs.Runs {
		if r.Task != "" {
			v.Tasks = append(v.Tasks, r.Task)
		}
	}
	if dir, custom, err := schedule.UnitDir(env.Getenv, os.Getuid()); err == nil {
		for _, ext := range []string{".service", ".timer"} {
			if p := filepath.Join(dir, schedule.UnitName(d.Name)+ext); fileExists(p) {
				v.Units = append(v.Units, p)
			}
		}
		if len(v.Units) > 0 {
			v.Timer = timerState(env, dir, custom, false, d)
		}
	}
	return printSchedule(env, v)
}

func envPairs(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// ScheduleRmCmd is `terok-task schedule rm`.
type ScheduleRmCmd struct {
	Names []string `arg:"" name:"name" help:"Schedules."`
}

// ScheduleRemoved is the JSON line rm prints per schedule.
type ScheduleRemoved struct {
	Name    string `json:"name"`
	Removed bool   `json:"removed"`
	Units   bool   `json:"units"`
}

func (c *ScheduleRmCmd) Run(env *cli.Env) error {
	s, err := session.OpenPaths(env)
	if err != nil {
		return err
	}
	defer s.Close()
	st := schedule.Store{Paths: s.Paths}
	// All or none: every name must be a schedule.
	for _, n := range c.Names {
		if _, err := loadSchedule(s, n); err != nil && !st.Exists(n) {
			return err
		}
	}
	dir, custom, err := schedule.UnitDir(env.Getenv, os.Getuid())
	if err != nil {
		return cli.NotSetUpf("%v", err)
	}
	var out []ScheduleRemoved
	for _, n := range c.Names {
		if !custom && systemdRuns() && fileExists(filepath.Join(dir, schedule.UnitName(n)+".timer")) {
			if err := systemctl(env, "disable", "--now", schedule.UnitName(n)+".timer").Run(); err != nil {
				env.Warnf("systemctl disable --now %s.timer: %v", schedule.UnitName(n), err)
			}
		}
		units, err := schedule.RemoveUnits(dir, n)
		if err != nil {
			return err
		}
		if err := st.Remove(n); err != nil {
			return err
		}
		out = append(out, ScheduleRemoved{Name: n, Removed: true, Units: units})
	}
	if !custom && systemdRuns() {
		if err := systemctl(env, "daemon-reload").Run(); err != nil {
			env.Warnf("systemctl daemon-reload: %v", err)
		}
	}
	return cli.List(env, out, []cli.Column[ScheduleRemoved]{
		{Header: "REMOVED", Value: func(r ScheduleRemoved) string { return r.Name }},
		{Header: "UNITS", Value: func(r ScheduleRemoved) string { return map[bool]string{true: "removed", false: "none"}[r.Units] }},
	})
}

// ScheduleRunCmd is `terok-task schedule run`: what the service and the
// crontab line run, and "run now".
type ScheduleRunCmd struct {
	Name string `arg:"" help:"The schedule."`
}

// ScheduleExit is the JSON line schedule run prints when its run ends.
type ScheduleExit struct {
	Type     string    `json:"type"`
	Schedule string    `json:"schedule"`
	ID       string    `json:"id"`
	ExitCode int       `json:"exit_code"`
	Started  time.Time `json:"started"`
	Ended    time.Time `json:"ended"`
	Removed  []string  `json:"removed,omitempty"`
}

func (c *ScheduleRunCmd) Run(env *cli.Env) error {
	env = cronEnv(env)
	// cron's PATH (/usr/bin:/bin) lacks the sbin directories, and the
	// Podman service terok starts, which inherits this process's
	// environment, needs their tools (iptables, nft) to set up a
	// container's network. The standard directories are appended to
	// whatever PATH says.
	if err := os.Setenv("PATH", engine.SystemPath(os.Getenv("PATH"))); err != nil {
		return err
	}
	s, err := session.OpenPaths(env)
	if err != nil {
		return err
	}
	defer s.Close()
	d, err := loadSchedule(s, c.Name)
	if err != nil {
		return err
	}
	st := schedule.Store{Paths: s.Paths}
	unlock, err := st.Lock(c.Name)
	if err != nil {
		return err
	}
	defer unlock()
	started := time.Now().UTC()
	if err := st.UpdateRuns(c.Name, func(r *schedule.Runs) error {
		r.Runs = append(r.Runs, schedule.Run{Started: started})
		return nil
	}); err != nil {
		return err
	}
	setLast := func(fn func(*schedule.Run)) {
		if err := st.UpdateRuns(c.Name, func(r *schedule.Runs) error {
			if n := len(r.Runs); n > 0 && r.Runs[n-1].Started.Equal(started) {
				fn(&r.Runs[n-1])
			}
			return nil
		}); err != nil {
			env.Warnf("recording the run: %v", err)
		}
	}
	// The agent's output goes to stderr (the journal, cron's mail) as it
	// comes; nothing can prompt: no terminal, no stdin.
	out := *env
	out.Stdin, out.Stdout, out.StdinTTY, out.StdoutTTY, out.JSON = strings.NewReader(""), env.Stderr, false, true, false
	id := ""
	run := &RunCmd{Project: d.Project, Agent: d.Agent, Model: d.Model, Timeout: d.Timeout}
	runErr := run.execute(&out, task.Headless, d.Prompt, func(rec task.Record) {
		id = rec.ID
		setLast(func(r *schedule.Run) { r.Task = rec.ID })
	})
	code := cli.CodeOf(runErr)
	ended := time.Now().UTC()
	setLast(func(r *schedule.Run) {
		r.Ended, r.ExitCode = ended, &code
		var st cli.ExitStatus
		if runErr != nil && !errors.As(runErr, &st) {
			r.Error = strings.SplitN(runErr.Error(), "\n", 2)[0]
		}
	})
	removed := pruneSchedule(env, s, st, d)
	if d.Notify {
		notifyRun(env, d, id, code)
	}
	if err := cli.Object(env, ScheduleExit{Type: "exit", Schedule: d.Name, ID: id, ExitCode: code, Started: started, Ended: ended, Removed: removed},
		[]cli.Field{{Name: "schedule", Value: d.Name}, {Name: "task", Value: id}, {Name: "exit code", Value: fmt.Sprint(code)},
			{Name: "removed", Value: strings.Join(removed, ", ")}}); err != nil && runErr == nil {
		return err
	}
	return runErr
}

// cronEnv is env with the user's runtime directory when it is unset, as
// under cron: /run/user/UID when that is the user's own (a systemd user
// session or lingering), so that the run's sockets and locks are where
// the person's own commands look for them. Root's are system paths.
func cronEnv(env *cli.Env) *cli.Env {
	uid := os.Getuid()
	if uid == 0 || env.Getenv("XDG_RUNTIME_DIR") != "" || env.Getenv("TEROK_RUNTIME_DIR") != "" {
		return env
	}
	dir := filepath.Join("/run/user", fmt.Sprint(uid))
	if !ownDir(dir, uid) {
		return env
	}
	e := *env
	get := env.Getenv
	e.Getenv = func(k string) string {
		if k == "XDG_RUNTIME_DIR" {
			return dir
		}
		return get(k)
	}
	return &e
}

// pruneSchedule removes the tasks of the runs beyond --keep, but for
// running ones, and says which it removed; failures are warnings (the
// run's outcome stands).
func pruneSchedule(env *cli.Env, s *session.Session, st schedule.Store, d schedule.Definition) []string {
	runs, err := st.LoadRuns(d.Name)
	if err != nil {
		env.Warnf("pruning: %v", err)
		return nil
	}
	expired := runs.Expired(d.Keep)
	if len(expired) == 0 {
		return nil
	}
	r, err := s.Runner(env.Ctx)
	if err != nil {
		env.Warnf("pruning: %v", err)
		return nil
	}
	var gone, removed []string
	for _, id := range expired {
		rec, err := r.Store().Load(id)
		if errors.Is(err, task.ErrNotFound) {
			gone = append(gone, id) // removed by hand
			continue
		}
		if err == nil {
			var ls *engine.ContainerState
			if ls, err = live(env.Ctx, r, rec); err == nil && ls != nil && ls.Running {
				continue // never a running task; a later run removes it
			}
		}
		if err == nil {
			_, err = r.Remove(env.Ctx, rec)
		}
		if err != nil {
			env.Warnf("removing task %s of schedule %s: %v", id, d.Name, err)
			continue
		}
		gone, removed = append(gone, id), append(removed, id)
	}
	if err := st.UpdateRuns(d.Name, func(r *schedule.Runs) error { r.Forget(gone); return nil }); err != nil {
		env.Warnf("pruning: %v", err)
	}
	return removed
}

// ownDir reports whether dir is a directory of uid's alone.
func ownDir(dir string, uid int) bool {
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o077 != 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == uid
}

// notifyRun shows a desktop notification of a run's end when there is a
// session bus; without one it does nothing, and a bus that fails is a
// warning, never the run's error.
func notifyRun(env *cli.Env, d schedule.Definition, id string, code int) {
	addr := schedule.SessionBus(env.Getenv, os.Getuid())
	if addr == "" {
		return
	}
	summary := fmt.Sprintf("terok: schedule %s finished", d.Name)
	if code != 0 {
		summary = fmt.Sprintf("terok: schedule %s failed (exit %d)", d.Name, code)
	}
	body := fmt.Sprintf("project %s, task %s: terok-task logs %s", d.Project, id, id)
	if id == "" {
		body = fmt.Sprintf("project %s: no task was made; the journal or cron's mail has the error", d.Project)
	}
	if err := schedule.Notify(env.Ctx, addr, summary, body); err != nil {
		env.Warnf("desktop notification: %v", err)
	}
}
