package main

import (
	"fmt"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/hostcheck"
	"github.com/terok-ai/terok-go/lib/hostsetup"
	"github.com/terok-ai/terok-go/lib/session"
)

// UninstallCmd is `terok uninstall`: it undoes terok setup — the links
// that lead to this binary, the shield's registration of it, and the man
// pages and completions of terok's where setup puts them — and with
// --purge removes every task and terok's own directories too. It leaves
// the binary (make uninstall, or the package manager) and the images
// (terok-image rm), and it refuses while tasks run. It checks every step
// before any acts (lib/hostsetup).
type UninstallCmd struct {
	BinDir   string `name:"bin-dir" help:"Directory of the terok-<command> links (default: as terok setup)." placeholder:"DIR" type:"path"`
	HooksDir string `name:"hooks-dir" help:"Hooks directory of the shield's registration (default: every one Podman reads, and the user's own)." placeholder:"DIR" type:"path"`
	Purge    bool   `help:"Also remove every task (container, workspace, token) and terok's configuration, state, data, cache and runtime directories."`
	Yes      bool   `short:"y" help:"Do not ask for confirmation of --purge."`
	DryRun   bool   `name:"dry-run" help:"Print what uninstall would remove, one change per line, and change nothing."`
}

func (c *UninstallCmd) Run(env *cli.Env) error {
	h, err := findHost(env, c.BinDir, c.HooksDir)
	if err != nil {
		return err
	}
	var tasks hostsetup.Tasks
	if c.Purge {
		s, err := session.Open(env)
		if err != nil {
			return err
		}
		defer s.Close()
		r, err := s.Runner(env.Ctx)
		if err != nil {
			return err
		}
		tasks = hostsetup.RunnerTasks(r)
	}
	plan := hostsetup.CheckUninstall(env.Ctx, h, tasks)
	if c.DryRun {
		return printPlan(env, plan)
	}
	if err := plan.Refused(); err != nil {
		return err
	}
	if c.Purge {
		q := fmt.Sprintf("Remove %d tasks and terok's directories (%s, %s, %s, %s)?", plan.Count(hostsetup.RemoveTask),
			h.Paths.Config, h.Paths.State, h.Paths.Data, h.Paths.Cache)
		if err := env.Confirm(q, c.Yes); err != nil {
			return err
		}
	}
	out, err := plan.Apply(env.Ctx, env.Warnf)
	if err != nil {
		return err
	}
	if err := cli.List(env, out, doctorColumns); err != nil {
		return err
	}
	if rank := hostcheck.Worst(out).Rank(); rank != 0 {
		return cli.ExitStatus(rank)
	}
	return nil
}
