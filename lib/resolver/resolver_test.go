package resolver

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var networks = []string{"udp", "tcp"}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func wantRcode(t *testing.T, m *dns.Msg, rcode int) {
	t.Helper()
	if m.Rcode != rcode {
		t.Fatalf("%v: rcode %s, want %s\n%v", m.Question, dns.RcodeToString[m.Rcode], dns.RcodeToString[rcode], m)
	}
}

// An allowed name gets the upstream's address, and Learn has it before the
// client has the answer.
func TestAllowedNameLearnedBeforeReply(t *testing.T) {
	for _, network := range networks {
		t.Run(network, func(t *testing.T) {
			h := StartHarness(t, nil)
			learning := make(chan Learned, 1)
			release := make(chan struct{})
			h.OnLearn(func(l Learned) {
				learning <- l
				<-release
			})
			answered := make(chan *dns.Msg, 1)
			go func() { answered <- h.Query(t, network, "allowed.test", dns.TypeA) }()
			l := <-learning
			if l.Name != "allowed.test" || !slices.Equal(l.Addrs, addrs("192.0.2.10")) || l.TTL != 300*time.Second {
				t.Fatalf("Learn got %+v", l)
			}
			select {
			case m := <-answered:
				t.Fatalf("the client had its answer while Learn had not returned: %v", m)
			case <-time.After(50 * time.Millisecond):
			}
			close(release)
			m := <-answered
			wantRcode(t, m, dns.RcodeSuccess)
			if got := Addrs(m); !slices.Equal(got, addrs("192.0.2.10")) {
				t.Fatalf("answer %v", got)
			}
			if !m.RecursionAvailable {
				t.Fatalf("RA not set: %v", m)
			}
			h.OnLearn(nil)
			m = h.Query(t, network, "ALLOWED.test", dns.TypeAAAA) // case does not matter
			wantRcode(t, m, dns.RcodeSuccess)
			if got := Addrs(m); !slices.Equal(got, addrs("2001:db8::10")) {
				t.Fatalf("AAAA answer %v", got)
			}
			if m.Question[0].Name != "ALLOWED.test." {
				t.Fatalf("question not echoed as asked: %v", m.Question)
			}
		})
	}
}

func randomLabel(n int) string {
	b := make([]byte, n/2)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Names outside the policy are refused at once, reported, and the upstream
// never hears of them: not the names, not long random subdomains that
// would carry data, not the apex of a wildcard, not a denied name below an
// allowed wildcard, not names with bytes a host name cannot have.
func TestRefusedNamesNeverForwarded(t *testing.T) {
	for _, network := range networks {
		t.Run(network, func(t *testing.T) {
			h := StartHarness(t, nil)
			tunnel := randomLabel(62) + "." + randomLabel(62) + "." + randomLabel(62) + ".allowed.test"
			names := []struct {
				qname, reported string
			}{
				{"notallowed.test", "notallowed.test"},
				{tunnel, tunnel},
				{"allowed.test.evil.test", "allowed.test.evil.test"},
				{"xallowed.test", "xallowed.test"},
				{"wild.test", "wild.test"},
				{"blocked.wild.test", "blocked.wild.test"},
				{"a.b.deny.wild.test", "a.b.deny.wild.test"},
				{`a\.b.wild.test`, `a\.b.wild.test`},
				{`x\000y.wild.test`, `x\000y.wild.test`},
				{"sp ace.wild.test", `sp\ ace.wild.test`},
				{".", "."},
			}
			for _, n := range names {
				for _, qtype := range []uint16{dns.TypeA, dns.TypeTXT, dns.TypeHTTPS, dns.TypeANY, dns.TypeNULL} {
					m := h.Query(t, network, n.qname, qtype)
					wantRcode(t, m, dns.RcodeRefused)
					if len(m.Answer) != 0 {
						t.Fatalf("refused with an answer: %v", m)
					}
				}
			}
			if n := h.Up.Count(""); n != 0 {
				t.Fatalf("the upstream received %d queries: %v", n, h.Up.Seen())
			}
			blocked := h.BlockedQueries()
			if len(blocked) != len(names)*5 {
				t.Fatalf("Blocked called %d times, want %d: %v", len(blocked), len(names)*5, blocked)
			}
			for i, n := range names {
				if b := blocked[i*5]; b.Name != n.reported || b.Qtype != dns.TypeA {
					t.Errorf("Blocked got %+v, want %q A", b, n.reported)
				}
			}
			if len(h.Learned()) != 0 {
				t.Fatalf("Learn called for refused names: %v", h.Learned())
			}
			if s := h.R.Stats(); s.Refused != uint64(len(names)*5) || s.Forwarded != 0 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

// A *.suffix wildcard allows names below the suffix at any depth.
func TestWildcard(t *testing.T) {
	h := StartHarness(t, nil)
	for _, name := range []string{"sub.wild.test", "a.b.wild.test", "x.blocked.wild.test", "_svc._tcp.wild.test"} {
		m := h.Query(t, "udp", name, dns.TypeA)
		wantRcode(t, m, dns.RcodeSuccess)
		if got := Addrs(m); !slices.Equal(got, addrs("192.0.2.30")) {
			t.Fatalf("%s: %v", name, got)
		}
	}
	var names []string
	for _, l := range h.Learned() {
		names = append(names, l.Name)
	}
	if !slices.Equal(names, []string{"sub.wild.test", "a.b.wild.test", "x.blocked.wild.test", "_svc._tcp.wild.test"}) {
		t.Fatalf("learned %v", names)
	}
}

// A CNAME chain is answered whole; every address at its end is learned for
// the name asked; records off the chain (a stray address, glue) are not
// passed on.
func TestCNAMEChain(t *testing.T) {
	h := StartHarness(t, nil)
	m := h.Query(t, "udp", "www.cname.test", dns.TypeA)
	wantRcode(t, m, dns.RcodeSuccess)
	var chain []string
	for _, rr := range m.Answer {
		chain = append(chain, rr.Header().Name+" "+dns.TypeToString[rr.Header().Rrtype])
	}
	want := []string{"www.cname.test. CNAME", "edge.cdn.test. CNAME", "host.cdn.test. A", "host.cdn.test. A"}
	if !slices.Equal(chain, want) {
		t.Fatalf("answer %v, want %v", chain, want)
	}
	if len(m.Ns) != 0 || len(m.Extra) != 0 {
		t.Fatalf("extra sections passed on: %v", m)
	}
	l := h.Learned()
	if len(l) != 1 || l[0].Name != "www.cname.test" || !slices.Equal(l[0].Addrs, addrs("192.0.2.20", "192.0.2.21")) ||
		l[0].TTL != 600*time.Second {
		t.Fatalf("learned %+v", l)
	}
	// AAAA: the chain ends without addresses; NODATA with the chain, no Learn.
	m = h.Query(t, "udp", "www.cname.test", dns.TypeAAAA)
	wantRcode(t, m, dns.RcodeSuccess)
	if len(Addrs(m)) != 0 || len(m.Answer) != 2 {
		t.Fatalf("AAAA answer %v", m.Answer)
	}
	if len(h.Learned()) != 1 {
		t.Fatalf("Learn called without addresses: %v", h.Learned())
	}
}

// Other types of an allowed name pass, without the additional records
// that would carry addresses Learn never saw.
func TestOtherTypesWithoutGlue(t *testing.T) {
	h := StartHarness(t, nil)
	m := h.Query(t, "udp", "allowed.test", dns.TypeMX)
	wantRcode(t, m, dns.RcodeSuccess)
	if len(m.Answer) != 1 || m.Answer[0].Header().Rrtype != dns.TypeMX {
		t.Fatalf("MX answer %v", m.Answer)
	}
	if len(m.Extra) != 0 {
		t.Fatalf("glue passed on: %v", m.Extra)
	}
	if len(h.Learned()) != 0 {
		t.Fatalf("Learn called for MX: %v", h.Learned())
	}
}

// NXDOMAIN and SERVFAIL from upstream reach the client as they are, and
// the resolver goes on answering.
func TestUpstreamFailuresPassThrough(t *testing.T) {
	for _, network := range networks {
		t.Run(network, func(t *testing.T) {
			h := StartHarness(t, nil)
			m := h.Query(t, network, "missing.nx.test", dns.TypeA)
			wantRcode(t, m, dns.RcodeNameError)
			if len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeSOA || m.Ns[0].Header().Ttl != 60 {
				t.Fatalf("NXDOMAIN without its SOA (TTL 60): %v", m.Ns)
			}
			// Cached negative answer: no second upstream query.
			wantRcode(t, h.Query(t, network, "missing.nx.test", dns.TypeA), dns.RcodeNameError)
			if n := h.Up.Count("missing.nx.test"); n != 1 {
				t.Fatalf("upstream asked %d times", n)
			}
			for range 2 {
				wantRcode(t, h.Query(t, network, "servfail.test", dns.TypeA), dns.RcodeServerFailure)
			}
			if n := h.Up.Count("servfail.test"); n != 2 {
				t.Fatalf("SERVFAIL cached? upstream asked %d times", n)
			}
			if len(h.Failures()) != 2 {
				t.Fatalf("Failed got %v", h.Failures())
			}
			wantRcode(t, h.Query(t, network, "allowed.test", dns.TypeA), dns.RcodeSuccess)
			if len(h.Learned()) != 1 {
				t.Fatalf("learned %v", h.Learned())
			}
		})
	}
}

// A silent upstream costs its attempt timeout, then the next upstream is
// asked; when none answers the client gets SERVFAIL, not silence.
func TestUpstreamTimeout(t *testing.T) {
	hole := StartBlackhole(t)
	t.Run("next server", func(t *testing.T) {
		h := StartHarness(t, func(c *Config) {
			c.Upstreams = []string{hole.Addr, c.Upstreams[0]}
			c.AttemptTimeout = 200 * time.Millisecond
		})
		m := h.Query(t, "udp", "allowed.test", dns.TypeA)
		wantRcode(t, m, dns.RcodeSuccess)
		<-hole.Got
		if got := Addrs(m); !slices.Equal(got, addrs("192.0.2.10")) {
			t.Fatalf("answer %v", got)
		}
	})
	t.Run("none answers", func(t *testing.T) {
		h := StartHarness(t, func(c *Config) {
			c.Upstreams = []string{hole.Addr}
			c.AttemptTimeout = 200 * time.Millisecond
			c.QueryTimeout = 300 * time.Millisecond
		})
		for _, network := range networks {
			wantRcode(t, h.Query(t, network, "allowed.test", dns.TypeA), dns.RcodeServerFailure)
		}
		if f := h.Failures(); len(f) != 2 || !strings.Contains(f[0].Error(), "no upstream answered") {
			t.Fatalf("Failed got %v", f)
		}
		if len(h.Learned()) != 0 {
			t.Fatalf("learned %v", h.Learned())
		}
	})
}

// While one query waits on a silent upstream, others are answered; Close
// does not wait for the silent upstream.
func TestSilentUpstreamDoesNotHang(t *testing.T) {
	hole := StartBlackhole(t)
	h := StartHarness(t, func(c *Config) {
		c.Upstreams = []string{hole.Addr}
		c.AttemptTimeout = time.Hour
		c.QueryTimeout = time.Hour
	})
	for _, network := range networks {
		go func() {
			c := &dns.Client{Net: network, Timeout: time.Hour}
			m := new(dns.Msg)
			m.SetQuestion("allowed.test.", dns.TypeA)
			_, _, _ = c.Exchange(m, h.Addr) // only to hold a query in flight
		}()
	}
	<-hole.Got
	<-hole.Got
	for _, network := range networks {
		wantRcode(t, h.Query(t, network, "notallowed.test", dns.TypeA), dns.RcodeRefused)
		wantRcode(t, h.Query(t, network, "svc.test", dns.TypeHTTPS), dns.RcodeSuccess)
	}
	closed := make(chan struct{})
	go func() { _ = h.R.Close(); close(closed) }() // what is checked is that it returns
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close waited for a silent upstream")
	}
}

// If Learn fails, the client gets SERVFAIL, never the address, and nothing
// is cached.
func TestLearnFailureIsServfail(t *testing.T) {
	for _, network := range networks {
		t.Run(network, func(t *testing.T) {
			h := StartHarness(t, nil)
			h.SetLearnError(errLearn)
			m := h.Query(t, network, "allowed.test", dns.TypeA)
			wantRcode(t, m, dns.RcodeServerFailure)
			if len(m.Answer) != 0 {
				t.Fatalf("answer with SERVFAIL: %v", m.Answer)
			}
			if f := h.Failures(); len(f) != 1 || f[0] != errLearn {
				t.Fatalf("Failed got %v", f)
			}
			h.SetLearnError(nil)
			wantRcode(t, h.Query(t, network, "allowed.test", dns.TypeA), dns.RcodeSuccess)
			if n := h.Up.Count("allowed.test"); n != 2 {
				t.Fatalf("a failed answer was cached: upstream asked %d times", n)
			}
			// A cache hit whose Learn fails is SERVFAIL too, and drops the entry.
			h.SetLearnError(errLearn)
			wantRcode(t, h.Query(t, network, "allowed.test", dns.TypeA), dns.RcodeServerFailure)
			h.SetLearnError(nil)
			wantRcode(t, h.Query(t, network, "allowed.test", dns.TypeA), dns.RcodeSuccess)
			if n := h.Up.Count("allowed.test"); n != 3 {
				t.Fatalf("upstream asked %d times, want 3", n)
			}
		})
	}
}

// HTTPS and SVCB questions get NODATA without asking upstream, so their
// address hints never reach the client; ANY and zone transfers NOTIMP.
func TestHintTypesAndMetaTypes(t *testing.T) {
	for _, network := range networks {
		t.Run(network, func(t *testing.T) {
			h := StartHarness(t, nil)
			for _, qtype := range []uint16{dns.TypeHTTPS, dns.TypeSVCB} {
				m := h.Query(t, network, "svc.test", qtype)
				wantRcode(t, m, dns.RcodeSuccess)
				if len(m.Answer)+len(m.Ns)+len(m.Extra) != 0 {
					t.Fatalf("%s answer: %v", dns.TypeToString[qtype], m)
				}
			}
			for _, qtype := range []uint16{dns.TypeANY, dns.TypeAXFR, dns.TypeIXFR, dns.TypeMAILB, 0} {
				wantRcode(t, h.Query(t, network, "svc.test", qtype), dns.RcodeNotImplemented)
			}
			if n := h.Up.Count(""); n != 0 {
				t.Fatalf("upstream asked: %v", h.Up.Seen())
			}
			m := h.Query(t, network, "svc.test", dns.TypeA)
			if got := Addrs(m); !slices.Equal(got, addrs("192.0.2.40")) {
				t.Fatalf("A answer %v", got)
			}
		})
	}
}

// An upstream answer truncated over UDP is asked again over TCP; a client
// over UDP without EDNS gets TC and the whole answer over TCP; Learn has
// every address either way.
func TestTruncation(t *testing.T) {
	h := StartHarness(t, nil)
	m := h.Query(t, "udp", "big.test", dns.TypeA)
	wantRcode(t, m, dns.RcodeSuccess)
	if !m.Truncated || len(m.Answer) >= 40 {
		t.Fatalf("512-byte UDP answer: TC=%v, %d records", m.Truncated, len(m.Answer))
	}
	m = h.Query(t, "tcp", "big.test", dns.TypeA)
	if m.Truncated || len(m.Answer) != 40 {
		t.Fatalf("TCP answer: TC=%v, %d records", m.Truncated, len(m.Answer))
	}
	q := new(dns.Msg)
	q.SetQuestion("big.test.", dns.TypeA)
	q.SetEdns0(4096, false)
	m = Exchange(t, "udp", h.Addr, q)
	if m.Truncated || len(m.Answer) != 40 || m.IsEdns0() == nil {
		t.Fatalf("EDNS UDP answer: TC=%v, %d records, OPT %v", m.Truncated, len(m.Answer), m.IsEdns0())
	}
	var nets []string
	for _, s := range h.Up.Seen() {
		nets = append(nets, s.Net)
	}
	if !slices.Equal(nets, []string{"udp", "tcp"}) {
		t.Fatalf("upstream saw %v, want one UDP query and its TCP retry", nets)
	}
	for _, l := range h.Learned() {
		if len(l.Addrs) != 40 {
			t.Fatalf("learned %d addresses, want 40", len(l.Addrs))
		}
	}
	if len(h.Learned()) != 3 {
		t.Fatalf("Learn called %d times, want 3", len(h.Learned()))
	}
}

// A cached answer does not ask upstream, is learned again before every
// reply with the TTL left, counts its TTLs down, and expires with its
// least TTL.
func TestCache(t *testing.T) {
	for _, network := range networks {
		t.Run(network, func(t *testing.T) {
			h := StartHarness(t, nil)
			now := time.Now()
			h.SetClock(now)
			m := h.Query(t, network, "www.cname.test", dns.TypeA)
			ttls := func(m *dns.Msg) (out []uint32) {
				for _, rr := range m.Answer {
					out = append(out, rr.Header().Ttl)
				}
				return out
			}
			if got := ttls(m); !slices.Equal(got, []uint32{600, 60, 120, 120}) {
				t.Fatalf("TTLs %v", got)
			}
			now = now.Add(40 * time.Second)
			h.SetClock(now)
			m = h.Query(t, network, "www.cname.test", dns.TypeA)
			if got := ttls(m); !slices.Equal(got, []uint32{560, 20, 80, 80}) {
				t.Fatalf("cached TTLs %v", got)
			}
			if n := h.Up.Count(""); n != 1 {
				t.Fatalf("cache hit asked upstream: %v", h.Up.Seen())
			}
			l := h.Learned()
			if len(l) != 2 || l[1].Name != "www.cname.test" || !slices.Equal(l[1].Addrs, addrs("192.0.2.20", "192.0.2.21")) ||
				l[1].TTL != 560*time.Second {
				t.Fatalf("learned %+v", l)
			}
			h.SetClock(now.Add(20 * time.Second)) // the CNAME's 60 s are up
			h.Query(t, network, "www.cname.test", dns.TypeA)
			if n := h.Up.Count(""); n != 2 {
				t.Fatalf("expired entry served: upstream asked %d times", n)
			}
			if s := h.R.Stats(); s.CacheHits != 1 || s.Forwarded != 2 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

// Learn's TTL has a floor; TTLs above MaxTTL are cut for the client too.
func TestLearnTTLBounds(t *testing.T) {
	h := StartHarness(t, func(c *Config) { c.MaxTTL = 100 * time.Second })
	m := h.Query(t, "udp", "short.test", dns.TypeA)
	if m.Answer[0].Header().Ttl != 5 {
		t.Fatalf("TTL %d, want 5", m.Answer[0].Header().Ttl)
	}
	m = h.Query(t, "udp", "allowed.test", dns.TypeA)
	if m.Answer[0].Header().Ttl != 100 {
		t.Fatalf("TTL %d, want 100 (MaxTTL)", m.Answer[0].Header().Ttl)
	}
	l := h.Learned()
	if l[0].TTL != DefaultMinLearnTTL || l[1].TTL != 100*time.Second {
		t.Fatalf("learned TTLs %v and %v, want %v and 100s", l[0].TTL, l[1].TTL, DefaultMinLearnTTL)
	}
}

// A new policy applies to the next query, cached answers included.
func TestSetPolicy(t *testing.T) {
	h := StartHarness(t, nil)
	wantRcode(t, h.Query(t, "udp", "allowed.test", dns.TypeA), dns.RcodeSuccess)
	h.R.SetPolicy(PolicyFunc(func(name string) bool { return name != "allowed.test" }))
	wantRcode(t, h.Query(t, "udp", "allowed.test", dns.TypeA), dns.RcodeRefused)
	h.R.SetPolicy(PolicyFunc(func(string) bool { return true }))
	wantRcode(t, h.Query(t, "udp", "notallowed.test", dns.TypeA), dns.RcodeNameError)
	if b := h.BlockedQueries(); len(b) != 1 || b[0].Name != "allowed.test" {
		t.Fatalf("blocked %v", b)
	}
}

// Packets that are not one plain query: the right error, never a crash,
// never an upstream query.
func TestMalformed(t *testing.T) {
	h := StartHarness(t, nil)
	query := func(name string, qtype uint16) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		return m
	}
	pack := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	two := query("allowed.test.", dns.TypeA)
	two.Question = append(two.Question, dns.Question{Name: "notallowed.test.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	none := query("allowed.test.", dns.TypeA)
	none.Question = nil
	chaos := query("allowed.test.", dns.TypeTXT)
	chaos.Question[0].Qclass = dns.ClassCHAOS
	notify := query("allowed.test.", dns.TypeSOA)
	notify.Opcode = dns.OpcodeNotify
	update := query("allowed.test.", dns.TypeSOA)
	update.Opcode = dns.OpcodeUpdate
	edns1 := query("allowed.test.", dns.TypeA)
	edns1.SetEdns0(1232, false)
	edns1.IsEdns0().SetVersion(1)
	response := query("allowed.test.", dns.TypeA)
	response.Response = true
	garbage := pack(query("allowed.test.", dns.TypeA))
	garbage = append(garbage[:12:12], 0xc0, 0x0c, 0xff) // a pointer to itself, cut short

	cases := []struct {
		name  string
		pkt   []byte
		rcode int // -1: no answer
	}{
		{"two questions", pack(two), dns.RcodeFormatError},
		{"no question", pack(none), dns.RcodeFormatError},
		{"class CH", pack(chaos), dns.RcodeRefused},
		{"NOTIFY", pack(notify), dns.RcodeNotImplemented},
		{"UPDATE", pack(update), dns.RcodeNotImplemented},
		{"EDNS version 1", pack(edns1), dns.RcodeBadVers},
		{"a response", pack(response), -1},
		{"garbage after the header", garbage, dns.RcodeFormatError},
		{"runt", []byte{1, 2, 3}, -1},
		{"empty", nil, -1},
	}
	for _, c := range cases {
		for _, overTCP := range []bool{false, true} {
			out := h.R.handle(t.Context(), c.pkt, overTCP)
			if c.rcode < 0 {
				if out != nil {
					t.Errorf("%s: answered %x", c.name, out)
				}
				continue
			}
			m := new(dns.Msg)
			if err := m.Unpack(out); err != nil {
				t.Fatalf("%s: reply does not parse: %v", c.name, err)
			}
			if m.Rcode != c.rcode || !m.Response || len(c.pkt) >= 2 && m.Id != uint16(c.pkt[0])<<8|uint16(c.pkt[1]) {
				t.Errorf("%s: got %v", c.name, m)
			}
		}
	}
	// Over the wire too: a FORMERR comes back over UDP and TCP.
	for _, network := range networks {
		wantRcode(t, Exchange(t, network, h.Addr, two), dns.RcodeFormatError)
		wantRcode(t, Exchange(t, network, h.Addr, chaos), dns.RcodeRefused)
	}
	if n := h.Up.Count(""); n != 0 {
		t.Fatalf("upstream asked: %v", h.Up.Seen())
	}
	if len(h.BlockedQueries()) != 0 {
		t.Fatalf("blocked: %v", h.BlockedQueries())
	}
}

// Close stops serving: the serve loops return ErrClosed and the sockets
// are closed.
func TestClose(t *testing.T) {
	h := StartHarness(t, nil)
	wantRcode(t, h.Query(t, "udp", "allowed.test", dns.TypeA), dns.RcodeSuccess)
	// An idle TCP connection must not keep Close waiting.
	c, err := dns.Dial("tcp", h.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := h.R.Close(); err != nil {
		t.Fatal(err)
	}
	cl := &dns.Client{Timeout: 300 * time.Millisecond}
	if _, _, err := cl.Exchange(new(dns.Msg).SetQuestion("allowed.test.", dns.TypeA), h.Addr); err == nil {
		t.Fatal("answered after Close")
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.R.ServeUDP(pc); err != ErrClosed {
		t.Fatalf("ServeUDP after Close: %v", err)
	}
	if _, err := pc.WriteTo([]byte{0}, pc.LocalAddr()); err == nil {
		t.Fatal("ServeUDP after Close left its socket open")
	}
}
