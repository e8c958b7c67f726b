package resolver

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/terok-ai/terok-go/lib/clearance"
)

// holdHarness is a resolver in hold mode in front of the upstream test
// server, over a real clearance queue, decided the way the task's warden
// decides: an allow puts the name into the policy (the shield's change,
// then SetPolicy), then decides the request, which wakes the held
// queries. Its policy allows allowed.test and the names allowed since;
// the upstream answers every *.wild.test with 192.0.2.30.
type holdHarness struct {
	*Harness
	q       *clearance.Queue
	mu      sync.Mutex
	allowed map[string]bool
}

func startHold(t testing.TB, qc clearance.Config, edit func(*Config)) *holdHarness {
	t.Helper()
	qc.Task, qc.Project = "t", "p"
	hh := &holdHarness{q: clearance.NewQueue(qc), allowed: map[string]bool{"allowed.test": true}}
	hh.Harness = StartHarness(t, func(c *Config) {
		c.Policy = PolicyFunc(func(name string) bool {
			hh.mu.Lock()
			defer hh.mu.Unlock()
			return hh.allowed[name]
		})
		c.Hold = hh.hold
		if edit != nil {
			edit(c)
		}
	})
	t.Cleanup(hh.q.Close) // before the resolver closes: held queries are let go
	return hh
}

// hold is what the warden's clearance does with a held name: a request
// (or a repeat of the pending one), then the wait for its verdict; the
// overflow request is refused at once.
func (hh *holdHarness) hold(ctx context.Context, name string, _ uint16) bool {
	r, _, err := hh.q.Add(clearance.Attempt{Dest: name, Proto: clearance.ProtoDNSName, Kind: clearance.KindRefused})
	if err != nil || r.Kind == clearance.KindOverflow {
		return false
	}
	v, err := hh.q.Wait(ctx, r.ID)
	return err == nil && v.Granted()
}

// pending waits until name's request has count attempts folded in, and
// returns it.
func (hh *holdHarness) pending(t testing.TB, name string, count int) clearance.Request {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, r := range hh.q.Pending() {
			if r.Dest == name && r.Count >= count {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no request for %s with %d attempts: %+v", name, count, hh.q.Pending())
		}
		time.Sleep(time.Millisecond)
	}
}

// decide answers name's pending request as the warden does.
func (hh *holdHarness) decide(t testing.TB, name string, a clearance.Action) {
	t.Helper()
	r := hh.pending(t, name, 1)
	if a == clearance.Allow {
		hh.mu.Lock()
		hh.allowed[name] = true
		hh.mu.Unlock()
		hh.R.SetPolicy(hh.R.policy.Load().Policy) // the shield's change ends with SetPolicy
	}
	if _, err := hh.q.Decide(r.ID, name, clearance.Verdict{Action: a, Scope: clearance.ScopeOnce, Surface: clearance.SurfaceCLI}); err != nil {
		t.Fatal(err)
	}
}

type result struct {
	m   *dns.Msg
	err error
	at  time.Time
}

// ask sends a query in the background; its result comes on the channel.
func (hh *holdHarness) ask(network, name string) <-chan result {
	out := make(chan result, 1)
	go func() {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), dns.TypeA)
		c := &dns.Client{Net: network, Timeout: 20 * time.Second}
		resp, _, err := c.Exchange(m, hh.Addr)
		out <- result{resp, err, time.Now()}
	}()
	return out
}

func (r result) rcode(t *testing.T, want int) *dns.Msg {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	wantRcode(t, r.m, want)
	return r.m
}

func notYet(t *testing.T, c <-chan result) {
	t.Helper()
	select {
	case r := <-c:
		t.Fatalf("answered while held: %v %v", r.m, r.err)
	case <-time.After(100 * time.Millisecond):
	}
}

// Hold mode: a name outside the policy is held while its request is
// pending; an allow answers it with the upstream's address, which Learn
// had before the answer left; the request is decided, not refused.
func TestHoldAllowAnswers(t *testing.T) {
	for _, network := range networks {
		t.Run(network, func(t *testing.T) {
			hh := startHold(t, clearance.Config{}, nil)
			var answered atomic.Bool
			learnedFirst := make(chan bool, 1)
			hh.OnLearn(func(l Learned) {
				if l.Name == "one.wild.test" {
					learnedFirst <- !answered.Load()
				}
			})
			c := hh.ask(network, "one.wild.test")
			r := hh.pending(t, "one.wild.test", 1)
			if r.Kind != clearance.KindRefused || r.Proto != clearance.ProtoDNSName {
				t.Fatalf("request %+v", r)
			}
			notYet(t, c)
			hh.decide(t, "one.wild.test", clearance.Allow)
			res := <-c
			answered.Store(true)
			m := res.rcode(t, dns.RcodeSuccess)
			if got := Addrs(m); !slices.Equal(got, addrs("192.0.2.30")) {
				t.Fatalf("answer %v", got)
			}
			if !<-learnedFirst {
				t.Fatal("the answer left before Learn had its address")
			}
			if s := hh.R.Stats(); s.Held != 1 || s.Refused != 0 || s.Forwarded != 1 {
				t.Fatalf("stats %+v", s)
			}
			if b := hh.BlockedQueries(); len(b) != 0 {
				t.Fatalf("a held query went to Blocked too: %v", b)
			}
			// Allowed now: the next query is answered without a hold.
			hh.Query(t, network, "one.wild.test", dns.TypeA)
			if s := hh.R.Stats(); s.Held != 1 {
				t.Fatalf("held again: %+v", s)
			}
		})
	}
}

// A deny refuses the held query at once, and so is a name's next query
// (its request is decided; the policy still refuses it: the shield's
// deny entry would answer it before any hold).
func TestHoldDenyRefusesPromptly(t *testing.T) {
	hh := startHold(t, clearance.Config{}, nil)
	c := hh.ask("udp", "two.wild.test")
	hh.pending(t, "two.wild.test", 1)
	notYet(t, c)
	decided := time.Now()
	hh.decide(t, "two.wild.test", clearance.Deny)
	res := <-c
	res.rcode(t, dns.RcodeRefused)
	if d := res.at.Sub(decided); d > time.Second {
		t.Fatalf("refused %s after the deny", d)
	}
	if s := hh.R.Stats(); s.Refused != 1 || s.Forwarded != 0 {
		t.Fatalf("stats %+v", s)
	}
	if seen := hh.Up.Seen(); len(seen) != 0 {
		t.Fatalf("a denied name was forwarded: %v", seen)
	}
}

// Without a verdict the held query is refused at the hold's timeout; its
// request stays pending for a person to decide later.
func TestHoldTimeoutRefuses(t *testing.T) {
	const timeout = 300 * time.Millisecond
	hh := startHold(t, clearance.Config{}, func(c *Config) { c.HoldTimeout = timeout })
	start := time.Now()
	res := <-hh.ask("tcp", "three.wild.test")
	res.rcode(t, dns.RcodeRefused)
	if d := res.at.Sub(start); d < timeout || d > timeout+2*time.Second {
		t.Fatalf("refused after %s, want about %s", d, timeout)
	}
	if r := hh.pending(t, "three.wild.test", 1); r.Count != 1 {
		t.Fatalf("request %+v", r)
	}
	if len(hh.Up.Seen()) != 0 {
		t.Fatalf("forwarded: %v", hh.Up.Seen())
	}
	// The client's retry right after (glibc asks twice) is refused at
	// once, not held again, and counts on the same request.
	start = time.Now()
	res = <-hh.ask("udp", "three.wild.test")
	res.rcode(t, dns.RcodeRefused)
	if d := res.at.Sub(start); d >= timeout {
		t.Fatalf("the retry was held again (%s)", d)
	}
	if s := hh.R.Stats(); s.Held != 1 || s.Refused != 2 {
		t.Fatalf("stats %+v", s)
	}
	if b := hh.BlockedQueries(); len(b) != 1 || b[0].Name != "three.wild.test" {
		t.Fatalf("Blocked got %v", b)
	}
	// Another name is held as before.
	start = time.Now()
	res = <-hh.ask("udp", "six.wild.test")
	if d := res.at.Sub(start); d < timeout {
		t.Fatalf("another name was not held (%s)", d)
	}
}

// Repeated queries for a held name join its one request, and one allow
// answers them all.
func TestHoldJoins(t *testing.T) {
	hh := startHold(t, clearance.Config{}, nil)
	var cs []<-chan result
	for i := range 6 {
		cs = append(cs, hh.ask(networks[i%2], "four.wild.test"))
	}
	hh.pending(t, "four.wild.test", 6)
	if n := len(hh.q.Pending()); n != 1 {
		t.Fatalf("%d requests, want 1: %+v", n, hh.q.Pending())
	}
	hh.decide(t, "four.wild.test", clearance.Allow)
	for _, c := range cs {
		if got := Addrs((<-c).rcode(t, dns.RcodeSuccess)); !slices.Equal(got, addrs("192.0.2.30")) {
			t.Fatalf("answer %v", got)
		}
	}
	if s := hh.R.Stats(); s.Held != 6 {
		t.Fatalf("stats %+v", s)
	}
}

// Holds are bounded: beyond MaxHeld queries held at once, a query is
// refused at once (and reported to Blocked); beyond the queue's pending
// requests, a new name falls into the overflow request and is refused at
// once. What was held is still answered.
func TestHoldBound(t *testing.T) {
	hh := startHold(t, clearance.Config{MaxPending: 3}, func(c *Config) { c.MaxHeld = 4 })
	var held []<-chan result
	for _, n := range []string{"a.wild.test", "b.wild.test", "c.wild.test"} {
		held = append(held, hh.ask("udp", n))
		hh.pending(t, n, 1)
	}
	// The fourth name overflows the queue: refused at once.
	start := time.Now()
	res := <-hh.ask("udp", "d.wild.test")
	res.rcode(t, dns.RcodeRefused)
	if d := res.at.Sub(start); d > time.Second {
		t.Fatalf("an overflowing name was held %s", d)
	}
	// A fourth hold (a repeat: it joins a's request) fills the slots...
	held = append(held, hh.ask("udp", "a.wild.test"))
	hh.pending(t, "a.wild.test", 2)
	// ...so a fifth query is refused at once, reported to Blocked.
	start = time.Now()
	res = <-hh.ask("tcp", "b.wild.test")
	res.rcode(t, dns.RcodeRefused)
	if d := res.at.Sub(start); d > time.Second {
		t.Fatalf("a query beyond MaxHeld was held %s", d)
	}
	if b := hh.BlockedQueries(); len(b) != 1 || b[0].Name != "b.wild.test" {
		t.Fatalf("Blocked got %v", b)
	}
	if s := hh.R.Stats(); s.Held != 5 || s.Refused != 2 { // d was held (and refused at once), the fifth not
		t.Fatalf("stats %+v", s)
	}
	// An allowed name is answered meanwhile: holds do not starve it.
	hh.Query(t, "udp", "allowed.test", dns.TypeA)
	for _, n := range []string{"a.wild.test", "b.wild.test", "c.wild.test"} {
		hh.decide(t, n, clearance.Allow)
	}
	for _, c := range held {
		(<-c).rcode(t, dns.RcodeSuccess)
	}
}

// Closing the resolver lets held queries go at once.
func TestHoldClose(t *testing.T) {
	hh := startHold(t, clearance.Config{}, nil)
	c := hh.ask("udp", "five.wild.test")
	hh.pending(t, "five.wild.test", 1)
	done := make(chan struct{})
	go func() { _ = hh.R.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for a held query")
	}
	// The UDP answer may or may not have left before the socket closed.
	select {
	case r := <-c:
		if r.err == nil && r.m.Rcode != dns.RcodeRefused {
			t.Fatalf("a held query answered %v at close", r.m)
		}
	case <-time.After(100 * time.Millisecond):
	}
}
