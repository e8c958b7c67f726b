package main

import (
	"errors"
	"os"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/hostcheck"
)

// DoctorCmd is `terok doctor`: it checks the host and prints one record per
// check, {check, status, detail, fix}. It exits 0 when every check is ok,
// 1 when the worst is a warning and 2 when one failed.
type DoctorCmd struct {
	Image string `help:"Image of the probe container (default: the first of localhost/terok/busybox:latest, localhost/terok/debian:bookworm that exists)." placeholder:"IMAGE"`
}

func (c *DoctorCmd) Run(env *cli.Env) error {
	opts, results := c.options(env)
	results = append(results, hostcheck.Run(env.Ctx, opts)...)
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
	return opts, early
}

var doctorColumns = []cli.Column[hostcheck.Result]{
	{Header: "CHECK", Value: func(r hostcheck.Result) string { return r.Check }},
	{Header: "STATUS", Value: func(r hostcheck.Result) string { return string(r.Status) }},
	{Header: "DETAIL", Value: func(r hostcheck.Result) string { return r.Detail }},
	{Header: "FIX", Value: func(r hostcheck.Result) string { return r.Fix }},
}
