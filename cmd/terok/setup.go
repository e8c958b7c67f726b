package main

import (
	"sort"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/hostcheck"
	"github.com/terok-ai/terok-go/lib/hostsetup"
)

// SetupCmd is `terok setup`: the one-time setup of a host (or of a user on
// it) for terok, safe to run again. It checks everything it will change
// before it changes anything, then makes the terok-<command> links,
// registers the shield's OCI hook and makes terok's own directories, and
// ends with the doctor's checks. It prints one record per step and check,
// in the doctor's shape. The steps are lib/hostsetup's.
type SetupCmd struct {
	BinDir   string `name:"bin-dir" help:"Directory for the terok-<command> links (default: this binary's directory when writable, else ~/.local/bin)." placeholder:"DIR" type:"path"`
	HooksDir string `name:"hooks-dir" help:"Hooks directory for the shield's registration (default: the first Podman reads; not as root, ~/.config/containers/oci/hooks.d)." placeholder:"DIR" type:"path"`
	NoCheck  bool   `name:"no-check" help:"Do not run the doctor's checks afterwards."`
	Image    string `help:"Image of the doctor's probe container (see terok doctor)." placeholder:"IMAGE"`
}

func (c *SetupCmd) Run(env *cli.Env) error {
	h, err := hostsetup.FindHost(env.Getenv, c.BinDir, c.HooksDir, linkNames())
	if err != nil {
		return err
	}
	out, err := hostsetup.CheckSetup(h).Apply(env.Ctx, env.Warnf)
	if err != nil {
		return err
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
