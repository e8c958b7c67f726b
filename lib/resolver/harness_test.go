package resolver

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/policy"
)

// Learned is one call of the Learn hook.
type Learned struct {
	Name  string
	Addrs []netip.Addr
	TTL   time.Duration
}

// Blocked is one call of the Blocked hook.
type BlockedQuery struct {
	Name  string
	Qtype uint16
}

// Harness is a Resolver serving UDP and TCP on 127.0.0.1 (one random port)
// in front of an upstream test server, recording its hooks.
type Harness struct {
	R        *Resolver
	Up       *Upstream
	Addr     string
	mu       sync.Mutex
	learned  []Learned
	blocked  []BlockedQuery
	failed   []error
	learnErr error
	onLearn  func(Learned)
	clock    time.Time // zero: real time
}

// OnLearn makes f run inside Learn before it returns (nil: nothing).
func (h *Harness) OnLearn(f func(Learned)) {
	h.mu.Lock()
	h.onLearn = f
	h.mu.Unlock()
}

// SetClock freezes the resolver's clock at now.
func (h *Harness) SetClock(now time.Time) {
	h.mu.Lock()
	h.clock = now
	h.mu.Unlock()
}

func (h *Harness) now() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.clock.IsZero() {
		return time.Now()
	}
	return h.clock
}

// PolicyOfTests allows a few of the upstream's names, wildcards among
// them, and denies some below an allowed wildcard.
func PolicyOfTests(t testing.TB) policy.Policy {
	entries := func(list ...string) []policy.Entry {
		var out []policy.Entry
		for _, s := range list {
			target, err := config.ParseTarget(s)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, policy.Entry{Target: target, Text: s, From: "test"})
		}
		return out
	}
	return policy.Policy{
		Allow: entries("allowed.test", "short.test", "www.cname.test", "*.wild.test", "big.test", "svc.test",
			"servfail.test", "*.nx.test"),
		Deny: entries("blocked.wild.test", "*.deny.wild.test"),
	}
}

// StartHarness starts an upstream and a resolver before it; edit, if set,
// changes the resolver's Config first. Both stop with the test.
func StartHarness(t testing.TB, edit func(*Config)) *Harness {
	t.Helper()
	h := &Harness{Up: StartUpstream(t)}
	cfg := Config{
		Policy:    PolicyOfTests(t),
		Upstreams: []string{h.Up.Addr},
		Learn: func(name string, addrs []netip.Addr, ttl time.Duration) error {
			l := Learned{name, append([]netip.Addr(nil), addrs...), ttl}
			h.mu.Lock()
			h.learned = append(h.learned, l)
			err, hook := h.learnErr, h.onLearn
			h.mu.Unlock()
			if hook != nil {
				hook(l)
			}
			return err
		},
		Blocked: func(name string, qtype uint16) {
			h.mu.Lock()
			h.blocked = append(h.blocked, BlockedQuery{name, qtype})
			h.mu.Unlock()
		},
		Failed: func(name string, qtype uint16, err error) {
			h.mu.Lock()
			h.failed = append(h.failed, err)
			h.mu.Unlock()
		},
	}
	if edit != nil {
		edit(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.R = r
	r.now = h.now
	var pc net.PacketConn
	var l net.Listener
	for try := 0; ; try++ {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if l, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		_ = pc.Close() // the port is taken for TCP: another try
		if try == 20 {
			t.Fatal(err)
		}
	}
	h.Addr = pc.LocalAddr().String()
	// Both end at Close; a test that needs them to serve finds out.
	go func() { _ = r.ServeUDP(pc) }()
	go func() { _ = r.ServeTCP(l) }()
	t.Cleanup(func() { _ = r.Close() })
	return h
}

// SetLearnError makes Learn fail with err (nil: succeed again).
func (h *Harness) SetLearnError(err error) {
	h.mu.Lock()
	h.learnErr = err
	h.mu.Unlock()
}

// Learned returns the Learn calls so far.
func (h *Harness) Learned() []Learned {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Learned(nil), h.learned...)
}

// BlockedQueries returns the Blocked calls so far.
func (h *Harness) BlockedQueries() []BlockedQuery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]BlockedQuery(nil), h.blocked...)
}

// Failures returns the errors given to Failed so far.
func (h *Harness) Failures() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), h.failed...)
}

// Exchange sends m to the resolver over network ("udp" or "tcp").
func Exchange(t testing.TB, network, addr string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 10 * time.Second}
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s query %v: %v", network, m.Question, err)
	}
	return resp
}

// Query asks the resolver for name and qtype over network.
func (h *Harness) Query(t testing.TB, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	return Exchange(t, network, h.Addr, m)
}

// Addrs returns the A and AAAA addresses of an answer, in order.
func Addrs(m *dns.Msg) []netip.Addr {
	var out []netip.Addr
	for _, rr := range m.Answer {
		switch v := rr.(type) {
		case *dns.A:
			a, _ := netip.AddrFromSlice(v.A.To4())
			out = append(out, a)
		case *dns.AAAA:
			a, _ := netip.AddrFromSlice(v.AAAA)
			out = append(out, a)
		}
	}
	return out
}

var errLearn = errors.New("nft says no")
