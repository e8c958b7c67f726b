package main

import (
	"errors"
	"sort"

	terok "github.com/terok-ai/terok-go"
	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/hostcheck"
	"github.com/terok-ai/terok-go/lib/hostsetup"
)

// SetupCmd is `terok setup`: the one-time setup of a host (or of a user on
// it) for terok, safe to run again. It checks everything it will change
// before it changes anything (for a user, first that the account can run
// rootless Podman), then makes the terok-<command> links, registers the
// shield's OCI hook, makes terok's own directories, installs the man pages
// and completions, for a user in a desktop session runs the clearance's
// desktop notifier at login (unless --no-notifier), and ends with the
// doctor's checks. It prints one record per step and check, in the
// doctor's shape; --dry-run prints the changes
// instead. The steps are lib/hostsetup's.
type SetupCmd struct {
	BinDir   string `name:"bin-dir" help:"Directory for the terok-<command> links (default: this binary's directory when writable, else ~/.local/bin)." placeholder:"DIR" type:"path"`
	HooksDir string `name:"hooks-dir" help:"Hooks directory for the shield's registration (default: the first Podman reads; not as root, ~/.config/containers/oci/hooks.d)." placeholder:"DIR" type:"path"`
	NoCheck  bool   `name:"no-check" help:"Do not run the doctor's checks afterwards."`
	Image    string `help:"Image of the doctor's probe container (see terok doctor)." placeholder:"IMAGE"`
	DryRun   bool   `name:"dry-run" help:"Print what setup would change, one change per line, and change nothing."`
	NoNotify bool   `name:"no-notifier" help:"Do not run the clearance's desktop notifier (terok-clearance notify) at login; by default a user's setup in a desktop session does."`
}

func (c *SetupCmd) Run(env *cli.Env) error {
	h, err := findHost(env, c.BinDir, c.HooksDir)
	if err != nil {
		return err
	}
	if c.NoNotify {
		h.Login = nil
	}
	plan := hostsetup.CheckSetup(h)
	if c.DryRun {
		return printPlan(env, plan)
	}
	out, err := plan.Apply(env.Ctx, env.Warnf)
	if err != nil {
		return refused(env, err)
	}
	if !c.NoCheck {
		d := DoctorCmd{Image: c.Image}
		opts, early := d.options(env)
		out = append(out, early...)
		out = append(out, hostcheck.Run(env.Ctx, opts)...)
	}
	if err := cli.List(env, out, doctorColumns); err != nil {
		return err
	}
	if rank := hostcheck.Worst(out).Rank(); rank != 0 {
		return cli.ExitStatus(rank)
	}
	return nil
}

// linkNames are the terok-<command> links' names: one per command.
func linkNames() []string {
	names := make([]string, 0, len(Commands))
	for _, cm := range Commands {
		names = append(names, cm.Name)
	}
	sort.Strings(names)
	return names
}

// findHost is lib/hostsetup's host, with the man pages and completions
// this binary carries.
func findHost(env *cli.Env, binDir, hooksDir string) (hostsetup.Host, error) {
	h, err := hostsetup.FindHost(env.Getenv, binDir, hooksDir, linkNames())
	h.Comforts.Files = terok.Installed
	return h, err
}

// refused prints, for an account not ready for rootless Podman, every
// piece's record (the failed ones with their fix) before the error.
func refused(env *cli.Env, err error) error {
	var nr *hostsetup.NotReady
	if errors.As(err, &nr) {
		if perr := cli.List(env, nr.Checks, doctorColumns); perr != nil {
			return perr
		}
	}
	return err
}

// PlannedChange is a line of --dry-run: one change a step would make.
type PlannedChange struct {
	Step   string `json:"step"`
	Op     string `json:"op"`
	Path   string `json:"path"`
	Target string `json:"target"`
}

// printPlan prints the plan's changes, then its refusal, if any, as Apply
// would return it.
func printPlan(env *cli.Env, plan hostsetup.Plan) error {
	var out []PlannedChange
	for _, a := range plan.Actions {
		for _, ch := range a.Changes {
			out = append(out, PlannedChange{Step: a.Step, Op: string(ch.Op), Path: ch.Path, Target: ch.Target})
		}
	}
	if err := cli.List(env, out, []cli.Column[PlannedChange]{
		{Header: "STEP", Value: func(p PlannedChange) string { return p.Step }},
		{Header: "CHANGE", Value: func(p PlannedChange) string { return p.Op }},
		{Header: "PATH", Value: func(p PlannedChange) string { return p.Path }},
		{Header: "TARGET", Value: func(p PlannedChange) string { return p.Target }},
	}); err != nil {
		return err
	}
	return refused(env, plan.Refused())
}
