package gatecmd

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/gate"
)

// DiffCmd is `terok-gate diff`.
type DiffCmd struct {
	Ref   string `arg:"" help:"PROJECT/BRANCH, a task id, or a branch name; - reads them from stdin." completion:"gate-ref"`
	Base  string `help:"Compare with where the branch left this branch (default: the project's default branch)." placeholder:"BRANCH"`
	Patch bool   `short:"p" help:"Print a unified diff (through $PAGER on a terminal) instead of the changed files."`
	refArgs
}

func (c *DiffCmd) Run(env *cli.Env) error {
	h, err := newHost(env)
	if err != nil {
		return err
	}
	ms, ts, _, err := c.targets(h, []string{c.Ref})
	if err != nil {
		return err
	}
	var files []gate.FileChange
	var patch bytes.Buffer
	for i, m := range ms {
		res, err := m.Diff(env.Ctx, ts[i].Branch, c.Base, c.Patch)
		if err != nil {
			return mapError(err, ts[i].Project+"/"+ts[i].Branch)
		}
		if c.Patch {
			if err := gate.WritePatch(&patch, res); err != nil {
				return err
			}
			continue
		}
		files = append(files, res.Files...)
	}
	if c.Patch {
		return page(env, patch.Bytes())
	}
	return cli.List(env, files, []cli.Column[gate.FileChange]{
		{Header: "STATUS", Value: func(f gate.FileChange) string { return f.Status }},
		{Header: "PATH", Value: func(f gate.FileChange) string {
			if f.OldPath != "" {
				return f.OldPath + " -> " + f.Path
			}
			return f.Path
		}},
		{Header: "+", Value: func(f gate.FileChange) string { return lines(f, f.Insertions) }},
		{Header: "-", Value: func(f gate.FileChange) string { return lines(f, f.Deletions) }},
		{Header: "MODE", Value: func(f gate.FileChange) string {
			switch {
			case f.NewMode == "":
				return f.OldMode
			case f.OldMode != "" && f.OldMode != f.NewMode:
				return f.OldMode + " -> " + f.NewMode
			}
			return f.NewMode
		}},
	})
}

func lines(f gate.FileChange, n int) string {
	if f.Binary {
		return "bin"
	}
	return fmt.Sprint(n)
}

// page writes text to stdout: as it is when stdout is not a terminal; on
// a terminal through $PAGER (default less), with control characters made
// visible, so that nothing a task wrote can drive the terminal.
func page(env *cli.Env, text []byte) error {
	if !env.StdoutTTY {
		_, err := env.Stdout.Write(text)
		return err
	}
	text = cli.Visible(text)
	pager := env.Getenv("PAGER")
	if pager == "" {
		pager = "less"
	}
	if pager == "cat" || !env.Interactive() {
		_, err := env.Stdout.Write(text)
		return err
	}
	cmd := exec.CommandContext(env.Ctx, "/bin/sh", "-c", pager)
	cmd.Stdin = bytes.NewReader(text)
	cmd.Stdout, cmd.Stderr = env.Stdout, env.Stderr
	if env.Getenv("LESS") == "" {
		cmd.Env = append(cmd.Environ(), "LESS=FRX")
	}
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			_, err := env.Stdout.Write(text) // no pager: print it
			return err
		}
	}
	return nil
}

// PromoteCmd is `terok-gate promote`.
type PromoteCmd struct {
	Ref   string `arg:"" help:"PROJECT/BRANCH, a task id, or a branch name; - reads them from stdin (with --yes)." completion:"gate-ref"`
	To    string `help:"The upstream branch to push to (default: the same name)." placeholder:"BRANCH"`
	Force bool   `help:"Replace the upstream branch even when that discards its commits (not a fast-forward)."`
	Yes   bool   `short:"y" help:"Do not ask for confirmation."`
	refArgs
}

var promotionFields = func(p gate.Promotion) []cli.Field {
	return []cli.Field{
		{Name: "ref", Value: p.Ref},
		{Name: "upstream", Value: p.Upstream},
		{Name: "to", Value: p.To},
		{Name: "commit", Value: p.Commit},
		{Name: "old", Value: short(p.Old)},
		{Name: "commits", Value: fmt.Sprint(p.Commits)},
		{Name: "fast-forward", Value: fmt.Sprint(p.FastForward)},
		{Name: "forced", Value: fmt.Sprint(p.Forced)},
		{Name: "pushed", Value: fmt.Sprint(p.Pushed)},
	}
}

func (c *PromoteCmd) Run(env *cli.Env) error {
	h, err := newHost(env)
	if err != nil {
		return err
	}
	ms, ts, fromStdin, err := c.targets(h, []string{c.Ref})
	if err != nil {
		return err
	}
	if fromStdin && !c.Yes {
		return cli.Usagef("targets read from stdin leave nothing to answer a confirmation; pass --yes")
	}
	if c.To != "" && len(ts) > 1 {
		return cli.Usagef("--to names one upstream branch; promote one REF at a time with it")
	}
	for i, m := range ms {
		p, commits, err := m.PlanPromote(env.Ctx, ts[i].Branch, c.To, env.Interactive())
		if err != nil {
			return mapError(err, ts[i].Project)
		}
		if p.Old == p.Commit {
			fmt.Fprintf(env.Stderr, "%s: %s is already at %s upstream\n", env.Prog, p.To, short(p.Commit))
			if err := cli.Object(env, *p, promotionFields(*p)); err != nil {
				return err
			}
			continue
		}
		describe(env.Stderr, env.Prog, p, commits)
		if !p.FastForward && !c.Force {
			return mapError(m.Promote(env.Ctx, p, false, false), ts[i].Project)
		}
		if err := env.Confirm(fmt.Sprintf("Push %s to %s %s?", p.Ref, p.Upstream, p.To), c.Yes); err != nil {
			return err
		}
		if err := m.Promote(env.Ctx, p, c.Force, env.Interactive()); err != nil {
			return mapError(err, ts[i].Project)
		}
		if err := cli.Object(env, *p, promotionFields(*p)); err != nil {
			return err
		}
	}
	return nil
}

// describe shows a person what a promotion will push.
func describe(w io.Writer, prog string, p *gate.Promotion, commits []gate.Commit) {
	what := "a new branch"
	switch {
	case p.Old != gate.ZeroID && p.FastForward:
		what = "a fast-forward from " + short(p.Old)
	case p.Old != gate.ZeroID:
		what = fmt.Sprintf("NOT a fast-forward: it discards %d upstream commit(s) after %s", p.Lost, short(p.Old))
	}
	fmt.Fprintf(w, "%s: %s (%s) to %s branch %s: %s, %d commit(s):\n", prog, p.Ref, short(p.Commit), p.Upstream, p.To, what, p.Commits)
	for i, c := range commits {
		if i == 20 {
			fmt.Fprintf(w, "  ... and %d more\n", len(commits)-20)
			break
		}
		fmt.Fprintf(w, "  %s %s %s\n", short(c.Commit), string(cli.Visible([]byte(c.Author))), string(cli.Visible([]byte(c.Subject))))
	}
}

// BackupsCmd is `terok-gate backups`.
type BackupsCmd struct {
	Project string `arg:"" optional:"" help:"The project whose backups to list; every gate's when omitted." completion:"project"`
	Quiet   bool   `short:"q" help:"Print ids only, one per line."`
}

var backupColumns = []cli.Column[gate.Backup]{
	{Header: "ID", Value: func(b gate.Backup) string { return b.ID }},
	{Header: "REF", Value: func(b gate.Backup) string { return strings.TrimPrefix(b.Ref, "refs/heads/") }},
	{Header: "COMMIT", Value: func(b gate.Backup) string { return short(b.Commit) }},
	{Header: "REASON", Value: func(b gate.Backup) string { return b.Reason }},
	{Header: "TASK", Value: func(b gate.Backup) string { return b.Task }},
}

func (c *BackupsCmd) Run(env *cli.Env) error {
	h, err := newHost(env)
	if err != nil {
		return err
	}
	all, err := eachGate(h, c.Project, func(m *gate.Mirror) ([]gate.Backup, error) { return m.Backups() })
	if err != nil {
		return err
	}
	if c.Quiet {
		for _, b := range all {
			fmt.Fprintln(env.Stdout, b.ID)
		}
		return nil
	}
	return cli.List(env, all, backupColumns)
}

// RestoreCmd is `terok-gate restore`.
type RestoreCmd struct {
	Backups []string `arg:"" name:"backup" help:"Backup ids (PROJECT/STAMP-XXXXXX), or - to read them from stdin." completion:"backup"`
}

// Restored is the JSON line `restore` prints per backup.
type Restored struct {
	ID      string `json:"id"`
	Project string `json:"project"`
	Ref     string `json:"ref"`
	Commit  string `json:"commit"`
	Saved   string `json:"saved,omitempty"`
}

func (c *RestoreCmd) Run(env *cli.Env) error {
	h, err := newHost(env)
	if err != nil {
		return err
	}
	ids, _, err := env.Targets(c.Backups, "id")
	if err != nil {
		return err
	}
	type job struct {
		m   *gate.Mirror
		key string
	}
	var jobs []job
	for _, id := range ids {
		p, key, err := gate.ParseBackupID(id)
		if err != nil {
			return cli.Usagef("%v", err)
		}
		m, err := h.existing(p)
		if err != nil {
			return err
		}
		jobs = append(jobs, job{m, key})
	}
	var out []Restored
	cols := []cli.Column[Restored]{
		{Header: "RESTORED", Value: func(r Restored) string { return r.ID }},
		{Header: "REF", Value: func(r Restored) string { return r.Ref }},
		{Header: "COMMIT", Value: func(r Restored) string { return short(r.Commit) }},
		{Header: "SAVED", Value: func(r Restored) string { return r.Saved }},
	}
	for _, j := range jobs {
		b, saved, err := j.m.Restore(env.Ctx, j.key)
		if err != nil {
			cli.List(env, out, cols)
			return mapError(err, j.m.Project)
		}
		out = append(out, Restored{ID: b.ID, Project: b.Project, Ref: b.Ref, Commit: b.Commit, Saved: saved})
	}
	return cli.List(env, out, cols)
}

// PruneCmd is `terok-gate prune`.
type PruneCmd struct {
	Project   string          `arg:"" optional:"" help:"The project whose backups to prune; every gate's when omitted." completion:"project"`
	OlderThan config.Duration `name:"older-than" help:"Prune backups older than this (default: gate.backup_max_age)." placeholder:"DURATION"`
	DryRun    bool            `name:"dry-run" help:"Only print what would be pruned."`
}

func (c *PruneCmd) Run(env *cli.Env) error {
	h, err := newHost(env)
	if err != nil {
		return err
	}
	all, err := eachGate(h, c.Project, func(m *gate.Mirror) ([]gate.Backup, error) {
		return m.Prune(env.Ctx, time.Duration(c.OlderThan), c.DryRun)
	})
	if err != nil {
		cli.List(env, all, backupColumns)
		return err
	}
	return cli.List(env, all, backupColumns)
}
