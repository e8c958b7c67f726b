package shieldsvc

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/terok-ai/terok-go/lib/clearance"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/netns"
	"github.com/terok-ai/terok-go/lib/nflog"
	"github.com/terok-ai/terok-go/lib/policy"
	"github.com/terok-ai/terok-go/lib/resolver"
	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/warden"
	"github.com/terok-ai/terok-go/lib/warden/egresssvc"
)

// Config is what the shield service of one task is given.
type Config struct {
	// State is the task's policy state (policy.State): read when the
	// service starts, written on every live change.
	State string
	// Audit is the task's shield audit log.
	Audit string
	// Resolvers are the upstream resolvers (config shield.resolvers);
	// empty: the host's.
	Resolvers []string
	// OnQuarantine, if set, is called each time the task is quarantined,
	// once the shield has cut it off (the vault's proxy revokes the task's
	// tokens then).
	OnQuarantine func()
	// OnAttempt, if set, is called for each name the resolver refuses and
	// each connection the firewall blocks (TCP and UDP), with the name
	// last resolved for the address when there is one: the clearance's
	// pending requests. Names and addresses the policy denies outright,
	// and everything while the task is quarantined, are not attempts a
	// person could allow. It is called at once, without deduplication, and
	// must not block.
	OnAttempt func(clearance.Attempt)
	// Hold, if set, is the task's hold mode (shield.clearance = "hold"):
	// the resolver holds a query for a name outside the policy, up to
	// HoldTimeout, while Hold waits for the verdict on the name's
	// clearance request (Hold is called for that name instead of
	// OnAttempt, and returns whether the verdict allowed it; an allow is
	// in the policy before it returns); and the firewall drops, rather
	// than rejects, a connection nothing allows, so that TCP retries it
	// after an allow. A name the policy denies outright, or any while the
	// task is quarantined, is not held. Hold must return when its ctx
	// ends.
	Hold func(ctx context.Context, a clearance.Attempt) bool
	// HoldTimeout is how long a query is held (shield.hold_timeout).
	HoldTimeout time.Duration
	// Names, if set, turns on name-bound egress (egress.go).
	Names *Names
}

// Service is the shield's part of a task's warden: the firewall's
// heartbeat, the resolver, the NFLOG reader, the audit log and the live
// control of the policy.
type Service struct {
	cfg   Config
	id    string
	conn  *shield.Conn
	res   *resolver.Resolver
	log   *nflog.Reader
	audit *auditLog

	mu    sync.Mutex
	state policy.State
	names map[netip.Addr]string
	// learnedFor are the names each learned address was answered for
	// (Names: rule binding).
	learnedFor map[netip.Addr][]string
	fwd        *egresssvc.Forwarder
	stopBeat   chan struct{}
	beatDone   chan struct{}
	closers    []func()
	temps      map[*temporary]struct{} // temporary allows still to end
	closed     bool
}

// New is the shield service for one task.
func New(c Config) *Service {
	return &Service{cfg: c, names: map[netip.Addr]string{}, learnedFor: map[netip.Addr][]string{}, temps: map[*temporary]struct{}{}}
}

var _ warden.Controller = (*Service)(nil)

// Start enforces the task's policy in its network namespace: it checks
// that the hook installed terok's ruleset, applies the task's policy and
// verifies it, starts the heartbeat, the resolver on the task's
// 127.0.0.1:53 and the NFLOG reader. On an error the task is left with the
// hook's ruleset: nothing out.
func (s *Service) Start(ctx context.Context, t *warden.Task) (err error) {
	defer func() {
		if err != nil {
			_ = s.Close() // it always returns nil
			err = fmt.Errorf("the task's shield: %w", err)
		}
	}()
	s.id = t.ID
	st, err := policy.LoadState(s.cfg.State)
	if err != nil {
		return fmt.Errorf("the task's egress policy: %w", err)
	}
	s.state = st
	s.audit = openAudit(s.cfg.Audit, t.ID)
	s.closers = append(s.closers, s.audit.close)
	c, err := shield.Open(t.Pid)
	if err != nil {
		return err
	}
	s.conn = c
	// Closing the netlink socket cannot fail in a way that matters: the
	// ruleset stays in the namespace, and without heartbeats lets nothing
	// out.
	s.closers = append(s.closers, func() { _ = c.Close() })
	if _, err := c.Verify(); errors.Is(err, shield.ErrNoRuleset) {
		return errors.New("the shield's OCI hook did not install the task's ruleset: is it registered? (terok setup; terok doctor checks)")
	} else if err != nil {
		var ve *shield.VerifyError
		if !errors.As(err, &ve) {
			return err
		}
	}
	if err := s.apply(); err != nil {
		return err
	}
	if st.PostureAt(time.Now()) != policy.PostureQuarantine {
		s.startBeat()
	}

	var ups []string
	for _, u := range s.cfg.Resolvers {
		a, err := config.ResolverAddr(u)
		if err != nil {
			return err
		}
		ups = append(ups, a)
	}
	rc := resolver.Config{Policy: s.resolverPolicy(), Learn: s.learn, Blocked: s.refused, Upstreams: ups}
	if s.cfg.Hold != nil {
		rc.Hold, rc.HoldTimeout = s.hold, s.cfg.HoldTimeout
	}
	s.res, err = resolver.New(rc)
	if err != nil {
		return err
	}
	s.closers = append(s.closers, func() { _ = s.res.Close() }) // it always returns nil
	pc, err := t.ListenPacket(warden.ResolverAddr)
	if err != nil {
		return fmt.Errorf("the task's resolver: %w", err)
	}
	l, err := t.Listen(warden.ResolverAddr)
	if err != nil {
		_ = pc.Close() // never served
		return fmt.Errorf("the task's resolver: %w", err)
	}
	// A socket that breaks leaves the task without DNS (refused, never
	// forwarded elsewhere); the warden's log says why.
	serve := func(proto string, fn func() error) {
		if err := fn(); !errors.Is(err, resolver.ErrClosed) {
			fmt.Fprintf(os.Stderr, "warden: resolver (%s): %v\n", proto, err)
		}
	}
	go serve("udp", func() error { return s.res.ServeUDP(pc) })
	go serve("tcp", func() error { return s.res.ServeTCP(l) })
	if s.cfg.Names != nil {
		if err := s.startForwarder(t); err != nil {
			return err
		}
	}

	if err := netns.Do(t.Pid, func() (err error) { s.log, err = nflog.Open(shield.DefaultLogGroup); return err }); err != nil {
		return fmt.Errorf("the task's firewall log: %w", err)
	}
	read := make(chan struct{})
	// Closing ends the reader's Read; the reader is waited for, so that no
	// event comes after the audit log is closed.
	s.closers = append(s.closers, func() { _ = s.log.Close(); <-read })
	go func() { defer close(read); s.readLog() }()

	s.audit.add(Event{Event: "start", Targets: policy.Texts(st.Allow)})
	return nil
}

// Close stops the service; the ruleset stays, and with no heartbeat it
// lets nothing out. The audit log is written to its end.
func (s *Service) Close() error {
	s.mu.Lock()
	s.closed = true
	for t := range s.temps {
		t.timer.Stop()
	}
	clear(s.temps)
	s.mu.Unlock()
	s.stopHeartbeat()
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
	return nil
}

// Quarantined reports whether the task is quarantined: the other services
// close to a quarantined task (the gate answers 403).
func (s *Service) Quarantined() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.PostureAt(time.Now()) == policy.PostureQuarantine
}

// apply installs the state's policy in one batch (the learned sets start
// empty), renews the heartbeat and verifies the ruleset against it.
func (s *Service) apply() error {
	host, err := shield.HostAddresses()
	if err != nil {
		return err
	}
	pol := s.state.Policy()
	p := shield.Policy{Allow: policy.Targets(pol.Allow), Deny: policy.Targets(pol.Deny), Host: host, Hold: s.cfg.Hold != nil}
	if s.cfg.Names != nil {
		p.Forward, p.AddressPorts = true, s.cfg.Names.AddressPorts
	}
	if err := s.conn.Apply(p); err != nil {
		return err
	}
	switch s.state.PostureAt(time.Now()) {
	case policy.PostureQuarantine:
		// No heartbeat: nothing but loopback.
	case policy.PostureDown:
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

func (s *Service) startBeat() {
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

func (s *Service) stopHeartbeat() {
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
func (s *Service) resolverPolicy() resolver.Policy {
	pol := s.state.Policy()
	switch s.state.Posture {
	case policy.PostureQuarantine:
		return resolver.PolicyFunc(func(string) bool { return false })
	case policy.PostureDown:
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
func (s *Service) learn(name string, addrs []netip.Addr, ttl time.Duration) error {
	s.mu.Lock()
	allowed := s.state.Policy().Allowed(name)
	for _, a := range addrs {
		s.names[a] = name
		if allowed {
			s.learnedName(a.Unmap(), name)
		}
	}
	s.mu.Unlock()
	if !allowed {
		return nil
	}
	return s.conn.LearnAll(addrs, ttl)
}

// denied says whether the policy denies name outright.
func denied(p policy.Policy, name string) bool {
	return slices.ContainsFunc(p.Deny, func(e policy.Entry) bool { return e.Target.Matches(name) })
}

func (s *Service) refused(name string, qtype uint16) {
	s.audit.add(Event{Event: "refused", Name: name, QType: dns.TypeToString[qtype]})
	if s.cfg.OnAttempt == nil || name == "." || !s.askable(name) {
		return
	}
	s.cfg.OnAttempt(clearance.Attempt{Dest: name, Proto: clearance.ProtoDNSName, Kind: clearance.KindRefused})
}

// askable says whether a person could allow a refused name: not while the
// task is quarantined, not when the policy denies it outright.
func (s *Service) askable(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.PostureAt(time.Now()) != policy.PostureQuarantine && !denied(s.state.Policy(), name)
}

// hold is the resolver's Hold in hold mode: the refused name is audited as
// refused names are, and held while its clearance request is pending.
func (s *Service) hold(ctx context.Context, name string, qtype uint16) bool {
	s.audit.add(Event{Event: "refused", Name: name, QType: dns.TypeToString[qtype]})
	if !s.askable(name) {
		return false
	}
	return s.cfg.Hold(ctx, clearance.Attempt{Dest: name, Proto: clearance.ProtoDNSName, Kind: clearance.KindRefused})
}

func (s *Service) readLog() {
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
			e := Event{Event: "blocked", Reason: reason, Dst: ev.Dst.String(), Port: ev.DstPort, Protocol: ev.Protocol}
			if reason == "down" {
				e.Event, e.Reason = "down-connection", ""
			}
			s.mu.Lock()
			e.Name = s.names[ev.Dst]
			quarantined := s.state.PostureAt(time.Now()) == policy.PostureQuarantine
			s.mu.Unlock()
			s.audit.add(e)
			if s.cfg.OnAttempt != nil && e.Event == "blocked" && reason != "deny" && !quarantined &&
				(e.Protocol == clearance.ProtoTCP || e.Protocol == clearance.ProtoUDP) {
				dest := e.Name
				if dest == "" {
					dest = e.Dst
				}
				s.cfg.OnAttempt(clearance.Attempt{Dest: dest, Port: e.Port, Proto: e.Protocol, Kind: clearance.KindBlocked})
			}
		}
	}
}

// Ops are the shield's control operations.
func (s *Service) Ops() []warden.Op {
	return []warden.Op{warden.OpAllow, warden.OpDeny, warden.OpDown, warden.OpUp, warden.OpQuarantine, warden.OpRules, warden.OpStatus}
}

// Handle answers the shield's control requests (terok-shield's live verbs,
// terok panic's quarantine) with the rules in force after them.
func (s *Service) Handle(_ context.Context, req warden.Request) (any, error) {
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
	case warden.OpAllow, warden.OpDeny:
		if err := s.changeChecked(req.Op, ts, "terok-shield "+string(req.Op)); err != nil {
			return nil, err
		}
	case warden.OpDown:
		d := warden.DefaultDown
		if req.Duration != "" {
			x, err := time.ParseDuration(req.Duration)
			if err != nil || x <= 0 || x > warden.MaxDown {
				return nil, fmt.Errorf("down: a duration up to 24h, like 10m: %q", req.Duration)
			}
			d = x
		}
		if s.state.PostureAt(time.Now()) == policy.PostureQuarantine {
			return nil, errors.New("the task is quarantined: 'terok-shield up' first")
		}
		if err := s.conn.Down(d); err != nil {
			return nil, err
		}
		s.state.Posture, s.state.DownUntil = policy.PostureDown, time.Now().Add(d).UTC()
		s.res.SetPolicy(s.resolverPolicy())
		s.saveLocked()
		s.audit.add(Event{Event: "down", Until: s.state.DownUntil})
	case warden.OpUp:
		s.state.Posture, s.state.DownUntil = policy.PostureUp, time.Time{}
		if err := s.apply(); err != nil {
			return nil, err
		}
		s.startBeat()
		s.res.SetPolicy(s.resolverPolicy())
		s.saveLocked()
		s.audit.add(Event{Event: "up"})
	case warden.OpQuarantine:
		s.stopHeartbeat()
		if err := s.conn.Expire(); err != nil {
			return nil, err
		}
		// With the alive element gone the down rule lets nothing through
		// either, and up (or a new warden) applies a fresh table without
		// it: a down element left behind is harmless, and failing to remove
		// it must not stop the quarantine. It is said in the warden's log.
		if err := s.conn.Up(); err != nil {
			fmt.Fprintf(os.Stderr, "warden: quarantine: removing the down element: %v\n", err)
		}
		s.state.Posture, s.state.DownUntil = policy.PostureQuarantine, time.Time{}
		s.res.SetPolicy(s.resolverPolicy())
		s.saveLocked()
		s.audit.add(Event{Event: "quarantine"})
		if s.cfg.OnQuarantine != nil {
			s.cfg.OnQuarantine()
		}
	case warden.OpRules, warden.OpStatus:
	default:
		return nil, fmt.Errorf("unknown request %q", req.Op)
	}
	return s.rulesLocked()
}

// changeChecked is OpAllow and OpDeny: it refuses what may not be allowed,
// then changes the policy; from is the new entries' origin.
func (s *Service) changeChecked(op warden.Op, ts []config.Target, from string) error {
	if len(ts) == 0 {
		return errors.New("no target")
	}
	if op == warden.OpAllow {
		for _, t := range ts {
			if err := config.CheckAllow(t); err != nil {
				return err
			}
			if i := slices.IndexFunc(s.state.VaultDeny, func(e policy.Entry) bool { return e.Text == t.String() }); i >= 0 {
				// Allowing it would change nothing (deny beats allow):
				// say how it is lifted.
				p := strings.TrimPrefix(s.state.VaultDeny[i].From, policy.VaultFrom)
				return fmt.Errorf("%s is a host of the model provider %s, denied in every task so that a smuggled real key is useless; a project lifts that with project.toml [vault] direct = [%q] (for new tasks)", t, p, p)
			}
		}
	}
	return s.change(op, ts, from)
}

// TemporaryFrom starts the origin of an allow that ends by itself.
const TemporaryFrom = "temporary "

// Change allows or denies targets live for another service of the warden
// (the clearance's verdicts), through the same checks and the same change
// as OpAllow and OpDeny; from names the origin of the entries it adds
// (like "terok-clearance allow"). An allow with d > 0 is temporary: the
// entries it adds are taken off the allow list again after d (the
// addresses the resolver learned for an allowed name go with them), and
// say so in their origin. Rules are those in force after the change.
func (s *Service) Change(op warden.Op, targets []config.Target, from string, d time.Duration) (warden.Rules, error) {
	if op != warden.OpAllow && op != warden.OpDeny {
		return warden.Rules{}, fmt.Errorf("change: %q is neither allow nor deny", op)
	}
	if d < 0 || d > 0 && op != warden.OpAllow || d > warden.MaxDown {
		return warden.Rules{}, fmt.Errorf("change: a temporary allow lasts up to 24h, not %s", d)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return warden.Rules{}, errors.New("the shield service has ended")
	}
	if d > 0 {
		from = TemporaryFrom + from + " until " + time.Now().Add(d).UTC().Format(time.RFC3339)
	}
	if err := s.changeChecked(op, targets, from); err != nil {
		return warden.Rules{}, err
	}
	if d > 0 {
		t := &temporary{targets: targets, from: from}
		t.timer = time.AfterFunc(d, func() { s.endTemporary(t) })
		s.temps[t] = struct{}{}
	}
	return s.rulesLocked()
}

// temporary is a temporary allow still to end: its targets, the origin of
// the entries it added, and its timer (set under Service.mu).
type temporary struct {
	targets []config.Target
	from    string
	timer   *time.Timer
}

// endTemporary takes the allow entries that temporary allow t added off
// the allow list; an entry another change has replaced since stays.
func (s *Service) endTemporary(t *temporary) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.temps[t]; !ok || s.closed {
		return
	}
	delete(s.temps, t)
	var gone []string
	var addrs []config.Target
	names := false
	for _, x := range t.targets {
		n := len(s.state.Allow)
		s.state.Allow = slices.DeleteFunc(s.state.Allow, func(e policy.Entry) bool { return e.Text == x.String() && e.From == t.from })
		if len(s.state.Allow) == n {
			continue
		}
		gone = append(gone, x.String())
		if x.Kind == config.TargetAddr || x.Kind == config.TargetRange {
			addrs = append(addrs, x)
		} else {
			names = true
		}
	}
	if len(gone) == 0 {
		return
	}
	var err error
	if names {
		err = s.apply() // the learned sets afresh, as a deny of a name does
	} else {
		err = s.conn.Unallow(addrs...)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "warden: ending a temporary allow of %s: %v\n", strings.Join(gone, " "), err)
	}
	s.res.SetPolicy(s.resolverPolicy())
	s.saveLocked()
	s.audit.add(Event{Event: "allow-ended", Targets: gone})
}

// AuditClearance appends a clearance record (a request, a verdict) to the
// task's shield audit log, in order with the shield's own events.
func (s *Service) AuditClearance(r clearance.AuditRecord) {
	if s.audit != nil {
		s.audit.addRecord(r)
	}
}

// change allows or denies targets live: the state first, then the sets (one
// batch each), then the resolver. Deny beats allow, so allowing a target
// takes it off the deny list and the other way round. An entry already
// there keeps its origin, unless that was a temporary allow: the new
// change's origin replaces it, so it no longer ends.
func (s *Service) change(op warden.Op, ts []config.Target, from string) error {
	add, drop := &s.state.Allow, &s.state.Deny
	if op == warden.OpDeny {
		add, drop = drop, add
	}
	var addrs []config.Target
	names := false
	for _, t := range ts {
		*drop = slices.DeleteFunc(*drop, func(e policy.Entry) bool { return e.Text == t.String() })
		if i := slices.IndexFunc(*add, func(e policy.Entry) bool { return e.Text == t.String() }); i < 0 {
			*add = append(*add, policy.Entry{Target: t, Text: t.String(), From: from})
		} else if strings.HasPrefix((*add)[i].From, TemporaryFrom) {
			(*add)[i].From = from
		}
		if t.Kind == config.TargetAddr || t.Kind == config.TargetRange {
			addrs = append(addrs, t)
		} else {
			names = true
		}
	}
	var err error
	switch {
	case op == warden.OpDeny && names:
		// Addresses learned for a name now denied must go: start the
		// learned sets afresh (allowed names are learned again on their
		// next lookup).
		err = s.apply()
	case op == warden.OpDeny:
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
	s.audit.add(Event{Event: string(op), Targets: out})
	return nil
}

func (s *Service) saveLocked() {
	if err := s.state.Save(s.cfg.State); err != nil {
		fmt.Fprintf(os.Stderr, "warden: saving the shield state: %v\n", err)
	}
}

func (s *Service) rulesLocked() (warden.Rules, error) {
	c, err := s.conn.Contents()
	if err != nil {
		return warden.Rules{}, err
	}
	posture := s.state.PostureAt(time.Now())
	var until time.Time
	if posture == policy.PostureDown {
		until = s.state.DownUntil
	}
	out := warden.Rules{Posture: posture, DownUntil: until, Allow: s.state.Allow, Deny: s.state.Policy().Deny,
		Notes: s.state.Notes, Alive: c.Alive, Learned: []warden.LearnedAddr{}}
	if n := s.cfg.Names; n != nil {
		out.NameBinding, out.AddressPorts = "rule", n.AddressPorts
		if n.PolicyBinding {
			out.NameBinding = "policy"
		}
	}
	for _, l := range c.Learned {
		out.Learned = append(out.Learned, warden.LearnedAddr{Addr: l.Addr.String(), Name: s.names[l.Addr], Expires: time.Now().Add(l.Expires).UTC().Truncate(time.Second)})
	}
	return out, nil
}
