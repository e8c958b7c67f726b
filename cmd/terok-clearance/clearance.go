// Command terok-clearance decides, live, the connections and names the
// shield of a running task blocked: each is a pending request in the
// task's warden until a person allows or denies it (or it expires).
//
// Synopsis:
//
//	terok-clearance                                   (on a terminal: the picker)
//	terok-clearance watch [--task T] [--project P]
//	terok-clearance ls [--task T] [--project P]
//	terok-clearance allow REQUEST... | - [--project [--yes]] [--for D]
//	terok-clearance deny REQUEST... | - [--project [--yes]]
//	terok-clearance notify [--task T] [--project P]
//
// This package holds the grammar and the output; lib/clearhub reaches the
// wardens, lib/clearance owns the requests, lib/notifier shows them on the
// desktop.
package clearancecmd

import (
	"fmt"
	"strconv"
	"time"

	"github.com/terok-ai/terok-go/lib/clearance"
	"github.com/terok-ai/terok-go/lib/clearhub"
	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/session"
)

// Command is terok-clearance's entry in the command table.
var Command = cli.Command{
	Name:    "terok-clearance",
	Summary: "allow or deny, live, what a running task's shield blocked: a terminal picker, JSON lines for scripts",
	Detail: "Every connection a running task's shield blocks and every name its resolver refuses becomes a pending " +
		"request in the task's warden: an unguessable id bound to the task and the destination. terok-clearance " +
		"shows them across all running tasks and decides them: an allow or a deny is applied at once through the " +
		"task's warden, as terok-shield allow and deny do, and with --project is also written into the project's " +
		"[shield] allow or deny so later tasks get it. Only the user who owns the tasks can decide: the wardens' " +
		"sockets are the user's own and check the caller's credentials. Run bare on a terminal, it is a picker " +
		"that follows new requests as they arrive.",
	Grammar:  func() any { return &Grammar{} },
	Sections: sections,
}

// Grammar is terok-clearance's command line.
type Grammar struct {
	cli.Globals
	Pick   PickCmd   `cmd:"" default:"1" hidden:"" help:"Pick pending requests to allow or deny (on a terminal)."`
	Watch  WatchCmd  `cmd:"" help:"Follow pending requests and verdicts of every running task, live."`
	Ls     LsCmd     `cmd:"" help:"List the requests pending now."`
	Allow  AllowCmd  `cmd:"" help:"Allow pending requests: their destinations, for their tasks, at once."`
	Deny   DenyCmd   `cmd:"" help:"Deny pending requests: their destinations, for their tasks, at once."`
	Notify NotifyCmd `cmd:"" help:"Show each pending request as a desktop notification with Allow and Deny, until interrupted (terok setup runs it at login)."`
}

// Filter is the --task and --project of watch and ls.
type Filter struct {
	Task    string `help:"Only this task's requests (id or unique prefix)." placeholder:"TASK" completion:"task"`
	Project string `help:"Only the requests of this project's tasks." placeholder:"PROJECT" completion:"project"`
}

// open is the hub of the user's tasks and the filter, its task resolved.
func (f Filter) open(env *cli.Env) (*clearhub.Hub, clearhub.Filter, error) {
	s, err := session.OpenPaths(env)
	if err != nil {
		return nil, clearhub.Filter{}, err
	}
	out := clearhub.Filter{Project: f.Project}
	if f.Task != "" {
		if out.Task, err = s.ResolveTask(f.Task); err != nil {
			return nil, out, err
		}
	}
	return clearhub.New(s.Paths), out, nil
}

// WatchCmd is `terok-clearance watch`.
type WatchCmd struct {
	Filter
}

func (c *WatchCmd) Run(env *cli.Env) error {
	h, f, err := c.open(env)
	if err != nil {
		return err
	}
	out := eventStream(env)
	err = h.Watch(env.Ctx, f, out.Print)
	if env.Ctx.Err() != nil {
		return nil // interrupted: cli reports the signal
	}
	return err
}

// eventStream prints events: JSON lines as they are (JSON escapes
// whatever a task chose), a table row on a terminal with every
// destination sanitised.
func eventStream(env *cli.Env) *cli.Stream[clearance.Event] {
	return &cli.Stream[clearance.Event]{
		Env: env,
		Columns: []cli.Column[clearance.Event]{
			{Header: "TIME", Value: func(e clearance.Event) string { return e.LastSeen.Local().Format("15:04:05") }},
			{Header: "EVENT", Value: func(e clearance.Event) string { return string(e.Type) }},
			{Header: "TASK", Value: func(e clearance.Event) string { return clearance.Display(e.Task) }},
			{Header: "PROJECT", Value: func(e clearance.Event) string { return clearance.Display(e.Project) }},
			{Header: "DESTINATION", Value: func(e clearance.Event) string { return dest(e.Request) }},
			{Header: "COUNT", Value: func(e clearance.Event) string { return strconv.Itoa(e.Count) }},
			{Header: "VERDICT", Value: verdictText},
			{Header: "ID", Value: func(e clearance.Event) string { return clearance.Display(e.ID) }},
		},
	}
}

// dest is what a person reads of a request's destination: sanitised, with
// its port and protocol, or the overflow's count.
func dest(r clearance.Request) string {
	switch {
	case r.Kind == clearance.KindOverflow:
		return fmt.Sprintf("(and %d more)", r.More)
	case r.Port != 0:
		return fmt.Sprintf("%s:%d/%s", clearance.Display(r.Dest), r.Port, clearance.Display(r.Proto))
	case r.Proto == clearance.ProtoDNSName:
		return clearance.Display(r.Dest) + " (name)"
	}
	return clearance.Display(r.Dest)
}

func verdictText(e clearance.Event) string {
	if e.Type != clearance.EventDecided {
		return ""
	}
	s := string(e.Action) + " " + string(e.Scope)
	if e.Duration != "" {
		s += " " + clearance.Display(e.Duration)
	}
	if e.Surface != "" {
		s += " via " + clearance.Display(string(e.Surface))
	}
	if e.Error != "" {
		s += " FAILED: " + clearance.Sanitize(e.Error, 200)
	}
	return s
}

// LsCmd is `terok-clearance ls`.
type LsCmd struct {
	Filter
}

func (c *LsCmd) Run(env *cli.Env) error {
	h, f, err := c.open(env)
	if err != nil {
		return err
	}
	rs, perr := h.Pending(env.Ctx, f)
	if perr != nil && env.Ctx.Err() != nil {
		return perr
	}
	if err := cli.List(env, rs, []cli.Column[clearance.Request]{
		{Header: "ID", Value: func(r clearance.Request) string { return clearance.Display(r.ID) }},
		{Header: "TASK", Value: func(r clearance.Request) string { return clearance.Display(r.Task) }},
		{Header: "PROJECT", Value: func(r clearance.Request) string { return clearance.Display(r.Project) }},
		{Header: "DESTINATION", Value: dest},
		{Header: "KIND", Value: func(r clearance.Request) string { return string(r.Kind) }},
		{Header: "COUNT", Value: func(r clearance.Request) string { return strconv.Itoa(r.Count) }},
		{Header: "LAST", Value: func(r clearance.Request) string { return ago(r.LastSeen) }},
	}); err != nil {
		return err
	}
	if perr != nil {
		return cli.Failf("%v", perr) // some wardens refused: the list is theirs only
	}
	return nil
}

// ago is how long ago t was, for a table.
func ago(t time.Time) string {
	return time.Since(t).Round(time.Second).String() + " ago"
}
