package resolver

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Query is one question an upstream test server received.
type Query struct {
	Name  string // lower case, no trailing dot
	Qtype uint16
	Net   string // "udp" or "tcp"
}

// Upstream is a real DNS server on 127.0.0.1 (UDP and TCP on one random
// port) with a few zones under .test, standing in for the host's resolver.
// It records every question it receives.
type Upstream struct {
	Addr string
	mu   sync.Mutex
	seen []Query
}

// Seen returns the questions received so far.
func (u *Upstream) Seen() []Query {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Query(nil), u.seen...)
}

// Count returns how many questions for name (any type, any transport) it
// received; name "" counts all.
func (u *Upstream) Count(name string) int {
	n := 0
	for _, q := range u.Seen() {
		if name == "" || q.Name == name {
			n++
		}
	}
	return n
}

func rr(t testing.TB, s string) dns.RR {
	r, err := dns.NewRR(s)
	if err != nil {
		t.Fatalf("bad test record %q: %v", s, err)
	}
	return r
}

// StartUpstream starts the upstream test server; it stops with the test.
//
// Its zones: allowed.test (A, AAAA, MX with a glue address); short.test
// (A, TTL 5); www.cname.test → edge.cdn.test → host.cdn.test (two A; the
// answer also carries a stray A of another name and a glue address);
// wild.test and every name below it (A 192.0.2.30); big.test (40 A, always
// truncated over UDP); svc.test (A and an HTTPS record with address
// hints); servfail.test (SERVFAIL); everything else NXDOMAIN with a SOA.
func StartUpstream(t testing.TB) *Upstream {
	t.Helper()
	u := &Upstream{}
	zone := map[string][]string{
		"allowed.test.": {"allowed.test. 300 IN A 192.0.2.10", "allowed.test. 300 IN AAAA 2001:db8::10",
			"allowed.test. 300 IN MX 10 mail.allowed.test."},
		"short.test.": {"short.test. 5 IN A 192.0.2.11"},
		"www.cname.test.": {"www.cname.test. 600 IN CNAME edge.cdn.test.", "edge.cdn.test. 60 IN CNAME host.cdn.test.",
			"host.cdn.test. 120 IN A 192.0.2.20", "host.cdn.test. 120 IN A 192.0.2.21", "stray.test. 120 IN A 203.0.113.66"},
		"svc.test.": {"svc.test. 300 IN A 192.0.2.40",
			`svc.test. 300 IN HTTPS 1 . alpn="h2" ipv4hint="203.0.113.1" ipv6hint="2001:db8::bad"`},
	}
	for i := 1; i <= 40; i++ {
		zone["big.test."] = append(zone["big.test."], "big.test. 300 IN A 198.51.100."+strconv.Itoa(i))
	}
	parsed := map[string][]dns.RR{}
	for name, list := range zone {
		for _, s := range list {
			parsed[name] = append(parsed[name], rr(t, s))
		}
	}
	soa := rr(t, "test. 3600 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60")
	glue := rr(t, "mail.allowed.test. 300 IN A 203.0.113.25")
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.RecursionAvailable = true
		if len(req.Question) != 1 {
			m.Rcode = dns.RcodeFormatError
			_ = w.WriteMsg(m) // a lost answer shows in the test as a timeout
			return
		}
		q := req.Question[0]
		name := strings.ToLower(q.Name)
		network := w.LocalAddr().Network()
		u.mu.Lock()
		u.seen = append(u.seen, Query{strings.TrimSuffix(name, "."), q.Qtype, network})
		u.mu.Unlock()
		records, known := parsed[name]
		if name == "wild.test." || strings.HasSuffix(name, ".wild.test.") {
			records = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300},
				A: net.IPv4(192, 0, 2, 30)}}
			known = true
		}
		switch {
		case name == "servfail.test.":
			m.Rcode = dns.RcodeServerFailure
		case name == "big.test." && network == "udp":
			m.Truncated = true
		case !known:
			m.Rcode = dns.RcodeNameError
			m.Ns = []dns.RR{soa}
		default:
			for _, r := range records {
				if r.Header().Rrtype == q.Qtype || r.Header().Rrtype == dns.TypeCNAME {
					m.Answer = append(m.Answer, r)
				}
			}
			if q.Qtype == dns.TypeMX {
				m.Extra = append(m.Extra, glue)
			}
			if len(m.Answer) == 0 {
				m.Ns = []dns.RR{soa}
			}
		}
		if opt := req.IsEdns0(); opt != nil {
			m.SetEdns0(opt.UDPSize(), false)
		}
		_ = w.WriteMsg(m) // a lost answer shows in the test as a timeout
	})
	var pc net.PacketConn
	var l net.Listener
	for try := 0; ; try++ {
		var err error
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
	u.Addr = pc.LocalAddr().String()
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: handler}, {Listener: l, Handler: handler}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go func() { _ = s.ActivateAndServe() }() // it ends at Shutdown
		<-started
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	return u
}

// Blackhole is a UDP socket that reads queries and never answers. Each
// query read is sent on Got (dropped when nobody listens).
type Blackhole struct {
	Addr string
	Got  chan struct{}
}

// StartBlackhole starts a Blackhole; it stops with the test.
func StartBlackhole(t testing.TB) *Blackhole {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	b := &Blackhole{Addr: pc.LocalAddr().String(), Got: make(chan struct{}, 16)}
	go func() {
		buf := make([]byte, 65535)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			select {
			case b.Got <- struct{}{}:
			default:
			}
		}
	}()
	return b
}
