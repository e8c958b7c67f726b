package main

import (
	taskcmd "github.com/terok-ai/terok-go/cmd/terok-task"
	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/task"
)

// PanicCmd is `terok panic`, the kill switch (lib/task Panic).
type PanicCmd struct {
	Stop bool `help:"Stop every running task as well, not only cut it off."`
}

func (c *PanicCmd) Run(env *cli.Env) error {
	r, err := taskcmd.Runner(env)
	if err != nil {
		return err
	}
	out, err := r.Panic(env.Ctx, c.Stop)
	if lerr := cli.List(env, out, []cli.Column[task.PanicResult]{
		{Header: "TASK", Value: func(p task.PanicResult) string { return p.Task }},
		{Header: "PROJECT", Value: func(p task.PanicResult) string { return p.Project }},
		{Header: "ACTION", Value: func(p task.PanicResult) string { return p.Action }},
		{Header: "DETAIL", Value: func(p task.PanicResult) string { return p.Detail }},
	}); lerr != nil {
		return lerr
	}
	if err != nil {
		return cli.Failf("%v", err)
	}
	for _, p := range out {
		if p.Action == "failed" {
			return cli.Failf("task %s could not be cut off: %s", p.Task, p.Detail).
				WithHint("podman kill %s", p.Task)
		}
	}
	return nil
}
