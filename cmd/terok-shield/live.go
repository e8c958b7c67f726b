package shieldcmd

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/terok-ai/terok-go/lib/clearance"
	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/policy"
	"github.com/terok-ai/terok-go/lib/session"
	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/task"
	"github.com/terok-ai/terok-go/lib/warden"
	"github.com/terok-ai/terok-go/lib/warden/shieldsvc"
)

// open is what the live verbs need of terok's state: its paths, and
// neither config.toml nor the engine (they talk to wardens, and read
// records and audit logs).
func open(env *cli.Env) (*session.Session, *task.Runner, error) {
	s, err := session.OpenPaths(env)
	if err != nil {
		return nil, nil, err
	}
	return s, s.RunnerWithoutEngine(), nil
}

// control runs one operation on a task's warden.
func control(env *cli.Env, ref string, op func(*warden.Client) (warden.Rules, error)) (string, warden.Rules, error) {
	s, r, err := open(env)
	if err != nil {
		return "", warden.Rules{}, err
	}
	id, err := s.ResolveTask(ref)
	if err != nil {
		return "", warden.Rules{}, err
	}
	rules, err := op(r.Warden(id))
	if errors.Is(err, warden.ErrNoWarden) {
		return id, rules, cli.Failf("task %s is not running (its warden does not answer)", id).WithHint("'terok-task start %s' starts it", id)
	}
	if err != nil {
		return id, rules, cli.Failf("task %s: %v", id, err)
	}
	return id, rules, nil
}

// Change is what allow, deny, down, up and quarantine print.
type Change struct {
	Task      string         `json:"task"`
	Op        string         `json:"op"`
	Targets   []string       `json:"targets,omitempty"`
	Posture   shield.Posture `json:"posture"`
	DownUntil time.Time      `json:"down_until,omitzero"`
}

// AllowCmd is `terok-shield allow`.
type AllowCmd struct {
	Task    string   `arg:"" help:"The task (id or unique prefix)." completion:"task"`
	Targets []string `arg:"" name:"target" help:"Domains, *.wildcard domains, addresses or CIDR ranges."`
}

func (c *AllowCmd) Run(env *cli.Env) error { return change(env, "allow", c.Task, c.Targets) }

// DenyCmd is `terok-shield deny`.
type DenyCmd struct {
	Task    string   `arg:"" help:"The task (id or unique prefix)." completion:"task"`
	Targets []string `arg:"" name:"target" help:"Domains, *.wildcard domains, addresses or CIDR ranges."`
}

func (c *DenyCmd) Run(env *cli.Env) error { return change(env, "deny", c.Task, c.Targets) }

func change(env *cli.Env, op, ref string, targets []string) error {
	var ts []config.Target
	var canon []string
	for _, t := range targets {
		x, err := config.ParseTarget(t)
		if err == nil && op == "allow" {
			err = config.CheckAllow(x)
		}
		if err != nil {
			return cli.Usagef("%v", err)
		}
		ts = append(ts, x)
		canon = append(canon, x.String())
	}
	id, rules, err := control(env, ref, func(w *warden.Client) (warden.Rules, error) {
		if op == "allow" {
			return w.Allow(env.Ctx, ts)
		}
		return w.Deny(env.Ctx, ts)
	})
	if err != nil {
		return err
	}
	return printChange(env, Change{Task: id, Op: op, Targets: canon, Posture: rules.Posture, DownUntil: rules.DownUntil})
}

// DownCmd is `terok-shield down`.
type DownCmd struct {
	Task string          `arg:"" help:"The task (id or unique prefix)." completion:"task"`
	For  config.Duration `help:"How long the shield stays down; the kernel raises it again after (default 10m, at most 24h)." placeholder:"DURATION"`
}

// Validate checks --for's range in the grammar (a negative one is not a
// config.Duration).
func (c *DownCmd) Validate() error {
	if c.For.D() > 24*time.Hour {
		return errors.New("--for: a duration up to 24h")
	}
	return nil
}

func (c *DownCmd) Run(env *cli.Env) error {
	id, rules, err := control(env, c.Task, func(w *warden.Client) (warden.Rules, error) { return w.Down(env.Ctx, c.For.D()) })
	if err != nil {
		return err
	}
	env.Warnf("the shield of task %s is DOWN until %s: every address but private, link-local, metadata and the host's is reachable; each new connection is logged", id, rules.DownUntil.Local().Format("15:04:05"))
	return printChange(env, Change{Task: id, Op: "down", Posture: rules.Posture, DownUntil: rules.DownUntil})
}

// UpCmd is `terok-shield up`.
type UpCmd struct {
	Task string `arg:"" help:"The task (id or unique prefix)." completion:"task"`
}

func (c *UpCmd) Run(env *cli.Env) error {
	return posture(env, "up", c.Task, func(w *warden.Client) (warden.Rules, error) { return w.Up(env.Ctx) })
}

// QuarantineCmd is `terok-shield quarantine`.
type QuarantineCmd struct {
	Task string `arg:"" help:"The task (id or unique prefix)." completion:"task"`
}

func (c *QuarantineCmd) Run(env *cli.Env) error {
	return posture(env, "quarantine", c.Task, func(w *warden.Client) (warden.Rules, error) { return w.Quarantine(env.Ctx) })
}

func posture(env *cli.Env, op, ref string, call func(*warden.Client) (warden.Rules, error)) error {
	id, rules, err := control(env, ref, call)
	if err != nil {
		return err
	}
	return printChange(env, Change{Task: id, Op: op, Posture: rules.Posture})
}

func printChange(env *cli.Env, c Change) error {
	until := ""
	if !c.DownUntil.IsZero() {
		until = c.DownUntil.Local().Format(time.DateTime)
	}
	return cli.Object(env, c, []cli.Field{{Name: "task", Value: c.Task}, {Name: "change", Value: c.Op},
		{Name: "targets", Value: strings.Join(c.Targets, " ")}, {Name: "posture", Value: string(c.Posture)}, {Name: "down until", Value: until}})
}

// Rule is a line of `terok-shield rules`.
type Rule struct {
	Action  string    `json:"action"` // allow, deny, learned, names, address-port
	Target  string    `json:"target"`
	From    string    `json:"from,omitempty"`
	Name    string    `json:"name,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
}

// RulesCmd is `terok-shield rules`.
type RulesCmd struct {
	Task string `arg:"" help:"The task (id or unique prefix)." completion:"task"`
}

func (c *RulesCmd) Run(env *cli.Env) error {
	_, rules, err := control(env, c.Task, func(w *warden.Client) (warden.Rules, error) { return w.Rules(env.Ctx) })
	if err != nil {
		return err
	}
	var out []Rule
	for _, e := range rules.Deny {
		out = append(out, Rule{Action: "deny", Target: e.Text, From: e.From})
	}
	for _, e := range rules.Allow {
		out = append(out, Rule{Action: "allow", Target: e.Text, From: e.From})
	}
	for _, l := range rules.Learned {
		out = append(out, Rule{Action: "learned", Target: l.Addr, Name: l.Name, Expires: l.Expires})
	}
	if rules.NameBinding != "" {
		out = append(out, Rule{Action: "names", Target: "tcp to learned addresses", From: "name_binding " + rules.NameBinding})
	}
	for _, p := range rules.AddressPorts {
		out = append(out, Rule{Action: "address-port", Target: fmt.Sprintf("tcp/%d", p), From: "address_ports"})
	}
	for _, n := range rules.Notes {
		env.Warnf("%s", n)
	}
	return cli.List(env, out, []cli.Column[Rule]{
		{Header: "ACTION", Value: func(r Rule) string { return r.Action }},
		{Header: "TARGET", Value: func(r Rule) string { return r.Target }},
		{Header: "FROM", Value: func(r Rule) string {
			if r.Name != "" {
				return "resolved " + r.Name
			}
			return r.From
		}},
	})
}

// State is a line of `terok-shield status`.
type State struct {
	Task      string         `json:"task"`
	Project   string         `json:"project"`
	Running   bool           `json:"running"`
	Posture   shield.Posture `json:"posture"`
	DownUntil time.Time      `json:"down_until,omitzero"`
	Alive     bool           `json:"alive"`
	Allow     int            `json:"allow"`
	Deny      int            `json:"deny"`
	Learned   int            `json:"learned"`
}

// StatusCmd is `terok-shield status`.
type StatusCmd struct {
	Task []string `arg:"" optional:"" help:"Tasks (ids or unique prefixes; default: every task), or - to read them from stdin." completion:"task"`
}

func (c *StatusCmd) Run(env *cli.Env) error {
	s, r, err := open(env)
	if err != nil {
		return err
	}
	refs, _, err := env.Targets(c.Task)
	if err != nil {
		return err
	}
	var ids []string
	if len(refs) == 0 {
		if ids, err = r.Store().IDs(); err != nil {
			return err
		}
	}
	for _, ref := range refs {
		id, err := s.ResolveTask(ref)
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	var out []State
	for _, id := range ids {
		rec, err := r.Store().Load(id)
		if err != nil {
			env.Warnf("skipping task %s: %v", id, err)
			continue
		}
		st := State{Task: id, Project: rec.Project}
		if rules, err := r.Warden(id).Status(env.Ctx); err == nil {
			st.Running, st.Posture, st.DownUntil, st.Alive = true, rules.Posture, rules.DownUntil, rules.Alive
			st.Allow, st.Deny, st.Learned = len(rules.Allow), len(rules.Deny), len(rules.Learned)
		} else if sh, err := r.LoadShield(id); err == nil {
			st.Posture, st.Allow, st.Deny = sh.PostureAt(time.Now()), len(sh.Allow), len(sh.Deny)
		}
		out = append(out, st)
	}
	return cli.List(env, out, []cli.Column[State]{
		{Header: "TASK", Value: func(s State) string { return s.Task }},
		{Header: "PROJECT", Value: func(s State) string { return s.Project }},
		{Header: "RUNNING", Value: func(s State) string { return yesNo(s.Running) }},
		{Header: "POSTURE", Value: func(s State) string { return string(s.Posture) }},
		{Header: "OPEN", Value: func(s State) string { return yesNo(s.Alive) }},
		{Header: "ALLOW", Value: func(s State) string { return fmt.Sprint(s.Allow) }},
		{Header: "DENY", Value: func(s State) string { return fmt.Sprint(s.Deny) }},
		{Header: "LEARNED", Value: func(s State) string { return fmt.Sprint(s.Learned) }},
	})
}

// ProfileView is a line of `terok-shield profiles`.
type ProfileView struct {
	policy.Profile
	Resolves []string `json:"resolves"`
	Note     string   `json:"note,omitempty"`
}

// ProfilesCmd is `terok-shield profiles`.
type ProfilesCmd struct{}

func (ProfilesCmd) Run(env *cli.Env) error {
	s, err := session.OpenPaths(env)
	if err != nil {
		return err
	}
	all, err := policy.Profiles(s.Paths)
	if err != nil {
		return cli.Failf("%v", err)
	}
	look := policy.HostLookup(env.Getenv, env.Getenv("HOME"))
	var out []ProfileView
	for _, p := range all {
		v := ProfileView{Profile: p, Resolves: []string{}}
		if v.Allow == nil {
			v.Allow = []string{}
		}
		if v.Follow == nil {
			v.Follow = []string{}
		}
		for _, src := range p.Follow {
			if src == "distribution-mirrors" {
				v.Note = "distribution-mirrors: read from each task's image when the task starts"
				continue
			}
			hosts, note := look(src)
			v.Resolves = append(v.Resolves, hosts...)
			if note != "" {
				v.Note = src + ": " + note
			}
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return cli.List(env, out, []cli.Column[ProfileView]{
		{Header: "NAME", Value: func(p ProfileView) string { return p.Name }},
		{Header: "ORIGIN", Value: func(p ProfileView) string { return p.Origin }},
		{Header: "ALLOWS", Value: func(p ProfileView) string {
			return strings.Join(append(append([]string{}, p.Allow...), p.Resolves...), " ")
		}},
		{Header: "DESCRIPTION", Value: func(p ProfileView) string { return p.Description }},
	})
}

// LogsCmd is `terok-shield logs`.
type LogsCmd struct {
	Task string `arg:"" optional:"" help:"The task (id or unique prefix; default: every task)." completion:"task"`
	Tail int    `short:"n" help:"Only the last N events." placeholder:"N"`
}

// Validate checks -n's range in the grammar.
func (c *LogsCmd) Validate() error {
	if c.Tail < 0 {
		return errors.New("-n: a count of events")
	}
	return nil
}

func (c *LogsCmd) Run(env *cli.Env) error {
	s, r, err := open(env)
	if err != nil {
		return err
	}
	files, err := auditFiles(s, r, c.Task)
	if err != nil {
		return err
	}
	var events []auditLine
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		for _, l := range strings.Split(string(b), "\n") {
			if e, ok := parseAudit(l); ok {
				events = append(events, e)
			}
		}
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].Time.Before(events[j].Time) })
	if c.Tail > 0 && len(events) > c.Tail {
		events = events[len(events)-c.Tail:]
	}
	out := auditStream(env)
	for _, e := range events {
		if err := out.Print(e); err != nil {
			return err
		}
	}
	return nil
}

// auditFiles are the audit logs of one task, or of all.
func auditFiles(s *session.Session, r *task.Runner, ref string) ([]string, error) {
	if ref != "" {
		id, err := s.ResolveTask(ref)
		if err != nil {
			return nil, err
		}
		return []string{r.ShieldAuditLog(id)}, nil
	}
	return filepath.Glob(filepath.Join(filepath.Dir(r.ShieldAuditLog("x")), "*.jsonl"))
}

// auditLine is an event of a task's shield audit log: as written, and
// read.
type auditLine struct {
	raw json.RawMessage
	shieldsvc.Event
	clr clearance.AuditRecord // the clearance's request and verdict lines
}

// parseAudit reads one line of an audit log; a line that is not an event
// (a partial or damaged one) is skipped.
func parseAudit(line string) (auditLine, bool) {
	var e auditLine
	if line == "" || json.Unmarshal([]byte(line), &e.Event) != nil {
		return e, false
	}
	if e.Event.Event == clearance.AuditRequest || e.Event.Event == clearance.AuditVerdict {
		_ = json.Unmarshal([]byte(line), &e.clr) // the same line: it parsed above
	}
	e.raw = json.RawMessage(line)
	return e, true
}

// auditStream prints audit events: each line as the warden wrote it when
// piped, a line a person reads on a terminal.
func auditStream(env *cli.Env) *cli.Stream[auditLine] {
	return &cli.Stream[auditLine]{
		Env:  env,
		JSON: func(e auditLine) any { return e.raw },
		Text: func(env *cli.Env, e auditLine) error {
			_, err := fmt.Fprintf(env.Stdout, "%s  %s  %-15s %s\n", e.Time.Local().Format("15:04:05"), clearance.Display(e.Task),
				clearance.Display(e.Event.Event), auditDetail(e))
			return err
		},
	}
}

// auditDetail is what a person reads of an event after its time, task and
// kind. Every name and address in it came from a task (what it asked the
// resolver, where it connected) and goes through clearance.Display, so a
// hostile one cannot steer the terminal.
func auditDetail(l auditLine) string {
	e := l.Event
	show := clearance.Display
	switch e.Event {
	case "blocked":
		d := fmt.Sprintf("%s %s:%d (%s)", show(e.Protocol), show(e.Dst), e.Port, show(e.Reason))
		if e.Name != "" {
			d += " " + show(e.Name)
		}
		return d
	case "refused":
		return fmt.Sprintf("name %s (%s)", show(e.Name), show(e.QType))
	case "down-connection":
		return fmt.Sprintf("%s %s:%d", show(e.Protocol), show(e.Dst), e.Port)
	case clearance.AuditRequest, clearance.AuditVerdict:
		return clearanceDetail(l.clr)
	}
	ts := make([]string, len(e.Targets))
	for i, t := range e.Targets {
		ts[i] = show(t)
	}
	d := strings.Join(ts, " ")
	if !e.Until.IsZero() {
		d += " until " + e.Until.Format(time.RFC3339Nano)
	}
	return d
}

// clearanceDetail is a request's or a verdict's line: the request id, the
// destination as the request showed it, and for a verdict what was
// decided, how far, by whom, through which surface, and its failure.
func clearanceDetail(r clearance.AuditRecord) string {
	show := clearance.Display
	dest := r.Name
	if dest == "" {
		dest = r.Dst
	}
	if dest == "" && r.More > 0 {
		dest = fmt.Sprintf("(and %d more)", r.More)
	}
	d := show(r.ID) + " " + show(dest)
	if r.Port != 0 {
		d += fmt.Sprintf(":%d", r.Port)
	}
	if r.Protocol != "" {
		d += " " + show(r.Protocol)
	}
	if r.Event == clearance.AuditRequest {
		return d + " (" + show(string(r.Kind)) + ")"
	}
	d += " " + show(string(r.Action)) + " " + show(string(r.Scope))
	if !r.Until.IsZero() {
		d += " until " + r.Until.Format(time.RFC3339)
	}
	if r.Who != nil {
		d += fmt.Sprintf(" by uid %d", *r.Who)
	}
	if r.Surface != "" {
		d += " via " + show(string(r.Surface))
	}
	if r.Count > 1 {
		d += fmt.Sprintf(" (%d attempts)", r.Count)
	}
	if r.Error != "" {
		d += ": failed: " + printable(r.Error)
	}
	return d
}

// printable is a message (the warden's words, which may quote a task's)
// with whatever would not print as itself removed: control characters,
// escapes, bidirectional overrides; spaces stay.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, s)
}

// WatchCmd is `terok-shield watch`.
type WatchCmd struct {
	Task string `arg:"" optional:"" help:"The task (id or unique prefix; default: every task, also those started later)." completion:"task"`
}

func (c *WatchCmd) Run(env *cli.Env) error {
	s, r, err := open(env)
	if err != nil {
		return err
	}
	if c.Task != "" {
		if _, err := s.ResolveTask(c.Task); err != nil {
			return err
		}
	}
	out := auditStream(env)
	// Follow each log from its end; new logs (new tasks) from their start.
	offsets := map[string]int64{}
	first := true
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		files, err := auditFiles(s, r, c.Task)
		if err != nil {
			return err
		}
		for _, f := range files {
			off, known := offsets[f]
			fi, err := os.Stat(f)
			if err != nil {
				continue
			}
			if !known && first {
				offsets[f] = fi.Size()
				continue
			}
			if fi.Size() <= off {
				continue
			}
			if offsets[f], err = printFrom(f, off, out); err != nil {
				return err
			}
		}
		first = false
		select {
		case <-env.Ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// printFrom prints the events of an audit log from offset off and returns
// the offset after the last whole line (a partial line is read again next
// time). A log that cannot be read now is tried again next time too.
func printFrom(path string, off int64, out *cli.Stream[auditLine]) (int64, error) {
	fh, err := os.Open(path)
	if err != nil {
		return off, nil
	}
	defer fh.Close()
	if _, err := fh.Seek(off, io.SeekStart); err != nil {
		return off, nil
	}
	br := bufio.NewReader(fh)
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return off, nil
		}
		off += int64(len(l))
		if e, ok := parseAudit(strings.TrimSuffix(l, "\n")); ok {
			if err := out.Print(e); err != nil {
				return off, err
			}
		}
	}
}
