package main

import (
	"context"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/session"
	"github.com/terok-ai/terok-go/lib/task"
)

// PanicCmd is `terok panic`, the kill switch (lib/task PanicRevoke,
// PanicCutOff and PanicStop). Cutting off needs no Podman; stopping containers does, and
// waits for it at most --engine-timeout.
type PanicCmd struct {
	Stop          bool            `help:"Stop every running task as well, not only cut it off."`
	EngineTimeout config.Duration `name:"engine-timeout" default:"10s" help:"How long to wait for Podman to stop containers; the tasks are cut off before it is asked." placeholder:"DURATION"`
}

func (c *PanicCmd) Run(env *cli.Env) error {
	trace := env.Tracer()
	s, err := session.Open(env)
	if err != nil {
		return err
	}
	defer s.Close()
	trace("load")
	// The vault's phantom tokens die first: a file rewritten, no key, no
	// Podman, no warden needed. A failure does not hold the cut-off up.
	_, revokeErr := s.RunnerWithoutEngine().PanicRevoke()
	if revokeErr != nil {
		env.Warnf("%v", revokeErr)
	}
	trace("revoke")
	out, toStop, err := s.RunnerWithoutEngine().PanicCutOff(env.Ctx)
	trace("cutoff")
	if err != nil {
		return cli.Failf("%v", err)
	}
	quarantined := 0
	for _, p := range out {
		if p.Action == "quarantined" {
			quarantined++
		}
	}
	var engineErr error
	if len(toStop) > 0 || c.Stop && quarantined > 0 {
		ctx, cancel := context.WithTimeout(env.Ctx, c.EngineTimeout.D())
		defer cancel()
		var r *task.Runner
		r, engineErr = s.Runner(ctx)
		trace("connect")
		if engineErr == nil {
			out = r.PanicStop(ctx, out, toStop, c.Stop)
			trace("stop")
		}
	}
	auditErr := s.RunnerWithoutEngine().PanicAudit(out)
	trace("audit")
	if err := cli.List(env, out, []cli.Column[task.PanicResult]{
		{Header: "TASK", Value: func(p task.PanicResult) string { return p.Task }},
		{Header: "PROJECT", Value: func(p task.PanicResult) string { return p.Project }},
		{Header: "ACTION", Value: func(p task.PanicResult) string { return p.Action }},
		{Header: "DETAIL", Value: func(p task.PanicResult) string { return p.Detail }},
	}); err != nil {
		return err
	}
	if engineErr != nil {
		e := cli.Failf("every task is cut off, but Podman did not answer, so no container was stopped: %v", engineErr)
		if !c.Stop {
			env.Warnf("%s", e.Msg)
		} else {
			return e.WithHint("terok panic --stop again once Podman answers")
		}
	}
	if auditErr != nil {
		return cli.Failf("%v", auditErr)
	}
	if revokeErr != nil {
		return cli.Failf("every task is cut off, but its vault tokens were not revoked: %v", revokeErr).
			WithHint("terok-vault revoke TASK... once the tokens file can be written")
	}
	for _, p := range out {
		if p.Action == "failed" {
			return cli.Failf("task %s: %s", p.Task, p.Detail).WithHint("terok-task stop --time 0 %s", p.Task)
		}
	}
	return nil
}
