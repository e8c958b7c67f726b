// Command terok-gate is the git gate: the host-side mirror of each
// project that tasks clone from and push to instead of the real upstream,
// and from which a person reviews what a task pushed and promotes it.
//
// Synopsis:
//
//	terok-gate sync PROJECT... | - [--apply]
//	terok-gate serve PROJECT --listen ADDR --token-file FILE [--task ID]
//	terok-gate ls [PROJECT] [-q]
//	terok-gate log REF [--project P] [--base BRANCH] [-n N]
//	terok-gate diff REF [--project P] [--base BRANCH] [--patch]
//	terok-gate promote REF [--project P] [--to BRANCH] [--force] [--yes]
//	terok-gate backups [PROJECT] [-q]
//	terok-gate restore BACKUP... | -
//	terok-gate prune [PROJECT] [--older-than DURATION] [--dry-run]
//
// This package holds the grammar and the output; lib/gate does the work.
package gatecmd

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/gate"
	"github.com/terok-ai/terok-go/lib/project"
	"github.com/terok-ai/terok-go/lib/session"
)

// Command is terok-gate's entry in the command table.
var Command = cli.Command{
	Name:    "terok-gate",
	Summary: "the git gate: mirror, push endpoint, review and promotion of what tasks pushed",
	Detail: "Each project has a gate: a bare mirror of its upstream on the host. Tasks clone from it " +
		"and push to it, never to the upstream; the gate decides every pushed ref by the project's " +
		"policy (protected branches, task ownership, tags, size) and keeps a backup of anything a push " +
		"replaces. A person reviews what a task pushed (ls, log, diff read git objects only; nothing " +
		"from the repository runs) and promotes it upstream with their own git credentials.",
	Grammar:  func() any { return &Grammar{} },
	Sections: sections,
}

// Grammar is terok-gate's command line.
type Grammar struct {
	cli.Globals
	Sync    SyncCmd    `cmd:"" help:"Create or update projects' mirrors from their upstreams."`
	Serve   ServeCmd   `cmd:"" help:"Serve a project's git endpoint on an address, for one task token."`
	Ls      LsCmd      `cmd:"" help:"List the branches of the gates, with their tasks."`
	Log     LogCmd     `cmd:"" help:"List the commits a branch has and its base lacks."`
	Diff    DiffCmd    `cmd:"" help:"Show the files a branch changed since it left its base."`
	Promote PromoteCmd `cmd:"" help:"Push a reviewed branch to the upstream, with your own git credentials."`
	Backups BackupsCmd `cmd:"" help:"List the backups of branches that pushes, syncs and restores replaced."`
	Restore RestoreCmd `cmd:"" help:"Put a backup back on its branch."`
	Prune   PruneCmd   `cmd:"" help:"Remove backups older than gate.backup_max_age."`
}

// host is everything a handler needs to reach projects and their gates:
// the command's session (no engine: the gate needs no Podman).
type host struct {
	*session.Session
	projects project.Store
}

func newHost(env *cli.Env) (*host, error) {
	s, err := session.Open(env)
	if err != nil {
		return nil, err
	}
	return &host{Session: s, projects: s.Projects()}, nil
}

// mirror describes a project's gate (checking the name and its config).
func (h *host) mirror(name string) (*gate.Mirror, error) {
	if err := config.ValidName(name); err != nil {
		return nil, cli.Usagef("%v", err)
	}
	p, err := h.projects.Load(name)
	if err != nil {
		return nil, mapError(err, name)
	}
	m, err := gate.New(h.Paths, name, p, h.Global, h.Env.Getenv)
	if err != nil {
		return nil, mapError(err, name)
	}
	return m, nil
}

// existing is mirror for a gate that must exist.
func (h *host) existing(name string) (*gate.Mirror, error) {
	m, err := h.mirror(name)
	if err != nil {
		return nil, err
	}
	ok, err := m.Exists()
	if err != nil {
		return nil, cli.Failf("%v", err)
	}
	if !ok {
		return nil, mapError(gate.ErrNoMirror, name)
	}
	return m, nil
}

// withGates returns the projects whose gate exists, sorted.
func (h *host) withGates() ([]string, error) {
	names, err := h.projects.Names()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if _, err := os.Lstat(h.Paths.MirrorDir(n)); err == nil {
			out = append(out, n)
		}
	}
	return out, nil
}

// eachGate calls fn with the gate of project, or of every project that
// has one when project is "", and gathers what it returns. On an error it
// returns what it gathered so far with the error.
func eachGate[T any](h *host, project string, fn func(*gate.Mirror) ([]T, error)) ([]T, error) {
	names := []string{project}
	if project == "" {
		var err error
		if names, err = h.withGates(); err != nil {
			return nil, err
		}
	}
	var all []T
	for _, n := range names {
		m, err := h.existing(n)
		if err != nil {
			return all, err
		}
		got, err := fn(m)
		if err != nil {
			return all, mapError(err, n)
		}
		all = append(all, got...)
	}
	return all, nil
}

// resolve finds the branch a REF names (see gate.Resolve).
func (h *host) resolve(ref, projectFlag string) (*gate.Mirror, gate.Target, error) {
	projects, err := h.withGates()
	if err != nil {
		return nil, gate.Target{}, err
	}
	if projectFlag != "" {
		if _, err := h.existing(projectFlag); err != nil {
			return nil, gate.Target{}, err
		}
	}
	t, err := gate.Resolve(func(p string) (*gate.Mirror, error) { return h.mirror(p) }, projects, ref, projectFlag)
	if err != nil {
		return nil, t, mapError(err, ref)
	}
	m, err := h.existing(t.Project)
	return m, t, err
}

// mapError turns library errors into exit codes and hints; what names the
// thing the error is about.
func mapError(err error, what string) error {
	var ce *cli.Error
	var fe *config.FileError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce):
		return err
	case errors.As(err, &fe):
		return session.ConfigError(err)
	case errors.Is(err, project.ErrNotFound):
		return cli.NotFoundf("no project named %q", what).WithHint("'terok-project ls' lists projects")
	case errors.Is(err, gate.ErrNoMirror):
		return cli.NotFoundf("project %s has no gate yet", what).WithHint("'terok-gate sync %s' creates it", what)
	case errors.Is(err, gate.ErrNoRef):
		return cli.NotFoundf("%v", err).WithHint("'terok-gate ls' lists the gates' branches")
	case errors.Is(err, gate.ErrAmbiguous), errors.Is(err, gate.ErrInvalid):
		return cli.Usagef("%v", err)
	case errors.Is(err, gate.ErrNoBackup):
		return cli.NotFoundf("%v", err).WithHint("'terok-gate backups' lists them")
	case errors.Is(err, gate.ErrNoUpstream):
		return cli.Failf("%v", err).WithHint("set upstream in the project's project.toml ('terok-project edit')")
	case errors.Is(err, gate.ErrNotFastForward):
		return cli.Failf("%v", err).WithHint("review the upstream's commits; --force replaces them (they are not backed up upstream)")
	case errors.Is(err, gate.ErrMoved):
		return cli.Failf("%v", err).WithHint("review it again and promote again")
	case errors.Is(err, gate.ErrNoGit):
		return cli.NotSetUpf("%v", err).WithHint("install git; 'terok doctor' checks the host")
	case errors.Is(err, gate.ErrBusy):
		return cli.Failf("%v", err).WithHint("try again in a moment")
	}
	return err
}

// SyncCmd is `terok-gate sync`.
type SyncCmd struct {
	Projects []string `arg:"" name:"project" help:"Projects to sync, or - to read them from stdin." completion:"project"`
	Apply    bool     `help:"Apply pending changes too (branches upstream deleted or rewrote), each after a backup."`
}

var changeColumns = []cli.Column[gate.Change]{
	{Header: "PROJECT", Value: func(c gate.Change) string { return c.Project }},
	{Header: "BRANCH", Value: func(c gate.Change) string { return c.Branch }},
	{Header: "ACTION", Value: func(c gate.Change) string { return c.Action }},
	{Header: "STATE", Value: func(c gate.Change) string { return map[bool]string{true: "pending", false: "applied"}[c.Pending] }},
	{Header: "OLD", Value: func(c gate.Change) string { return short(c.Old) }},
	{Header: "NEW", Value: func(c gate.Change) string { return short(c.New) }},
	{Header: "LOST", Value: func(c gate.Change) string { return fmt.Sprint(c.Lost) }},
	{Header: "BACKUP", Value: func(c gate.Change) string { return c.Backup }},
}

func short(id string) string {
	if id == gate.ZeroID {
		return "-"
	}
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func (c *SyncCmd) Run(env *cli.Env) error {
	h, err := newHost(env)
	if err != nil {
		return err
	}
	names, _, err := env.Targets(c.Projects, "name", "project", "id")
	if err != nil {
		return err
	}
	var ms []*gate.Mirror
	for _, n := range names {
		m, err := h.mirror(n)
		if err != nil {
			return err
		}
		ms = append(ms, m)
	}
	var all []gate.Change
	pending := map[string]int{}
	for _, m := range ms {
		cs, err := m.Sync(env.Ctx, c.Apply, env.Interactive())
		if err != nil {
			cli.List(env, all, changeColumns)
			return mapError(err, m.Project)
		}
		for _, ch := range cs {
			if ch.Pending {
				pending[m.Project]++
			}
		}
		all = append(all, cs...)
	}
	if err := cli.List(env, all, changeColumns); err != nil {
		return err
	}
	for _, m := range ms {
		if n := pending[m.Project]; n > 0 {
			env.Warnf("%s: %d pending change(s) would discard what the gate has; review them, then 'terok-gate sync %s --apply'", m.Project, n, m.Project)
		}
	}
	return nil
}

// LsCmd is `terok-gate ls`.
type LsCmd struct {
	Project string `arg:"" optional:"" help:"The project whose gate to list; all gates when omitted." completion:"project"`
	Quiet   bool   `short:"q" help:"Print refs (PROJECT/BRANCH) only, one per line."`
}

func (c *LsCmd) Run(env *cli.Env) error {
	h, err := newHost(env)
	if err != nil {
		return err
	}
	all, err := eachGate(h, c.Project, func(m *gate.Mirror) ([]gate.Branch, error) { return m.List() })
	if err != nil {
		return err
	}
	if c.Quiet {
		for _, b := range all {
			fmt.Fprintln(env.Stdout, b.Ref)
		}
		return nil
	}
	return cli.List(env, all, []cli.Column[gate.Branch]{
		{Header: "REF", Value: func(b gate.Branch) string { return b.Ref }},
		{Header: "TASK", Value: func(b gate.Branch) string {
			if b.Default {
				return "(default)"
			}
			return b.Task
		}},
		{Header: "AHEAD", Value: func(b gate.Branch) string { return fmt.Sprint(b.Ahead) }},
		{Header: "BEHIND", Value: func(b gate.Branch) string { return fmt.Sprint(b.Behind) }},
		{Header: "COMMIT", Value: func(b gate.Branch) string { return short(b.Commit) }},
		{Header: "TIME", Value: func(b gate.Branch) string { return when(b.Time) }},
		{Header: "SUBJECT", Value: func(b gate.Branch) string { return b.Subject }},
	})
}

func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04")
}

// refArgs are the arguments shared by the commands that take a REF.
type refArgs struct {
	Project string `help:"Look REF up in this project only." placeholder:"PROJECT" completion:"project"`
}

// targets returns the branches that refs name ("-" reads them from stdin).
func (a refArgs) targets(h *host, refs []string) ([]*gate.Mirror, []gate.Target, bool, error) {
	list, fromStdin, err := h.Env.Targets(refs, "ref", "id", "task")
	if err != nil {
		return nil, nil, false, err
	}
	var ms []*gate.Mirror
	var ts []gate.Target
	for _, r := range list {
		m, t, err := h.resolve(r, a.Project)
		if err != nil {
			return nil, nil, false, err
		}
		ms, ts = append(ms, m), append(ts, t)
	}
	return ms, ts, fromStdin, nil
}

// LogCmd is `terok-gate log`.
type LogCmd struct {
	Ref  string `arg:"" help:"PROJECT/BRANCH, a task id, or a branch name; - reads them from stdin." completion:"gate-ref"`
	Base string `help:"Show the commits this branch lacks (default: the project's default branch)." placeholder:"BRANCH"`
	Max  int    `short:"n" help:"Show at most N commits (0: all)." placeholder:"N" default:"0"`
	refArgs
}

// Validate checks -n's range in the grammar.
func (c *LogCmd) Validate() error {
	if c.Max < 0 {
		return errors.New("-n must not be negative")
	}
	return nil
}

func (c *LogCmd) Run(env *cli.Env) error {
	h, err := newHost(env)
	if err != nil {
		return err
	}
	ms, ts, _, err := c.targets(h, []string{c.Ref})
	if err != nil {
		return err
	}
	var all []gate.Commit
	for i, m := range ms {
		cs, err := m.Log(ts[i].Branch, c.Base, c.Max)
		if err != nil {
			return mapError(err, ts[i].Project+"/"+ts[i].Branch)
		}
		all = append(all, cs...)
	}
	return cli.List(env, all, []cli.Column[gate.Commit]{
		{Header: "COMMIT", Value: func(c gate.Commit) string { return short(c.Commit) }},
		{Header: "TIME", Value: func(c gate.Commit) string { return when(c.CommitTime) }},
		{Header: "AUTHOR", Value: func(c gate.Commit) string { return c.Author }},
		{Header: "SUBJECT", Value: func(c gate.Commit) string { return c.Subject }},
	})
}
