package shield

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/terok-ai/terok-go/lib/config"
)

func mustTargets(ss ...string) []config.Target {
	var out []config.Target
	for _, s := range ss {
		t, err := config.ParseTarget(s)
		if err != nil {
			panic(err)
		}
		out = append(out, t)
	}
	return out
}

func TestBuildTableChainsSets(t *testing.T) {
	p := Policy{
		Allow: mustTargets("pypi.org", "*.pythonhosted.org", "192.0.2.7", "10.1.2.0/24", "10.1.2.9", "10.1.3.0/24", "2001:db8::/32"),
		Deny:  mustTargets("198.51.100.0/24", "2001:db8:bad::1"),
		Host:  []netip.Addr{netip.MustParseAddr("203.0.113.99"), netip.MustParseAddr("10.88.0.1"), netip.MustParseAddr("2001:db8:ffff::1")},
	}
	r := Build(p)
	if r.Table.Name != "terok" || r.Table.Family != nftables.TableFamilyINet {
		t.Fatalf("table %+v", r.Table)
	}
	var chains []string
	for _, c := range r.Chains {
		chains = append(chains, fmt.Sprintf("%s %s hook %d priority %d policy %d", c.Name, c.Type, *c.Hooknum, *c.Priority, *c.Policy))
	}
	wantChains := []string{
		fmt.Sprintf("output filter hook %d priority 0 policy %d", *nftables.ChainHookOutput, nftables.ChainPolicyDrop),
		fmt.Sprintf("input filter hook %d priority 0 policy %d", *nftables.ChainHookInput, nftables.ChainPolicyDrop),
	}
	if !slices.Equal(chains, wantChains) {
		t.Errorf("chains\n%q\nwant\n%q", chains, wantChains)
	}

	var sets []string
	for _, s := range r.Sets {
		var els []string
		if s.Set.Interval {
			for _, sp := range spansOf(s.Elements, s.Set.KeyType == nftables.TypeIPAddr) {
				for _, p := range prefixes(sp) {
					els = append(els, p.String())
				}
			}
		}
		sets = append(sets, fmt.Sprintf("%s %s interval=%v timeout=%v constant=%v %v", s.Set.Name, s.Set.KeyType.Name,
			s.Set.Interval, s.Set.HasTimeout, s.Set.Constant, els))
	}
	wantSets := []string{
		"alive mark interval=false timeout=true constant=false []",
		"down mark interval=false timeout=true constant=false []",
		"deny4 ipv4_addr interval=true timeout=false constant=false [198.51.100.0/24]",
		"deny6 ipv6_addr interval=true timeout=false constant=false [2001:db8:bad::1/128]",
		"allow4 ipv4_addr interval=true timeout=false constant=false [10.1.2.0/23 192.0.2.7/32]",
		"allow6 ipv6_addr interval=true timeout=false constant=false [2001:db8::/32]",
		"restricted4 ipv4_addr interval=true timeout=false constant=true [0.0.0.0/8 10.0.0.0/8 100.64.0.0/10 127.0.0.0/8 169.254.0.0/16 172.16.0.0/12 192.0.0.0/24 192.168.0.0/16 198.18.0.0/15 203.0.113.99/32 224.0.0.0/3]",
		"restricted6 ipv6_addr interval=true timeout=false constant=true [::/127 64:ff9b::/104 64:ff9b::a00:0/104 64:ff9b::6440:0/106 64:ff9b::7f00:0/104 64:ff9b::a9fe:0/112 64:ff9b::ac10:0/108 64:ff9b::c000:0/120 64:ff9b::c0a8:0/112 64:ff9b::c612:0/111 64:ff9b::e000:0/99 2001:db8:ffff::1/128 fc00::/7 fe80::/10 ff00::/8]",
		"learned4 ipv4_addr interval=false timeout=true constant=false []",
		"learned6 ipv6_addr interval=false timeout=true constant=false []",
	}
	if !slices.Equal(sets, wantSets) {
		t.Errorf("sets\n%s\nwant\n%s", strings.Join(sets, "\n"), strings.Join(wantSets, "\n"))
	}
}

func TestBuildRules(t *testing.T) {
	alive := fmt.Sprintf("0x%x @alive", aliveKey)
	want := []string{
		`output: meta oifname "lo" accept`,
		`output: meta nfproto ipv4 ip daddr @deny4 meta l4proto tcp log group 100 prefix "terok deny: " reject with tcp reset`,
		`output: meta nfproto ipv4 ip daddr @deny4 log group 100 prefix "terok deny: " reject with icmpx admin-prohibited`,
		`output: meta nfproto ipv6 ip6 daddr @deny6 meta l4proto tcp log group 100 prefix "terok deny: " reject with tcp reset`,
		`output: meta nfproto ipv6 ip6 daddr @deny6 log group 100 prefix "terok deny: " reject with icmpx admin-prohibited`,
		`output: ct state established,related ` + alive + ` accept`,
		`output: meta nfproto ipv6 meta l4proto icmpv6 icmpv6 type 135-136 accept`,
		`output: meta l4proto tcp th dport 53 log group 100 prefix "terok dns: " reject with tcp reset`,
		`output: meta l4proto udp th dport 53 log group 100 prefix "terok dns: " reject with icmpx admin-prohibited`,
		`output: meta nfproto ipv4 ip daddr @allow4 ` + alive + ` accept`,
		`output: meta nfproto ipv6 ip6 daddr @allow6 ` + alive + ` accept`,
		`output: meta nfproto ipv4 ip daddr @restricted4 meta l4proto tcp log group 100 prefix "terok restricted: " reject with tcp reset`,
		`output: meta nfproto ipv4 ip daddr @restricted4 log group 100 prefix "terok restricted: " reject with icmpx admin-prohibited`,
		`output: meta nfproto ipv6 ip6 daddr @restricted6 meta l4proto tcp log group 100 prefix "terok restricted: " reject with tcp reset`,
		`output: meta nfproto ipv6 ip6 daddr @restricted6 log group 100 prefix "terok restricted: " reject with icmpx admin-prohibited`,
		`output: meta nfproto ipv4 ip daddr @learned4 ` + alive + ` accept`,
		`output: meta nfproto ipv6 ip6 daddr @learned6 ` + alive + ` accept`,
		`output: 0x01000000 @down ` + alive + ` log group 100 prefix "terok down: " accept`,
		`output: meta l4proto tcp log group 100 prefix "terok blocked: " reject with tcp reset`,
		`output: log group 100 prefix "terok blocked: " reject with icmpx admin-prohibited`,
		`input: meta iifname "lo" accept`,
		`input: ct state established,related accept`,
		`input: meta nfproto ipv6 meta l4proto icmpv6 icmpv6 type 134-136 accept`,
	}
	var got []string
	for _, r := range Build(Policy{Allow: mustTargets("192.0.2.1")}).Rules {
		got = append(got, r.Chain.Name+": "+Describe(r.Exprs))
		if !strings.HasPrefix(RuleComment(r), "terok: ") {
			t.Errorf("rule without a comment: %s", Describe(r.Exprs))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("rules\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Another log group shows in every log.
	for _, r := range Build(Policy{LogGroup: 7}).Rules {
		if d := Describe(r.Exprs); strings.Contains(d, "log ") && !strings.Contains(d, "log group 7 ") {
			t.Errorf("log group not used: %s", d)
		}
	}
	// Every accept of egress but loopback and neighbour discovery needs the heartbeat.
	for _, r := range Build(Policy{}).Rules {
		d := Describe(r.Exprs)
		if r.Chain.Name == ChainOutput && strings.HasSuffix(d, "accept") && !strings.Contains(d, "@alive") &&
			!strings.Contains(d, `oifname "lo"`) && !strings.Contains(d, "icmpv6 type 135-136") {
			t.Errorf("an accept without the heartbeat: %s", d)
		}
	}
}

// packet is what the evaluator below needs of a packet.
type packet struct {
	daddr   string
	l4      byte   // unix.IPPROTO_*
	dport   uint16 // TCP/UDP
	icmp6   byte   // ICMPv6 type
	oif     string // default eth0
	ctstate uint32 // default new
	mark    uint32 // the socket's SO_MARK
}

// evaluate runs a packet through the output chain of a built ruleset the
// way the kernel would, with alive and learned as the dynamic sets'
// contents, and returns the verdict and the log prefix.
func evaluate(t *testing.T, r *Ruleset, pk packet, alive bool, learned ...string) (string, string) {
	t.Helper()
	a := netip.MustParseAddr(pk.daddr)
	nfproto := byte(unix.NFPROTO_IPV6)
	if a.Is4() {
		nfproto = unix.NFPROTO_IPV4
	}
	if pk.oif == "" {
		pk.oif = "eth0"
	}
	if pk.ctstate == 0 {
		pk.ctstate = expr.CtStateBitNEW
	}
	member := func(name string, key []byte) bool {
		if name == SetAlive {
			return alive && bytes.Equal(key, aliveKey)
		}
		for _, s := range r.Sets {
			if s.Set.Name != name {
				continue
			}
			if !s.Set.Interval && s.Set.HasTimeout == false {
				return slices.ContainsFunc(s.Elements, func(e nftables.SetElement) bool { return bytes.Equal(e.Key, key) })
			}
			if !s.Set.Interval {
				for _, l := range learned {
					if bytes.Equal(netip.MustParseAddr(l).AsSlice(), key) {
						return true
					}
				}
				return false
			}
			k, _ := netip.AddrFromSlice(key)
			for _, sp := range spansOf(s.Elements, s.Set.KeyType == nftables.TypeIPAddr) {
				if sp.contains(span{k, k}) {
					return true
				}
			}
		}
		return false
	}
rules:
	for _, rule := range r.Rules {
		if rule.Chain.Name != ChainOutput {
			continue
		}
		var reg []byte
		logged := ""
		for _, e := range rule.Exprs {
			switch x := e.(type) {
			case *expr.Meta:
				switch x.Key {
				case expr.MetaKeyNFPROTO:
					reg = []byte{nfproto}
				case expr.MetaKeyL4PROTO:
					reg = []byte{pk.l4}
				case expr.MetaKeyOIFNAME:
					reg = make([]byte, 16)
					copy(reg, pk.oif)
				case expr.MetaKeyMARK:
					reg = binary.NativeEndian.AppendUint32(nil, pk.mark)
				default:
					t.Fatalf("meta key %d", x.Key)
				}
			case *expr.Payload:
				switch payloadName(x) {
				case "ip daddr", "ip6 daddr":
					reg = a.AsSlice()
					if len(reg) != int(x.Len) {
						reg = make([]byte, x.Len) // the wrong family: whatever is there
					}
				case "th dport":
					reg = binary.BigEndian.AppendUint16(nil, pk.dport)
				case "icmpv6 type":
					reg = []byte{pk.icmp6}
				default:
					t.Fatalf("payload %+v", x)
				}
			case *expr.Ct:
				reg = binary.NativeEndian.AppendUint32(nil, pk.ctstate)
			case *expr.Bitwise:
				for i := range reg {
					reg[i] = reg[i]&x.Mask[i] ^ x.Xor[i]
				}
			case *expr.Immediate:
				reg = x.Data
			case *expr.Cmp:
				c := bytes.Compare(reg[:len(x.Data)], x.Data)
				if (x.Op == expr.CmpOpEq) != (c == 0) {
					continue rules
				}
			case *expr.Range:
				if bytes.Compare(reg, x.FromData) < 0 || bytes.Compare(reg, x.ToData) > 0 {
					continue rules
				}
			case *expr.Lookup:
				if !member(x.SetName, reg) {
					continue rules
				}
			case *expr.Log:
				logged = string(x.Data)
			case *expr.Verdict:
				return verdictName(x), logged
			case *expr.Reject:
				return rejectName(x), logged
			default:
				t.Fatalf("expression %T", e)
			}
		}
	}
	return "drop (policy)", ""
}

func TestBuildSemantics(t *testing.T) {
	r := Build(Policy{
		Allow: mustTargets("198.51.100.10", "10.1.2.3", "2001:db8:1::/48", "198.51.100.30", "169.254.169.254", "pypi.org"),
		Deny:  mustTargets("198.51.100.30", "2001:db8:1:bad::/64"),
		Host:  []netip.Addr{netip.MustParseAddr("203.0.113.99")},
	})
	const (
		accept = "accept"
		rst    = "reject with tcp reset"
		admin  = "reject with icmpx admin-prohibited"
	)
	tcp := func(a string, port uint16) packet { return packet{daddr: a, l4: unix.IPPROTO_TCP, dport: port} }
	udp := func(a string, port uint16) packet { return packet{daddr: a, l4: unix.IPPROTO_UDP, dport: port} }
	cases := []struct {
		what    string
		p       packet
		alive   bool
		learned []string
		verdict string
		log     string
	}{
		{"loopback, warden or not", packet{daddr: "127.0.0.1", l4: unix.IPPROTO_UDP, dport: 53, oif: "lo"}, false, nil, accept, ""},
		{"allowed", tcp("198.51.100.10", 443), true, nil, accept, ""},
		{"allowed over udp", udp("198.51.100.10", 443), true, nil, accept, ""},
		{"allowed, no heartbeat", tcp("198.51.100.10", 443), false, nil, rst, "terok blocked: "},
		{"allowed ipv6 range", tcp("2001:db8:1:2::5", 443), true, nil, accept, ""},
		{"denied inside an allowed range", tcp("2001:db8:1:bad::5", 443), true, nil, rst, "terok deny: "},
		{"deny beats allow", tcp("198.51.100.30", 443), true, nil, rst, "terok deny: "},
		{"deny beats allow over udp", udp("198.51.100.30", 443), true, nil, admin, "terok deny: "},
		{"deny cuts established", packet{daddr: "198.51.100.30", l4: unix.IPPROTO_TCP, ctstate: expr.CtStateBitESTABLISHED}, true, nil, rst, "terok deny: "},
		{"established", packet{daddr: "198.51.100.77", l4: unix.IPPROTO_TCP, ctstate: expr.CtStateBitESTABLISHED}, true, nil, accept, ""},
		{"established, no heartbeat", packet{daddr: "198.51.100.77", l4: unix.IPPROTO_TCP, ctstate: expr.CtStateBitESTABLISHED}, false, nil, rst, "terok blocked: "},
		{"not allowed", tcp("198.51.100.20", 443), true, nil, rst, "terok blocked: "},
		{"not allowed, quic", udp("198.51.100.20", 443), true, nil, admin, "terok blocked: "},
		{"not allowed ipv6", tcp("2001:db8:2::1", 443), true, nil, rst, "terok blocked: "},
		{"icmp", packet{daddr: "198.51.100.20", l4: unix.IPPROTO_ICMP}, true, nil, admin, "terok blocked: "},
		{"icmp to an allowed address", packet{daddr: "198.51.100.10", l4: unix.IPPROTO_ICMP}, true, nil, accept, ""},
		{"dns elsewhere", udp("198.51.100.10", 53), true, nil, admin, "terok dns: "},
		{"dns over tcp elsewhere", tcp("198.51.100.10", 53), true, nil, rst, "terok dns: "},
		{"private", tcp("10.9.9.9", 80), true, nil, rst, "terok restricted: "},
		{"private named explicitly", tcp("10.1.2.3", 80), true, nil, accept, ""},
		{"private, learned", tcp("10.9.9.9", 80), true, []string{"10.9.9.9"}, rst, "terok restricted: "},
		{"metadata named explicitly", tcp("169.254.169.254", 80), true, nil, accept, ""},
		{"ipv6 metadata, learned", tcp("fd00:ec2::254", 80), true, []string{"fd00:ec2::254"}, rst, "terok restricted: "},
		{"metadata via nat64, learned", tcp("64:ff9b::a9fe:a9fe", 80), true, []string{"64:ff9b::a9fe:a9fe"}, rst, "terok restricted: "},
		{"cgnat", udp("100.64.1.1", 443), true, nil, admin, "terok restricted: "},
		{"ula", tcp("fd12::1", 443), true, nil, rst, "terok restricted: "},
		{"link-local", tcp("fe80::1", 443), true, nil, rst, "terok restricted: "},
		{"the host's own address, learned", tcp("203.0.113.99", 443), true, []string{"203.0.113.99"}, rst, "terok restricted: "},
		{"learned", tcp("203.0.113.5", 443), true, []string{"203.0.113.5"}, accept, ""},
		{"learned ipv6", tcp("2001:db8:9::1", 443), true, []string{"2001:db8:9::1"}, accept, ""},
		{"learned, no heartbeat", tcp("203.0.113.5", 443), false, []string{"203.0.113.5"}, rst, "terok blocked: "},
		{"neighbour solicitation", packet{daddr: "ff02::1:ff00:2", l4: unix.IPPROTO_ICMPV6, icmp6: 135}, false, nil, accept, ""},
		{"router advertisement out", packet{daddr: "ff02::1", l4: unix.IPPROTO_ICMPV6, icmp6: 134}, true, nil, admin, "terok restricted: "},
		{"ipv6 echo", packet{daddr: "2001:db8:2::1", l4: unix.IPPROTO_ICMPV6, icmp6: 128}, true, nil, admin, "terok blocked: "},
	}
	for _, c := range cases {
		v, log := evaluate(t, r, c.p, c.alive, c.learned...)
		if v != c.verdict || log != c.log {
			t.Errorf("%s: %s (log %q), want %s (log %q)", c.what, v, log, c.verdict, c.log)
		}
	}
}

// Hold mode changes rule 10 alone: a packet nothing else matches is
// logged and dropped (TCP retries it), while deny, dns and restricted
// still reject at once.
func TestBuildHold(t *testing.T) {
	p := Policy{Allow: mustTargets("198.51.100.10"), Deny: mustTargets("198.51.100.30"), Host: []netip.Addr{netip.MustParseAddr("203.0.113.99")}}
	describe := func(r *Ruleset) []string {
		var out []string
		for _, x := range r.Rules {
			out = append(out, x.Chain.Name+": "+Describe(x.Exprs)+" # "+RuleComment(x))
		}
		return out
	}
	refuse, p2 := describe(Build(p)), p
	p2.Hold = true
	hold := describe(Build(p2))
	// The output chain's last two rules (rule 10's pair) become one.
	i := slices.IndexFunc(refuse, func(s string) bool { return strings.Contains(s, `prefix "terok blocked: "`) })
	want := slices.Concat(refuse[:i], []string{`output: log group 100 prefix "terok blocked: " drop # terok: blocked (held)`}, refuse[i+2:])
	if !slices.Equal(hold, want) {
		t.Errorf("hold rules\n%s\nwant\n%s", strings.Join(hold, "\n"), strings.Join(want, "\n"))
	}
	r := Build(p2)
	tcp := func(a string, port uint16) packet { return packet{daddr: a, l4: unix.IPPROTO_TCP, dport: port} }
	for _, c := range []struct {
		what    string
		p       packet
		alive   bool
		verdict string
		log     string
	}{
		{"not allowed", tcp("198.51.100.20", 443), true, "drop", "terok blocked: "},
		{"not allowed, quic", packet{daddr: "198.51.100.20", l4: unix.IPPROTO_UDP, dport: 443}, true, "drop", "terok blocked: "},
		{"no heartbeat", tcp("198.51.100.10", 443), false, "drop", "terok blocked: "},
		{"allowed", tcp("198.51.100.10", 443), true, "accept", ""},
		{"denied", tcp("198.51.100.30", 443), true, "reject with tcp reset", "terok deny: "},
		{"restricted", tcp("10.9.9.9", 80), true, "reject with tcp reset", "terok restricted: "},
		{"the host", tcp("203.0.113.99", 80), true, "reject with tcp reset", "terok restricted: "},
		{"dns elsewhere", tcp("198.51.100.10", 53), true, "reject with tcp reset", "terok dns: "},
	} {
		v, log := evaluate(t, r, c.p, c.alive)
		if v != c.verdict || log != c.log {
			t.Errorf("%s: %s (log %q), want %s (log %q)", c.what, v, log, c.verdict, c.log)
		}
	}
}

// With Policy.Forward, the output chain lets a learned address be reached
// only by TCP, and only by the forwarder's marked connections or on an
// address port; the redirected packet to the forwarder (still routed to
// eth0 in the output hook) is accepted; the rest is as before.
func TestBuildForward(t *testing.T) {
	r := Build(Policy{Allow: mustTargets("198.51.100.10"), Forward: true, AddressPorts: []uint16{22}})
	if r.Set(SetAddrPorts) == nil || len(r.Chains) != 3 || r.Chains[2].Name != ChainNAT || r.Chains[2].Type != nftables.ChainTypeNAT {
		t.Fatalf("no nat chain or address-port set: %+v", r.Chains)
	}
	if Build(Policy{}).Set(SetAddrPorts) != nil || len(Build(Policy{}).Chains) != 2 {
		t.Fatal("a ruleset without Forward has the forwarder's chain or set")
	}
	const (
		accept = "accept"
		rst    = "reject with tcp reset"
		admin  = "reject with icmpx admin-prohibited"
	)
	l := []string{"203.0.113.5", "2001:db8:9::1"}
	for _, c := range []struct {
		what    string
		p       packet
		verdict string
		log     string
	}{
		{"learned tcp, not redirected", packet{daddr: "203.0.113.5", l4: unix.IPPROTO_TCP, dport: 443}, rst, "terok blocked: "},
		{"learned tcp, the forwarder's", packet{daddr: "203.0.113.5", l4: unix.IPPROTO_TCP, dport: 443, mark: ForwardMark}, accept, ""},
		{"learned ipv6, the forwarder's", packet{daddr: "2001:db8:9::1", l4: unix.IPPROTO_TCP, dport: 443, mark: ForwardMark}, accept, ""},
		{"learned, address port", packet{daddr: "203.0.113.5", l4: unix.IPPROTO_TCP, dport: 22}, accept, ""},
		{"learned udp (quic)", packet{daddr: "203.0.113.5", l4: unix.IPPROTO_UDP, dport: 443}, admin, "terok blocked: "},
		{"learned udp, marked", packet{daddr: "203.0.113.5", l4: unix.IPPROTO_UDP, dport: 443, mark: ForwardMark}, admin, "terok blocked: "},
		{"redirected to the forwarder", packet{daddr: "127.0.0.1", l4: unix.IPPROTO_TCP, dport: ForwardPort}, accept, ""},
		{"redirected to the forwarder, ipv6", packet{daddr: "::1", l4: unix.IPPROTO_TCP, dport: ForwardPort}, accept, ""},
		{"another loopback port via eth0", packet{daddr: "127.0.0.1", l4: unix.IPPROTO_TCP, dport: 9418}, rst, "terok restricted: "},
		{"allowed literally, udp", packet{daddr: "198.51.100.10", l4: unix.IPPROTO_UDP, dport: 443}, accept, ""},
	} {
		v, log := evaluate(t, r, c.p, true, l...)
		if v != c.verdict || log != c.log {
			t.Errorf("%s: %s (log %q), want %s (log %q)", c.what, v, log, c.verdict, c.log)
		}
	}
}
