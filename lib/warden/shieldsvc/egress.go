package shieldsvc

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/terok-ai/terok-go/lib/clearance"
	"github.com/terok-ai/terok-go/lib/policy"
	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/warden"
	"github.com/terok-ai/terok-go/lib/warden/egresssvc"
)

// Names is name-bound egress (docs/decisions.md, "Shield: name-bound
// egress"): TCP to learned addresses goes through the forwarder, which
// checks the name each connection presents.
type Names struct {
	// AddressPorts keep the address rule (config shield.address_ports).
	AddressPorts []uint16
	// PolicyBinding (shield.name_binding = "policy"): a name the policy
	// allows may reach any learned address; otherwise (the default,
	// "rule") only one learned for a name of the same allow rule.
	PolicyBinding bool
}

// maxNamesPerAddr bounds the names remembered for one learned address.
const maxNamesPerAddr = 32

// startForwarder opens the forwarder's listeners on the task's loopback
// (ForwardPort, IPv4 and IPv6) and serves them.
func (s *Service) startForwarder(t *warden.Task) error {
	s.fwd = egresssvc.New(egresssvc.Config{
		Decide:  s.decideName,
		Refused: s.refusedName,
		Dial:    egresssvc.DialInNetNS(t.Pid, int(shield.ForwardMark)),
		Unreachable: func(name string, dst netip.AddrPort, err error) {
			fmt.Fprintf(os.Stderr, "warden: egress forwarder: %s (%s): %v\n", dst, name, err)
		},
	})
	s.closers = append(s.closers, func() { _ = s.fwd.Close() })
	for _, a := range []string{"127.0.0.1", "::1"} {
		l, err := t.Listen(net.JoinHostPort(a, fmt.Sprint(shield.ForwardPort)))
		if err != nil {
			return fmt.Errorf("the task's egress forwarder: %w", err)
		}
		go func() {
			if err := s.fwd.Serve(l); err != nil {
				fmt.Fprintf(os.Stderr, "warden: egress forwarder: %v\n", err)
			}
		}()
	}
	return nil
}

// learnedName remembers that addr was learned for name (rule binding).
func (s *Service) learnedName(addr netip.Addr, name string) {
	ns := s.learnedFor[addr]
	if slices.Contains(ns, name) {
		return
	}
	if len(ns) >= maxNamesPerAddr {
		ns = ns[1:]
	}
	s.learnedFor[addr] = append(ns, name)
}

// decideName is the forwarder's Decide: the name must be allowed now (as
// the resolver would answer it), and, with rule binding, dst must have
// been learned for a name an allow rule that covers name also covers.
func (s *Service) decideName(name string, dst netip.AddrPort) bool {
	if name == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	pol := s.state.Policy()
	switch s.state.PostureAt(now) {
	case policy.PostureQuarantine:
		return false
	case policy.PostureDown:
		if now.Before(s.state.DownUntil) {
			return !denied(pol, name)
		}
	}
	if !pol.Allowed(name) {
		return false
	}
	if s.cfg.Names.PolicyBinding {
		return true
	}
	learned := s.learnedFor[dst.Addr().Unmap()]
	for _, e := range pol.Allow {
		if e.Target.Matches(name) && slices.ContainsFunc(learned, e.Target.Matches) {
			return true
		}
	}
	return false
}

// refusedName is the forwarder's Refused: audited as a blocked connection
// with the name presented, and a clearance request for that name (or the
// address, when it presented none).
func (s *Service) refusedName(name string, dst netip.AddrPort, why error) {
	// reason: "name", a name the policy refuses here; "no-name", none
	// presented (an address, a ClientHello without server name, a
	// protocol that is neither TLS nor HTTP, a malformed opening).
	reason := "name"
	if name == "" || !errors.Is(why, egresssvc.ErrRefused) {
		reason = "no-name"
	}
	s.audit.add(Event{Event: "blocked", Reason: reason, Name: name, Dst: dst.Addr().String(), Port: dst.Port(), Protocol: "tcp"})
	if s.cfg.OnAttempt == nil {
		return
	}
	dest := name
	if dest == "" {
		dest = dst.Addr().String()
	} else if !s.askable(name) {
		return
	}
	if s.Quarantined() {
		return
	}
	s.cfg.OnAttempt(clearance.Attempt{Dest: dest, Port: dst.Port(), Proto: clearance.ProtoTCP, Kind: clearance.KindBlocked})
}
