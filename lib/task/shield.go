package task

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/netns"
	"github.com/terok-ai/terok-go/lib/nflog"
	"github.com/terok-ai/terok-go/lib/policy"
	"github.com/terok-ai/terok-go/lib/resolver"
	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/store"
	"github.com/terok-ai/terok-go/lib/warden"
)

// Postures of a task's shield (see shield.Posture).
const (
	PostureUp         = shield.PostureUp
	PostureDown       = shield.PostureDown
	PostureQuarantine = shield.PostureQuarantine
)

// DefaultDown is how long `terok-shield down` lowers the shield unless told.
const DefaultDown = 10 * time.Minute

// AuditWindow is how long a repeated blocked attempt to one destination
// stays one audit event.
const AuditWindow = 30 * time.Second

// ShieldState is a task's egress policy as its warden enforces it: the
// policy computed when the task was created, with every live change. It is
// kept in STATE/tasks/shield/ID.json, so a restarted warden enforces the
// same.
type ShieldState struct {
	Allow     []policy.Entry `json:"allow"`
	Deny      []policy.Entry `json:"deny"`
	Notes     []string       `json:"notes,omitempty"`
	Posture   shield.Posture `json:"posture"`
	DownUntil time.Time      `json:"down_until,omitzero"`
}

func (r *Runner) shieldPath(id string) string {
	return filepath.Join(r.Paths.State, "tasks", "shield", id+".json")
}

// ShieldAuditLog is a task's shield audit log: blocked attempts, refused
// names and rule changes, as JSON lines the task cannot write.
func (r *Runner) ShieldAuditLog(id string) string {
	return filepath.Join(r.Paths.AuditDir(), "shield", id+".jsonl")
}

// LoadShield reads a task's shield state.
func (r *Runner) LoadShield(id string) (ShieldState, error) {
	var s ShieldState
	if err := store.ReadJSON(r.shieldPath(id), &s); err != nil {
		return s, err
	}
	return s, s.parse()
}

// parse re-reads the targets' texts (the JSON keeps only those).
func (s *ShieldState) parse() error {
	for _, list := range [][]policy.Entry{s.Allow, s.Deny} {
		for i := range list {
			t, err := config.ParseTarget(list[i].Text)
			if err != nil {
				return fmt.Errorf("shield state: %w", err)
			}
			list[i].Target = t
		}
	}
	if s.Posture == "" {
		s.Posture = PostureUp
	}
	return nil
}

func (s ShieldState) policy() policy.Policy { return policy.Policy{Allow: s.Allow, Deny: s.Deny} }

// PostureAt is the shield's posture at t: a shield lowered until a time
// that has passed is up again (the kernel raised it; see Conn.Down).
func (s ShieldState) PostureAt(t time.Time) shield.Posture {
	if s.Posture == PostureDown && !t.Before(s.DownUntil) {
		return PostureUp
	}
	return s.Posture
}

func targetsOf(es []policy.Entry) []config.Target {
	out := make([]config.Target, len(es))
	for i, e := range es {
		out[i] = e.Target
	}
	return out
}

// taskPolicy computes the egress policy of a new task of project p.
func (r *Runner) taskPolicy(ctx context.Context, p config.Project, image string) (ShieldState, error) {
	home := r.Getenv("HOME")
	host := policy.Host{Lookup: policy.CachedHostLookup(policy.HostLookup(r.Getenv, home),
		filepath.Join(r.Paths.Cache, "shield", "host-sources.json"), r.Getenv, home)}
	names := p.Shield.Profiles
	if len(names) == 0 {
		names = r.Global.Shield.Profiles
	}
	all, err := policy.Profiles(r.Paths)
	if err != nil {
		return ShieldState{}, err
	}
	for _, n := range names {
		if slices.Contains(all[n].Follow, "distribution-mirrors") {
			host.Mirrors = ImageMirrors(ctx, r.Engine, r.Paths, image)
			break
		}
	}
	pol, err := policy.For(r.Paths, r.Global, p, host)
	if err != nil {
		return ShieldState{}, err
	}
	return ShieldState{Allow: pol.Allow, Deny: pol.Deny, Notes: pol.Notes, Posture: PostureUp}, nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// ImageMirrors are the hosts an image's package manager uses, read once per
// image with a probe container and kept under DATA/shield/mirrors.
// terok-image build reads them after each build, so that starting a task
// normally finds them there.
func ImageMirrors(ctx context.Context, e *engine.Engine, paths config.Paths, image string) []string {
	cache := filepath.Join(paths.Data, "shield", "mirrors", unsafeName.ReplaceAllString(image, "_")+".json")
	var hosts []string
	if store.ReadJSON(cache, &hosts) == nil {
		return hosts
	}
	p, err := e.RunProbe(ctx, image, "sh", "-c",
		"cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources /etc/yum.repos.d/*.repo 2>/dev/null; true")
	if err != nil || p.ExitCode != 0 {
		return nil
	}
	hosts = policy.ParseSources(p.Output)
	if hosts == nil {
		hosts = []string{}
	}
	os.MkdirAll(filepath.Dir(cache), 0o700)
	store.WriteJSONLocked(cache, hosts)
	return hosts
}

// ShieldEvent is a line of a task's shield audit log.
type ShieldEvent struct {
	Time     time.Time `json:"time"`
	Task     string    `json:"task"`
	Event    string    `json:"event"`            // blocked, refused, allow, deny, down, up, quarantine, start, down-connection
	Reason   string    `json:"reason,omitempty"` // blocked: deny, restricted, dns, blocked
	Name     string    `json:"name,omitempty"`   // refused: the name; blocked: the name last resolved for the address
	QType    string    `json:"qtype,omitempty"`
	Dst      string    `json:"dst,omitempty"`
	Port     uint16    `json:"port,omitempty"`
	Protocol string    `json:"protocol,omitempty"`
	Targets  []string  `json:"targets,omitempty"`
	Until    time.Time `json:"until,omitzero"`
	Repeats  int       `json:"repeats,omitempty"` // attempts folded into this one since the last event for the destination
}

// shieldService is the shield's part of a task's warden: the firewall's
// heartbeat, the resolver, the NFLOG reader, the audit log and the live
// control of the policy.
type shieldService struct {
	r     *Runner
	id    string
	pid   int
	conn  *shield.Conn
	res   *resolver.Resolver
	log   *nflog.Reader
	audit string

	mu       sync.Mutex
	state    ShieldState
	names    map[netip.Addr]string
	seen     map[string]*seenEntry
	stopBeat chan struct{}
	beatDone chan struct{}
	closers  []func()
}

type seenEntry struct {
	last    time.Time
	repeats int
}

// startShield enforces task id's policy in the namespace of process pid:
// it checks that the hook installed terok's ruleset, applies the task's
// policy and verifies it, starts the heartbeat, the resolver on the task's
// 127.0.0.1:53, the NFLOG reader and the control socket. On an error the
// task is left with the hook's ruleset: nothing out.
func (r *Runner) startShield(ctx context.Context, id string, pid int) (_ *shieldService, err error) {
	st, err := r.LoadShield(id)
	if err != nil {
		return nil, fmt.Errorf("the task's egress policy: %w", err)
	}
	c, err := shield.Open(pid)
	if err != nil {
		return nil, err
	}
	s := &shieldService{r: r, id: id, pid: pid, conn: c, audit: r.ShieldAuditLog(id), state: st,
		names: map[netip.Addr]string{}, seen: map[string]*seenEntry{}}
	s.closers = append(s.closers, func() { c.Close() })
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if _, err := c.Verify(); errors.Is(err, shield.ErrNoRuleset) {
		return nil, errors.New("the shield's OCI hook did not install the task's ruleset: is it registered? (terok setup; terok doctor checks)")
	} else if err != nil {
		var ve *shield.VerifyError
		if !errors.As(err, &ve) {
			return nil, err
		}
	}
	if err := s.apply(); err != nil {
		return nil, err
	}
	if st.PostureAt(time.Now()) != PostureQuarantine {
		s.startBeat()
	}

	var ups []string
	for _, u := range r.Global.Shield.Resolvers {
		a, err := config.ResolverAddr(u)
		if err != nil {
			return nil, err
		}
		ups = append(ups, a)
	}
	s.res, err = resolver.New(resolver.Config{Policy: s.resolverPolicy(), Learn: s.learn, Blocked: s.refused, Upstreams: ups})
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() { s.res.Close() })
	pc, err := warden.ListenPacketInNetNS(pid, "127.0.0.1:53")
	if err != nil {
		return nil, fmt.Errorf("the task's resolver: %w", err)
	}
	l, err := warden.ListenInNetNS(pid, "127.0.0.1:53")
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("the task's resolver: %w", err)
	}
	go s.res.ServeUDP(pc)
	go s.res.ServeTCP(l)

	if err := netns.Do(pid, func() (err error) { s.log, err = nflog.Open(shield.DefaultLogGroup); return err }); err != nil {
		return nil, fmt.Errorf("the task's firewall log: %w", err)
	}
	s.closers = append(s.closers, func() { s.log.Close() })
	go s.readLog()

	stop, err := warden.ServeControl(ctx, warden.ControlPath(r.Paths.Runtime, id), s.handle)
	if err != nil {
		return nil, fmt.Errorf("the warden's control socket: %w", err)
	}
	s.closers = append(s.closers, stop)
	s.event(ShieldEvent{Event: "start", Targets: texts(st.Allow)})
	return s, nil
}

// close stops the service; the ruleset stays, and with no heartbeat it
// lets nothing out.
func (s *shieldService) close() {
	s.stopHeartbeat()
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

// apply installs the state's policy in one batch (the learned sets start
// empty), renews the heartbeat and verifies the ruleset against it.
func (s *shieldService) apply() error {
	host, err := shield.HostAddresses()
	if err != nil {
		return err
	}
	p := shield.Policy{Allow: targetsOf(s.state.Allow), Deny: targetsOf(s.state.Deny), Host: host}
	if err := s.conn.Apply(p); err != nil {
		return err
	}
	switch s.state.PostureAt(time.Now()) {
	case PostureQuarantine:
		// No heartbeat: nothing but loopback.
	case PostureDown:
		// A fresh table has no down element: put back what is left.
		if err := s.conn.Heartbeat(); err != nil {
			return err
		}
		if err := s.conn.Down(time.Until(s.state.DownUntil)); err != nil {
			return err
		}
	default:
		if err := s.conn.Heartbeat(); err != nil {
			return err
		}
	}
	if _, err := s.conn.VerifyPolicy(p); err != nil {
		return fmt.Errorf("the task's ruleset does not verify: %w", err)
	}
	return nil
}

func (s *shieldService) startBeat() {
	if s.stopBeat != nil {
		return
	}
	s.stopBeat, s.beatDone = make(chan struct{}), make(chan struct{})
	stop, done := s.stopBeat, s.beatDone
	go func() {
		defer close(done)
		if err := s.conn.KeepAlive(stop, 0); err != nil {
			fmt.Fprintf(os.Stderr, "warden: heartbeat: %v\n", err)
		}
	}()
}

func (s *shieldService) stopHeartbeat() {
	if s.stopBeat == nil {
		return
	}
	close(s.stopBeat)
	<-s.beatDone
	s.stopBeat, s.beatDone = nil, nil
}

// resolverPolicy is what the resolver answers in the current posture.
// While the shield is down it answers every name not denied, until the
// time the kernel raises the shield again; then only the policy's.
func (s *shieldService) resolverPolicy() resolver.Policy {
	pol := s.state.policy()
	switch s.state.Posture {
	case PostureQuarantine:
		return resolver.PolicyFunc(func(string) bool { return false })
	case PostureDown:
		until := s.state.DownUntil
		return resolver.PolicyFunc(func(name string) bool {
			if !time.Now().Before(until) {
				return pol.Allowed(name)
			}
			for _, e := range pol.Deny {
				if e.Target.Matches(name) {
					return false
				}
			}
			return true
		})
	}
	return pol
}

// learn lets the addresses of an answered name through the firewall. A
// name the policy does not allow is answered only while the shield is
// down, where the down rule lets its addresses through: they are not
// learned, so nothing of the down time outlives it.
func (s *shieldService) learn(name string, addrs []netip.Addr, ttl time.Duration) error {
	s.mu.Lock()
	allowed := s.state.policy().Allowed(name)
	for _, a := range addrs {
		s.names[a] = name
	}
	s.mu.Unlock()
	if !allowed {
		return nil
	}
	return s.conn.LearnAll(addrs, ttl)
}

func (s *shieldService) refused(name string, qtype uint16) {
	s.event(ShieldEvent{Event: "refused", Name: name, QType: dns.TypeToString[qtype]})
}

func (s *shieldService) readLog() {
	for {
		evs, err := s.log.Read()
		if err != nil {
			return
		}
		for _, ev := range evs {
			// The kernel's own link-local multicast (IPv6 router
			// solicitations, MLD reports) is not the task's doing.
			if ev.Dst.IsLinkLocalMulticast() || ev.Dst.IsInterfaceLocalMulticast() {
				continue
			}
			reason := strings.TrimSuffix(strings.TrimPrefix(ev.Prefix, "terok "), ": ")
			e := ShieldEvent{Event: "blocked", Reason: reason, Dst: ev.Dst.String(), Port: ev.DstPort, Protocol: ev.Protocol}
			if reason == "down" {
				e.Event, e.Reason = "down-connection", ""
			}
			s.mu.Lock()
			e.Name = s.names[ev.Dst]
			s.mu.Unlock()
			s.event(e)
		}
	}
}

// event writes an audit event; blocked attempts and refused names are
// folded per destination over AuditWindow.
func (s *shieldService) event(e ShieldEvent) {
	e.Time, e.Task = time.Now().UTC(), s.id
	if e.Event == "blocked" || e.Event == "refused" || e.Event == "down-connection" {
		key := fmt.Sprintf("%s %s %s %d %s", e.Event, e.Name, e.Dst, e.Port, e.Protocol)
		if e.Event == "refused" {
			key = "refused " + e.Name
		}
		s.mu.Lock()
		se := s.seen[key]
		if se != nil && e.Time.Sub(se.last) < AuditWindow {
			se.repeats++
			s.mu.Unlock()
			return
		}
		if se != nil {
			e.Repeats = se.repeats
		}
		if len(s.seen) > 4096 {
			// A task that tries many destinations: forget the quiet ones.
			for k, v := range s.seen {
				if e.Time.Sub(v.last) >= AuditWindow {
					delete(s.seen, k)
				}
			}
		}
		s.seen[key] = &seenEntry{last: e.Time}
		s.mu.Unlock()
	}
	if err := store.AppendJSON(s.audit, e); err != nil {
		fmt.Fprintf(os.Stderr, "warden: audit: %v\n", err)
	}
}

func texts(es []policy.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Text
	}
	return out
}

// ShieldRules is what `terok-shield rules` prints of a task.
type ShieldRules struct {
	Posture   shield.Posture `json:"posture"`
	DownUntil time.Time      `json:"down_until,omitzero"`
	Allow     []policy.Entry `json:"allow"`
	Deny      []policy.Entry `json:"deny"`
	Learned   []LearnedAddr  `json:"learned"`
	Notes     []string       `json:"notes,omitempty"`
	Alive     bool           `json:"alive"`
}

// LearnedAddr is an address the resolver let through, and for which name.
type LearnedAddr struct {
	Addr    string    `json:"addr"`
	Name    string    `json:"name,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
}

// handle answers the warden's control requests (terok-shield's live verbs).
func (s *shieldService) handle(_ context.Context, req warden.Request) (any, error) {
	var ts []config.Target
	for _, t := range req.Targets {
		x, err := config.ParseTarget(t)
		if err != nil {
			return nil, err
		}
		ts = append(ts, x)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch req.Op {
	case "allow", "deny":
		if len(ts) == 0 {
			return nil, errors.New("no target")
		}
		if req.Op == "allow" {
			for _, t := range ts {
				if err := config.CheckAllow(t); err != nil {
					return nil, err
				}
			}
		}
		if err := s.change(req.Op, ts); err != nil {
			return nil, err
		}
	case "down":
		d := DefaultDown
		if req.Duration != "" {
			x, err := time.ParseDuration(req.Duration)
			if err != nil || x <= 0 || x > 24*time.Hour {
				return nil, fmt.Errorf("down: a duration up to 24h, like 10m: %q", req.Duration)
			}
			d = x
		}
		if s.state.PostureAt(time.Now()) == PostureQuarantine {
			return nil, errors.New("the task is quarantined: 'terok-shield up' first")
		}
		if err := s.conn.Down(d); err != nil {
			return nil, err
		}
		s.state.Posture, s.state.DownUntil = PostureDown, time.Now().Add(d).UTC()
		s.res.SetPolicy(s.resolverPolicy())
		s.saveLocked()
		go s.event(ShieldEvent{Event: "down", Until: s.state.DownUntil})
	case "up":
		s.state.Posture, s.state.DownUntil = PostureUp, time.Time{}
		if err := s.apply(); err != nil {
			return nil, err
		}
		s.startBeat()
		s.res.SetPolicy(s.resolverPolicy())
		s.saveLocked()
		go s.event(ShieldEvent{Event: "up"})
	case "quarantine":
		s.stopHeartbeat()
		if err := s.conn.Expire(); err != nil {
			return nil, err
		}
		s.conn.Up()
		s.state.Posture, s.state.DownUntil = PostureQuarantine, time.Time{}
		s.res.SetPolicy(s.resolverPolicy())
		s.saveLocked()
		go s.event(ShieldEvent{Event: "quarantine"})
	case "rules", "status":
	default:
		return nil, fmt.Errorf("unknown request %q", req.Op)
	}
	return s.rulesLocked()
}

// guard closes the gate to a quarantined task: quarantine (and terok
// panic) cut the task off from the gate as well as from the network.
func (s *shieldService) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.mu.Lock()
		q := s.state.PostureAt(time.Now()) == PostureQuarantine
		s.mu.Unlock()
		if q {
			http.Error(w, "the task is quarantined: its gate is closed until terok-shield up", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, req)
	})
}

// change allows or denies targets live: the state first, then the sets (one
// batch each), then the resolver. Deny beats allow, so allowing a target
// takes it off the deny list and the other way round.
func (s *shieldService) change(op string, ts []config.Target) error {
	from := "terok-shield " + op
	add, drop := &s.state.Allow, &s.state.Deny
	if op == "deny" {
		add, drop = drop, add
	}
	var addrs []config.Target
	names := false
	for _, t := range ts {
		*drop = slices.DeleteFunc(*drop, func(e policy.Entry) bool { return e.Text == t.String() })
		if !slices.ContainsFunc(*add, func(e policy.Entry) bool { return e.Text == t.String() }) {
			*add = append(*add, policy.Entry{Target: t, Text: t.String(), From: from})
		}
		if t.Kind == config.TargetAddr || t.Kind == config.TargetRange {
			addrs = append(addrs, t)
		} else {
			names = true
		}
	}
	var err error
	switch {
	case op == "deny" && names:
		// Addresses learned for a name now denied must go: start the
		// learned sets afresh (allowed names are learned again on their
		// next lookup).
		err = s.apply()
	case op == "deny":
		if err = s.conn.Unallow(addrs...); err == nil {
			err = s.conn.Deny(addrs...)
		}
	case len(addrs) > 0:
		if err = s.conn.Undeny(addrs...); err == nil {
			err = s.conn.Allow(addrs...)
		}
	}
	if err != nil {
		return err
	}
	s.res.SetPolicy(s.resolverPolicy())
	s.saveLocked()
	var out []string
	for _, t := range ts {
		out = append(out, t.String())
	}
	go s.event(ShieldEvent{Event: op, Targets: out})
	return nil
}

func (s *shieldService) saveLocked() {
	if err := store.WriteJSONLocked(s.r.shieldPath(s.id), s.state); err != nil {
		fmt.Fprintf(os.Stderr, "warden: saving the shield state: %v\n", err)
	}
}

func (s *shieldService) rulesLocked() (ShieldRules, error) {
	c, err := s.conn.Contents()
	if err != nil {
		return ShieldRules{}, err
	}
	posture := s.state.PostureAt(time.Now())
	var until time.Time
	if posture == PostureDown {
		until = s.state.DownUntil
	}
	out := ShieldRules{Posture: posture, DownUntil: until, Allow: s.state.Allow, Deny: s.state.Deny,
		Notes: s.state.Notes, Alive: c.Alive, Learned: []LearnedAddr{}}
	for _, l := range c.Learned {
		out.Learned = append(out.Learned, LearnedAddr{Addr: l.Addr.String(), Name: s.names[l.Addr], Expires: time.Now().Add(l.Expires).UTC().Truncate(time.Second)})
	}
	return out, nil
}

// ShieldControl sends a request to a running task's warden.
func (r *Runner) ShieldControl(ctx context.Context, id string, req warden.Request) (ShieldRules, error) {
	var out ShieldRules
	err := warden.Call(ctx, warden.ControlPath(r.Paths.Runtime, id), req, &out)
	return out, err
}
