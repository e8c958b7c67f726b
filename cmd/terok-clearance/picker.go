package clearancecmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/terok-ai/terok-go/lib/clearance"
	"github.com/terok-ai/terok-go/lib/clearhub"
	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/session"
)

// PickCmd is bare `terok-clearance`: on a terminal, a picker over the
// pending requests that follows new ones as they arrive; without one, the
// usage.
type PickCmd struct{}

const usage = `usage: terok-clearance [watch|ls|allow|deny] ...
  terok-clearance                  on a terminal: pick pending requests to allow or deny
  terok-clearance watch            pending requests and verdicts, live (JSON lines when piped)
  terok-clearance ls               the requests pending now
  terok-clearance allow|deny ID... | -
run 'terok-clearance --help' for more`

// The picker's actions on a request.
const (
	pickOnce    = "once"
	pickProject = "project"
	pickDeny    = "deny"
	pickBack    = "back"
)

func (PickCmd) Run(env *cli.Env) error {
	if !env.Interactive() {
		fmt.Fprintln(env.Stderr, usage)
		return cli.ExitStatus(cli.ExitUsage)
	}
	s, err := session.OpenPaths(env)
	if err != nil {
		return err
	}
	p := &picker{env: env, hub: clearhub.New(s.Paths), pending: map[string]clearance.Request{}, changed: make(chan struct{}, 1)}
	return p.run()
}

// picker keeps the pending requests up to date from the hub's watch, and
// asks a person about them.
type picker struct {
	env *cli.Env
	hub *clearhub.Hub

	mu      sync.Mutex
	pending map[string]clearance.Request
	changed chan struct{} // a request came or went
}

func (p *picker) follow(ctx context.Context) error {
	return p.hub.Watch(ctx, clearhub.Filter{}, func(ev clearance.Event) error {
		p.mu.Lock()
		_, had := p.pending[ev.ID]
		switch ev.Type {
		case clearance.EventPending, clearance.EventUpdated:
			p.pending[ev.ID] = ev.Request
		default:
			delete(p.pending, ev.ID)
		}
		_, has := p.pending[ev.ID]
		p.mu.Unlock()
		if had != has { // a count going up does not interrupt a person
			select {
			case p.changed <- struct{}{}:
			default:
			}
		}
		return nil
	})
}

func (p *picker) list() []clearance.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]clearance.Request, 0, len(p.pending))
	for _, r := range p.pending {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].FirstSeen.Equal(out[j].FirstSeen) {
			return out[i].FirstSeen.Before(out[j].FirstSeen)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func (p *picker) run() error {
	ctx, cancel := context.WithCancel(p.env.Ctx)
	defer cancel()
	watchErr := make(chan error, 1)
	go func() { watchErr <- p.follow(ctx) }()
	waiting := false
	for {
		select {
		case err := <-watchErr:
			if ctx.Err() != nil {
				return nil
			}
			return cli.Failf("following the requests: %v", err)
		default:
		}
		rs := p.list()
		if len(rs) == 0 {
			if !waiting {
				fmt.Fprintln(p.env.Stderr, "No pending requests; waiting for one (Ctrl-C to quit).")
				waiting = true
			}
			select {
			case <-p.changed:
			case <-ctx.Done():
				return nil
			}
			continue
		}
		waiting = false
		// Drain a change that the list already has.
		select {
		case <-p.changed:
		default:
		}
		var choices []cli.Choice
		for _, r := range rs {
			choices = append(choices, cli.Choice{Value: r.ID, Label: label(r)})
		}
		id, err := p.choose(ctx, fmt.Sprintf("Pending requests (%d): pick one to decide, Esc to quit", len(rs)), choices, true)
		switch {
		case errors.Is(err, errChanged):
			continue // a request came or went: the fresh list
		case errors.Is(err, errEsc):
			return nil
		case err != nil:
			return err
		}
		r, ok := p.request(id)
		if !ok {
			fmt.Fprintln(p.env.Stderr, "That request is gone (decided elsewhere or expired).")
			continue
		}
		if r.Kind == clearance.KindOverflow {
			fmt.Fprintf(p.env.Stderr, "That entry stands for %d destinations and cannot be decided; decide the others first.\n", r.More)
			continue
		}
		act, err := p.choose(ctx, "Destination "+dest(r)+" of task "+clearance.Display(r.Task)+" (project "+clearance.Display(r.Project)+"):", []cli.Choice{
			{Value: pickOnce, Label: "Allow once (this task)"},
			{Value: pickProject, Label: "Allow for the project (this task, and written into the project's [shield] allow)"},
			{Value: pickDeny, Label: "Deny (this task)"},
			{Value: pickBack, Label: "Back to the list"},
		}, false)
		switch {
		case errors.Is(err, errEsc) || err == nil && act == pickBack:
			continue
		case err != nil:
			return err
		}
		v := clearance.Verdict{Action: clearance.Allow, Scope: clearance.ScopeOnce, Surface: clearance.SurfaceTerminal}
		switch act {
		case pickProject:
			v.Scope = clearance.ScopeProject
		case pickDeny:
			v.Action = clearance.Deny
		}
		ev, err := p.hub.Decide(ctx, r.Task, r.ID, r.Dest, v)
		switch {
		case err != nil:
			fmt.Fprintf(p.env.Stderr, "%s: %v\n", p.env.Prog, refusal(r.ID, ev, err))
		default:
			fmt.Fprintf(p.env.Stdout, "%s: %s of task %s\n", verdictText(ev), dest(r), clearance.Display(r.Task))
		}
		p.mu.Lock()
		delete(p.pending, r.ID) // decided or gone either way
		p.mu.Unlock()
	}
}

func (p *picker) request(id string) (clearance.Request, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.pending[id]
	return r, ok
}

// label is a request's line in the picker: every part a task chose is
// sanitised (printable ASCII, no spaces, cut).
func label(r clearance.Request) string {
	return fmt.Sprintf("%-40s  task %s  %s  %s x%d", dest(r), clearance.Display(r.Task), clearance.Display(r.Project), r.Kind, r.Count)
}

var (
	errChanged = errors.New("the list changed")
	errEsc     = errors.New("left with Esc")
)

// choose asks for one of choices with gum, and when interrupt is set
// gives up with errChanged as soon as a request comes or goes (gum is
// asked to quit, so it restores the terminal). Without gum it reads a
// number from the terminal, with no interruption.
func (p *picker) choose(ctx context.Context, header string, choices []cli.Choice, interrupt bool) (string, error) {
	gum, err := exec.LookPath("gum")
	if err != nil || p.env.Getenv("TEROK_NO_GUM") == "1" {
		got, err := p.env.Choose(header, choices, choices[0].Value)
		if errors.Is(err, cli.ErrAborted) && ctx.Err() == nil {
			return "", errEsc
		}
		return got, err
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var changed atomic.Bool
	if interrupt {
		go func() {
			select {
			case <-p.changed:
				changed.Store(true)
				cancel()
			case <-cctx.Done():
			}
		}()
	}
	args := []string{"choose", "--header=" + header, "--label-delimiter=\t", "--"}
	for _, c := range choices {
		args = append(args, strings.ReplaceAll(c.Label, "\t", " ")+"\t"+c.Value)
	}
	cmd := exec.CommandContext(cctx, gum, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.Stdin, cmd.Stderr = os.Stdin, os.Stderr
	out, err := cmd.Output()
	cancel()
	var xe *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return "", ctx.Err()
	case changed.Load():
		return "", errChanged
	case errors.As(err, &xe) && xe.ExitCode() == 130:
		return "", cli.ErrAborted
	case errors.As(err, &xe) && xe.ExitCode() == 1:
		return "", errEsc
	case err != nil:
		return "", cli.Failf("gum choose: %v", err)
	}
	got, err := cli.ParseChosen(string(out), choices)
	if errors.Is(err, cli.ErrAborted) {
		return "", errEsc
	}
	if err != nil {
		return "", err
	}
	return got[0], nil
}
