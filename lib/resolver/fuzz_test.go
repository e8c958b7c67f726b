package resolver

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// FuzzHandle feeds arbitrary bytes to the resolver's packet path, in front
// of the real upstream test server: it never panics, every reply parses
// and answers the packet's id, the upstream is never asked a name the
// policy refuses, and every address a reply carries went through Learn.
func FuzzHandle(f *testing.F) {
	h := StartHarness(f, func(c *Config) { c.AttemptTimeout = time.Second })
	policy := PolicyOfTests(f)
	seed := func(name string, qtype uint16, edns bool) {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		if edns {
			m.SetEdns0(4096, false)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
		f.Add(b, true)
	}
	for _, name := range []string{"allowed.test.", "www.cname.test.", "sub.wild.test.", "big.test.", "missing.nx.test.",
		"notallowed.test.", "blocked.wild.test.", "svc.test.", "servfail.test.", "."} {
		for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeHTTPS, dns.TypeMX, dns.TypeANY} {
			seed(name, qtype, qtype == dns.TypeA)
		}
	}
	f.Add([]byte{0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0}, false)
	f.Add([]byte{}, true)

	f.Fuzz(func(t *testing.T, packet []byte, overTCP bool) {
		before := len(h.Up.Seen())
		out := h.R.handle(t.Context(), packet, overTCP)
		for _, q := range h.Up.Seen()[before:] {
			if !policy.Allowed(q.Name) {
				t.Fatalf("forwarded %q, which the policy refuses", q.Name)
			}
		}
		if out == nil {
			return
		}
		if len(packet) < 12 {
			t.Fatalf("answered a runt")
		}
		m := new(dns.Msg)
		if err := m.Unpack(out); err != nil {
			t.Fatalf("reply does not parse: %v", err)
		}
		if !m.Response || m.Id != binary.BigEndian.Uint16(packet) {
			t.Fatalf("reply %v to id %d", m.MsgHdr, binary.BigEndian.Uint16(packet))
		}
		learned := map[netip.Addr]bool{}
		for _, l := range h.Learned() {
			for _, a := range l.Addrs {
				learned[a] = true
			}
		}
		for _, a := range Addrs(m) {
			if !learned[a] {
				t.Fatalf("reply carries %v, which Learn never saw", a)
			}
		}
	})
}
