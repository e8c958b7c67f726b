package clearancecmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/terok-ai/terok-go/lib/clearance"
	"github.com/terok-ai/terok-go/lib/clearhub"
	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/notifier"
)

// NotifyCmd is `terok-clearance notify`: the desktop surface.
type NotifyCmd struct {
	Filter
}

// hubSource is the hub as the notifier's Source: every task (or the
// filter's), merged.
type hubSource struct {
	h *clearhub.Hub
	f clearhub.Filter
}

func (s hubSource) Watch(ctx context.Context, each func(clearance.Event) error) error {
	return s.h.Watch(ctx, s.f, each)
}

func (s hubSource) Decide(ctx context.Context, task, id, dest string, v clearance.Verdict) (clearance.Event, error) {
	return s.h.Decide(ctx, task, id, dest, v)
}

func (c *NotifyCmd) Run(env *cli.Env) error {
	h, f, err := c.open(env)
	if err != nil {
		return err
	}
	err = notifier.Run(env.Ctx, hubSource{h, f}, notifier.Options{
		Getenv: env.Getenv,
		Logf: func(format string, a ...any) {
			fmt.Fprintf(env.Stderr, "terok-clearance: warning: "+format+"\n", a...)
		},
	})
	switch {
	case env.Ctx.Err() != nil:
		return nil // interrupted: cli reports the signal
	case errors.Is(err, notifier.ErrNoBus):
		return cli.NotSetUpf("%v", err)
	case errors.Is(err, notifier.ErrRunning):
		return cli.Failf("%v", err)
	}
	return err
}
