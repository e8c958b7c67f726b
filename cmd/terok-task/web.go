package taskcmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"time"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/task"
	"github.com/terok-ai/terok-go/lib/warden"
	"github.com/terok-ai/terok-go/lib/warden/websvc"
	"github.com/terok-ai/terok-go/lib/web"
)

// WebFlags are the web mode's flags, of `run --web` and `web`.
type WebFlags struct {
	Open     bool   `help:"Open the URL with xdg-open, where there is one."`
	Listen   string `help:"Listen on ADDR (host:port) instead of 127.0.0.1 on a random port; anything but loopback is warned about." placeholder:"ADDR"`
	ViewOnly bool   `help:"Serve a read-only view: the browser's keystrokes are dropped."`
}

func (f WebFlags) set() bool { return f.Open || f.Listen != "" || f.ViewOnly }

// WebCmd is `terok-task web`.
type WebCmd struct {
	ID     string `arg:"" name:"task" help:"The task (any unique prefix of its id)." completion:"task"`
	Detach bool   `short:"d" help:"Have the task's warden serve the session, print the URL and return at once: the URL works as long as the task runs."`
	WebFlags
}

// WebEvent is the line run --web and web print when they serve.
type WebEvent struct {
	Type     string `json:"type"` // "web"
	ID       string `json:"id"`
	URL      string `json:"url"`
	ViewOnly bool   `json:"view_only"`
}

func (c *WebCmd) Run(env *cli.Env) error {
	s, r, rec, err := runningSession(env, c.ID, "serve", "")
	if err != nil {
		return err
	}
	defer s.Close()
	return serveWeb(env, r, rec, c.WebFlags, c.Detach)
}

// serveWeb serves a running task's session to browsers until the task
// ends (then its exit becomes the command's, as for an attach) or the
// command is interrupted (the task runs on).
func serveWeb(env *cli.Env, r *task.Runner, rec task.Record, f WebFlags, detach bool) error {
	if detach {
		return detachWeb(env, r, rec, f)
	}
	srv, err := web.New(webConfig(r, rec, f.Listen, f.ViewOnly, func(format string, a ...any) {
		fmt.Fprintf(env.Stderr, "%s: web: %s\n", env.Prog, fmt.Sprintf(format, a...))
	}))
	if err != nil {
		return cli.Usagef("%v", err)
	}
	if err := announce(env, rec, f, srv.URL(), srv.Loopback()); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(env.Ctx)
	defer cancel()
	type ended struct {
		o   task.Outcome
		err error
	}
	done := make(chan ended, 1)
	go func() {
		o, err := r.Wait(ctx, rec)
		done <- ended{o, err}
		cancel()
	}()
	if err := srv.Serve(ctx); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	if env.Ctx.Err() != nil {
		return cli.Failf("interrupted; task %s runs on", rec.ID).WithHint("'terok-task web %s' serves it again", rec.ID)
	}
	e := <-done
	if e.err != nil {
		return e.err
	}
	if e.o.Status == task.Missing {
		return cli.Failf("task %s's container vanished", rec.ID)
	}
	code := e.o.Code
	if env.JSON {
		_ = cli.Line(env.Stdout, Event{Type: "exit", ID: rec.ID, Status: string(e.o.Status), ExitCode: &code})
	} else {
		fmt.Fprintf(env.Stderr, "%s: task %s ended: %s, exit code %d\n", env.Prog, rec.ID, e.o.Status, code)
	}
	if code != 0 {
		return cli.ExitStatus(code)
	}
	return nil
}

// announce prints the URL's line (and warns of a server beyond this
// machine, and opens the URL when asked).
func announce(env *cli.Env, rec task.Record, f WebFlags, url string, loopback bool) error {
	if !loopback {
		env.Warnf("serving task %s on %s, beyond this machine: whoever holds the URL's token gets the session; the connection is not encrypted", rec.ID, f.Listen)
	}
	if err := cli.Line(env.Stdout, WebEvent{Type: "web", ID: rec.ID, URL: url, ViewOnly: f.ViewOnly}); err != nil {
		return err
	}
	if f.Open {
		openURL(env, url)
	}
	return nil
}

// detachWeb has the task's warden serve its session (lib/warden/websvc):
// the URL then lives as long as the task, and the command returns at once.
func detachWeb(env *cli.Env, r *task.Runner, rec task.Record, f WebFlags) error {
	opts := []string{"engine=" + r.Engine.URI()}
	if f.Listen != "" {
		opts = append(opts, "listen="+f.Listen)
	}
	if f.ViewOnly {
		opts = append(opts, "view-only")
	}
	var sv websvc.Served
	req := warden.Request{Op: websvc.OpWeb, Targets: opts}
	if err := warden.Call(env.Ctx, warden.ControlPath(r.Paths.Runtime, rec.ID), req, &sv); err != nil {
		return cli.Failf("task %s's warden does not serve its session: %v", rec.ID, err).
			WithHint("'terok-task web %s' without --detach serves it from this command", rec.ID)
	}
	return announce(env, rec, f, sv.URL, sv.Loopback)
}

// openURL hands the URL to xdg-open, when there is one, and does not wait
// for the browser.
func openURL(env *cli.Env, url string) {
	p, err := exec.LookPath("xdg-open")
	if err != nil {
		env.Warnf("--open: no xdg-open here; open the URL yourself")
		return
	}
	cmd := exec.Command(p, url)
	if err := cmd.Start(); err != nil {
		env.Warnf("--open: %v", err)
		return
	}
	go func() { _ = cmd.Wait() }() // reap it; its status says nothing of the page
}

// webConfig is the web server's configuration for a browser of task rec's
// session; logf gets the server's refusals and streams' ends. (A warden
// asked to serve, lib/warden/websvc, runs this command as its server.)
func webConfig(r *task.Runner, rec task.Record, listen string, viewOnly bool, logf func(string, ...any)) web.Config {
	return web.Config{
		Listen:   listen,
		ViewOnly: viewOnly,
		Info: web.Info{Task: rec.ID, Project: rec.Project, Agent: rec.Agent, Branch: rec.Branch,
			Posture: func() string {
				if sh, err := r.LoadShield(rec.ID); err == nil {
					return string(sh.PostureAt(time.Now()))
				}
				return ""
			}},
		Open: func(ctx context.Context, cols, rows int) (web.Terminal, error) {
			return r.OpenWeb(ctx, rec, viewOnly, cols, rows)
		},
		Detach: task.WebDetachKeys,
		Logf:   logf,
	}
}
