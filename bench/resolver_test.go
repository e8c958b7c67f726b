package bench

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/policy"
	"github.com/terok-ai/terok-go/lib/resolver"
)

// BenchmarkResolverCached: a lookup of an allowed, cached name through a
// task's resolver (lib/resolver) against the same lookup straight to its
// upstream (a miekg/dns server answering from memory), alternately, both
// over UDP on the host's loopback with a fresh socket per query, as a stub
// resolver makes them. Goal: under 1 ms added (added-us). Learn is a no-op
// here: the firewall's cost of learning again on a cache hit belongs to
// terok-shield and is measured with it.
func BenchmarkResolverCached(b *testing.B) {
	upstream := listenUDP(b)
	a := &dns.A{Hdr: dns.RR_Header{Name: "pypi.org.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 3600},
		A: net.IPv4(192, 0, 2, 1)}
	srv := &dns.Server{PacketConn: upstream, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Answer = []dns.RR{a}
		_ = w.WriteMsg(m) // a lost answer fails the lookup, which reports it
	})}
	go func() { _ = srv.ActivateAndServe() }() // it ends at Shutdown
	defer func() { _ = srv.Shutdown() }()

	target, err := config.ParseTarget("pypi.org")
	if err != nil {
		b.Fatal(err)
	}
	r, err := resolver.New(resolver.Config{
		Policy:    policy.Policy{Allow: []policy.Entry{{Target: target}}},
		Upstreams: []string{upstream.LocalAddr().String()},
		Learn:     func(string, []netip.Addr, time.Duration) error { return nil },
	})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	task := listenUDP(b)
	go func() { _ = r.ServeUDP(task) }() // it ends at Close

	c := &dns.Client{Timeout: 5 * time.Second}
	lookup := func(addr string) time.Duration {
		q := new(dns.Msg)
		q.SetQuestion("pypi.org.", dns.TypeA)
		t0 := time.Now()
		m, _, err := c.Exchange(q, addr)
		d := time.Since(t0)
		if err != nil || len(m.Answer) != 1 {
			b.Fatalf("lookup at %s: %v %v", addr, err, m)
		}
		return d
	}
	lookup(upstream.LocalAddr().String())
	lookup(task.LocalAddr().String()) // fills the cache
	b.ResetTimer()
	var tb, tm time.Duration
	for i := 0; i < b.N; i++ {
		tb += lookup(upstream.LocalAddr().String())
		tm += lookup(task.LocalAddr().String())
	}
	n := float64(b.N)
	b.ReportMetric(float64(tb.Microseconds())/n/1000, "base-ms")
	b.ReportMetric(float64(tm.Microseconds())/n/1000, "terok-ms")
	b.ReportMetric(float64(tm)/float64(tb), "ratio")
	b.ReportMetric(float64((tm-tb).Microseconds())/n, "added-us")
	b.ReportMetric(0, "ns/op")
	if s := r.Stats(); s.Forwarded != 1 {
		b.Fatalf("the cached name went upstream %d times", s.Forwarded)
	}
}

func listenUDP(b *testing.B) net.PacketConn {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return pc
}
