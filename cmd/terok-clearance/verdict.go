package clearancecmd

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/terok-ai/terok-go/lib/clearance"
	"github.com/terok-ai/terok-go/lib/clearhub"
	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/session"
)

// AllowCmd is `terok-clearance allow`.
type AllowCmd struct {
	Requests []string        `arg:"" name:"request" help:"Request ids (terok-clearance ls lists them), or - to read JSON lines from stdin as watch prints them (their id, task and dest are used)."`
	Project  bool            `help:"Also write the destination into the project's [shield] allow, so the project's later tasks get it; asks on a terminal, else needs --yes."`
	Yes      bool            `help:"With --project: write the project's rule without asking."`
	For      config.Duration `help:"Allow for this long only (at most 24h); the task's shield takes the rule off again after." placeholder:"DURATION"`
}

// Validate checks --for's range and its company in the grammar.
func (c *AllowCmd) Validate() error {
	switch {
	case c.For.D() > 24*time.Hour:
		return errors.New("--for: a duration up to 24h")
	case c.For.D() > 0 && c.Project:
		return errors.New("--for and --project: a project's rule does not end; give one of them")
	}
	return nil
}

func (c *AllowCmd) Run(env *cli.Env) error {
	v := clearance.Verdict{Action: clearance.Allow, Scope: clearance.ScopeOnce}
	switch {
	case c.Project:
		v.Scope = clearance.ScopeProject
	case c.For.D() > 0:
		v.Scope, v.Duration = clearance.ScopeDuration, c.For.D()
	}
	return decide(env, c.Requests, v, c.Yes)
}

// DenyCmd is `terok-clearance deny`.
type DenyCmd struct {
	Requests []string `arg:"" name:"request" help:"Request ids (terok-clearance ls lists them), or - to read JSON lines from stdin as watch prints them (their id, task and dest are used)."`
	Project  bool     `help:"Also write the destination into the project's [shield] deny, so the project's later tasks never reach it; asks on a terminal, else needs --yes."`
	Yes      bool     `help:"With --project: write the project's rule without asking."`
}

func (c *DenyCmd) Run(env *cli.Env) error {
	v := clearance.Verdict{Action: clearance.Deny, Scope: clearance.ScopeOnce}
	if c.Project {
		v.Scope = clearance.ScopeProject
	}
	return decide(env, c.Requests, v, c.Yes)
}

// decide takes the verdict v on the requests named by args: ids, or - for
// lines on stdin.
func decide(env *cli.Env, args []string, v clearance.Verdict, yes bool) error {
	if slices.Contains(args, "-") {
		if len(args) > 1 {
			return cli.Usagef("give request ids or -, not both")
		}
		return decideLines(env, v, yes)
	}
	for _, id := range args {
		if !clearance.ValidID(id) {
			return cli.Usagef("%q is not a request id", id).WithHint("'terok-clearance ls' lists the pending requests")
		}
	}
	s, err := session.OpenPaths(env)
	if err != nil {
		return err
	}
	h := clearhub.New(s.Paths)
	pending, perr := h.Pending(env.Ctx, clearhub.Filter{})
	if env.Ctx.Err() != nil {
		return env.Ctx.Err()
	}
	var todo []clearance.Request
	for _, id := range args {
		i := slices.IndexFunc(pending, func(r clearance.Request) bool { return r.ID == id })
		if i < 0 {
			e := cli.NotFoundf("request %s is not pending (decided, expired, or no such request); nothing changed", id)
			if perr != nil {
				e = e.WithHint("some wardens did not answer: %v", perr)
			}
			return e
		}
		if r := pending[i]; r.Kind == clearance.KindOverflow {
			return cli.Failf("request %s stands for %d destinations and cannot be decided; nothing changed", id, r.More).
				WithHint("decide its destinations when they get requests of their own (after others are decided)")
		}
		if !slices.ContainsFunc(todo, func(r clearance.Request) bool { return r.ID == id }) {
			todo = append(todo, pending[i])
		}
	}
	if v.Scope == clearance.ScopeProject {
		var dests, projects []string
		for _, r := range todo {
			dests = append(dests, clearance.Display(r.Dest))
			if !slices.Contains(projects, r.Project) {
				projects = append(projects, clearance.Display(r.Project))
			}
		}
		q := fmt.Sprintf("%s %s for every later task of project %s too (written into its project.toml)?",
			verb(v.Action), strings.Join(dests, ", "), strings.Join(projects, ", "))
		if err := env.Confirm(q, yes); err != nil {
			return err
		}
	}
	v.Surface = clearance.SurfaceCLI
	out := verdictStream(env)
	for _, r := range todo {
		ev, err := h.Decide(env.Ctx, r.Task, r.ID, r.Dest, v)
		if ev.Type != "" {
			if perr := out.Print(ev); perr != nil {
				return perr
			}
		}
		if err != nil {
			return refusal(r.ID, ev, err)
		}
	}
	return nil
}

// refusal is the one-line error of a verdict the warden refused (nothing
// changed) or could not apply.
func refusal(id string, ev clearance.Event, err error) error {
	if ev.Type == "" {
		e := cli.Failf("request %s: %v; nothing changed", id, err)
		if errors.Is(err, clearance.ErrUnknownID) || errors.Is(err, clearance.ErrStale) {
			e.Code = cli.ExitNotFound
		}
		return e
	}
	return cli.Failf("request %s: %v", id, err)
}

func verb(a clearance.Action) string {
	if a == clearance.Deny {
		return "Deny"
	}
	return "Allow"
}

// line is what decideLines reads of a line on stdin: an event of watch (or
// a request of ls).
type line struct {
	Type clearance.EventType `json:"type"`
	ID   string              `json:"id"`
	Task string              `json:"task"`
	Dest string              `json:"dest"`
}

// decideLines takes verdict v on each request read from stdin as it
// comes, so that `terok-clearance watch | ... | terok-clearance allow -`
// decides each request as watch prints it. A line is a JSON object with
// id, task and dest (a watch event or an ls line), or a bare id (looked
// up). Lines of events that end a request (decided, expired) and repeats
// of a request already taken are skipped. A refused line is reported on
// stderr and the rest go on; the exit is non-zero if any was refused.
func decideLines(env *cli.Env, v clearance.Verdict, yes bool) error {
	if v.Scope == clearance.ScopeProject {
		if err := env.Confirm(fmt.Sprintf("%s each destination read for every later task of its project too (written into its project.toml)?", verb(v.Action)), yes); err != nil {
			return err
		}
	}
	s, err := session.OpenPaths(env)
	if err != nil {
		return err
	}
	h := clearhub.New(s.Paths)
	v.Surface = clearance.SurfaceJSON
	out := verdictStream(env)
	seen := map[string]bool{}
	n, failed := 0, 0
	refuse := func(format string, a ...any) {
		failed++
		fmt.Fprintf(env.Stderr, "%s: %s\n", env.Prog, fmt.Sprintf(format, a...))
	}
	sc := bufio.NewScanner(env.Stdin)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for ln := 1; sc.Scan(); ln++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var l line
		if strings.HasPrefix(text, "{") {
			if err := json.Unmarshal([]byte(text), &l); err != nil {
				n++
				refuse("line %d: not a JSON object: %v", ln, err)
				continue
			}
		} else {
			l.ID = text
		}
		if l.Type == clearance.EventDecided || l.Type == clearance.EventExpired || seen[l.ID] {
			continue
		}
		n++
		if !clearance.ValidID(l.ID) {
			refuse("line %d: %q is not a request id", ln, clearance.Display(l.ID))
			continue
		}
		seen[l.ID] = true
		if l.Task == "" && l.Dest == "" { // a bare id
			rs, _ := h.Pending(env.Ctx, clearhub.Filter{})
			i := slices.IndexFunc(rs, func(r clearance.Request) bool { return r.ID == l.ID })
			if i < 0 {
				refuse("request %s is not pending (decided, expired, or no such request); nothing changed", l.ID)
				continue
			}
			l.Task, l.Dest = rs[i].Task, rs[i].Dest
		}
		if l.Task == "" || l.Dest == "" {
			refuse("line %d: request %s without its task and dest; nothing changed", ln, l.ID)
			continue
		}
		ev, err := h.Decide(env.Ctx, l.Task, l.ID, l.Dest, v)
		if ev.Type != "" {
			if perr := out.Print(ev); perr != nil {
				return perr
			}
		}
		if err != nil {
			if env.Ctx.Err() != nil {
				return env.Ctx.Err()
			}
			refuse("%v", refusal(l.ID, ev, err))
		}
	}
	if err := sc.Err(); err != nil {
		return cli.Failf("reading stdin: %v", err)
	}
	if failed > 0 {
		return cli.Failf("%d of %d verdicts refused or not applied", failed, n)
	}
	return nil
}

// verdictStream prints the decided events of allow and deny.
func verdictStream(env *cli.Env) *cli.Stream[clearance.Event] {
	return &cli.Stream[clearance.Event]{
		Env: env,
		Columns: []cli.Column[clearance.Event]{
			{Header: "TASK", Value: func(e clearance.Event) string { return clearance.Display(e.Task) }},
			{Header: "PROJECT", Value: func(e clearance.Event) string { return clearance.Display(e.Project) }},
			{Header: "DESTINATION", Value: func(e clearance.Event) string { return dest(e.Request) }},
			{Header: "VERDICT", Value: verdictText},
		},
	}
}
