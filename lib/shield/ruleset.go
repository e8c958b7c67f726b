package shield

import (
	"net/netip"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"

	"github.com/terok-ai/terok-go/lib/config"
)

// TableName is the one table terok owns in a task's network namespace
// (family inet: IPv4 and IPv6 alike).
const TableName = "terok"

// DefaultLogGroup is the NFLOG group that blocked packets are logged to.
// Groups are per network namespace, so every task may use the same one.
const DefaultLogGroup uint16 = 100

// Liveness: every accept of egress other than loopback also needs the
// element of the set "alive", which the task's warden refreshes. When the
// warden stops refreshing it, the element times out and egress stops.
const (
	AliveTimeout      = 3 * time.Second
	HeartbeatInterval = time.Second
)

// LearnFloor is the least time an address learned from DNS stays allowed,
// whatever the record's TTL (a TTL of 0 still has to last until the
// client connects).
const LearnFloor = 30 * time.Second

// The names of terok's sets.
const (
	SetAlive       = "alive"        // the warden's heartbeat: one element with a timeout
	SetDeny4       = "deny4"        // denied addresses and ranges: beat everything
	SetDeny6       = "deny6"        //
	SetAllow4      = "allow4"       // allowed addresses and ranges, named explicitly
	SetAllow6      = "allow6"       //
	SetRestricted4 = "restricted4"  // private, link-local, metadata and the host's own: rejected unless allowed explicitly
	SetRestricted6 = "restricted6"  //
	SetLearned4    = "learned4"     // addresses the task's resolver answered for allowed names, with timeouts
	SetLearned6    = "learned6"     //
	SetDown        = "down"         // one element while the shield is down (with the time it stays down)
	SetAddrPorts   = "addressports" // TCP ports that keep the address rule (Policy.AddressPorts; with Policy.Forward only)
)

// Name-bound egress (Policy.Forward): TCP connections to learned addresses
// are redirected, inside the task's namespace, to the warden's forwarder
// on ForwardPort of the task's loopback (IPv4 and IPv6), which checks the
// name they present (lib/warden/egresssvc). The forwarder's own
// connections carry ForwardMark (SO_MARK) and are not redirected.
const (
	ForwardPort uint16 = 1053
	ForwardMark uint32 = 0x7465726b // "terk"
)

// The base chains.
const (
	ChainOutput = "output"
	ChainInput  = "input"
	ChainNAT    = "egress" // nat, hook output: the redirect of Policy.Forward
)

// Policy is what a ruleset is built from.
type Policy struct {
	// Allow and Deny are the task's targets (config.ParseTarget's).
	// Addresses and ranges go into the allow and deny sets; names are the
	// resolver's business and are ignored here.
	Allow, Deny []config.Target
	// Host are the host's own addresses, rejected unless allowed.
	Host []netip.Addr
	// LogGroup is the NFLOG group; 0 means DefaultLogGroup.
	LogGroup uint16
	// Hold is the task's hold mode (shield.clearance = "hold"): a packet
	// that nothing else matches (rule 10) is logged and dropped rather
	// than rejected, so that a connection whose clearance request is
	// pending is retried by TCP itself and connects once it is allowed.
	Hold bool
	// Forward turns on name-bound egress: TCP to learned addresses goes
	// through the warden's forwarder (ForwardPort), except to AddressPorts;
	// other protocols to learned addresses are rejected (QUIC falls back
	// to TCP). Off, learned addresses are allowed for everything, as
	// before.
	Forward bool
	// AddressPorts are the TCP ports (config shield.address_ports, e.g.
	// 22) on which a learned address is allowed by address alone: their
	// protocols present no name. Used with Forward only.
	AddressPorts []uint16
}

func (p Policy) logGroup() uint16 {
	if p.LogGroup == 0 {
		return DefaultLogGroup
	}
	return p.LogGroup
}

// Restricted are the ranges rejected unless allowed explicitly: RFC 1918
// private ranges, CGNAT, loopback, link-local (cloud metadata lives
// there: 169.254.169.254, fd00:ec2::254 in fc00::/7), multicast,
// broadcast and reserved ranges, unique local IPv6 — and their NAT64
// forms (64:ff9b::/96), so a NAT64 gateway cannot be a way round.
var Restricted = func() []netip.Prefix {
	v4 := []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
		"172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
	}
	v6 := []string{"::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8"}
	var out []netip.Prefix
	for _, s := range v4 {
		p := netip.MustParsePrefix(s)
		out = append(out, p)
		nat64 := netip.MustParseAddr("64:ff9b::").As16()
		a := p.Addr().As4()
		copy(nat64[12:], a[:])
		out = append(out, netip.PrefixFrom(netip.AddrFrom16(nat64), 96+p.Bits()))
	}
	for _, s := range v6 {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// Metadata are the cloud metadata addresses (inside Restricted; named for
// tests and documentation).
var Metadata = []netip.Addr{netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("fd00:ec2::254")}

// Ruleset is a built ruleset: what Apply installs in one batch and Verify
// expects to find.
type Ruleset struct {
	Table  *nftables.Table
	Chains []*nftables.Chain
	Sets   []SetContent
	Rules  []*nftables.Rule
}

// SetContent is a set and the elements it starts with.
type SetContent struct {
	Set      *nftables.Set
	Elements []nftables.SetElement
}

// Set returns the set of that name.
func (r *Ruleset) Set(name string) *nftables.Set {
	for _, s := range r.Sets {
		if s.Set.Name == name {
			return s.Set
		}
	}
	return nil
}

// aliveKey is the one element of the alive set; the rules load it as an
// immediate and look it up.
var aliveKey = binaryutil.NativeEndian.PutUint32(1)

// Build returns the ruleset for p. It is pure: the same policy gives the
// same ruleset.
//
// Output chain, in order (first match wins; policy drop):
//
//  1. loopback: accept (the task's resolver and warden live there)
//  2. deny4/deny6: log, reject — deny beats allow, and cuts established
//     connections too
//  3. ct established,related + alive: accept
//  4. ICMPv6 neighbour solicitation/advertisement: accept (IPv6 does not
//     work without; they never leave the link)
//  5. DNS (port 53, UDP and TCP) anywhere else: log, reject — the only
//     resolver is the task's own, on loopback
//  6. allow4/allow6 + alive: accept — named explicitly, so they beat 7
//  7. restricted4/restricted6: log, reject
//  8. learned4/learned6 + alive: accept — after 7, so no name can resolve
//     its way to a private, metadata or host address
//  9. down + alive: log, accept — only while the shield is down (terok-shield
//     down): everything but 2 and 7; each new connection is logged
//
// 10. everything else: log, reject; in hold mode (Policy.Hold) log, drop
//
// Rejects are TCP resets for TCP (connect() fails at once with
// ECONNREFUSED, and an established connection ends at once) and ICMP(v6)
// administratively prohibited for the rest.
//
// Input chain (policy drop): loopback, established/related and ICMPv6
// router and neighbour messages.
//
// With Policy.Forward, rule 8 accepts only TCP, and only the forwarder's
// own connections (meta mark ForwardMark) and those to AddressPorts; and
// a nat chain (hook output, priority dstnat, so before the filter) sends
// every other new TCP connection to a learned address to the forwarder:
//
//  1. meta mark ForwardMark: accept (the forwarder's own)
//  2. tcp dport @addressports: accept
//  3. daddr in deny, allow or restricted: accept (no redirect: the filter
//     decides them as before; a learned address that is also named
//     literally keeps the address rule)
//  4. tcp daddr @learned4/@learned6: redirect to :ForwardPort
//
// The redirected packet goes to the task's loopback, ForwardPort, which
// the filter accepts right after rule 1 (a redirected packet keeps, in the
// rest of the output hook, the interface it was first routed to: rule 1
// does not see it as loopback).
func Build(p Policy) *Ruleset {
	t := &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}
	r := &Ruleset{Table: t}
	drop := nftables.ChainPolicyDrop
	out := &nftables.Chain{Name: ChainOutput, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter, Policy: &drop}
	in := &nftables.Chain{Name: ChainInput, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &drop}
	r.Chains = []*nftables.Chain{out, in}

	var id uint32
	set := func(name string, key nftables.SetDatatype, interval, timeout, constant bool, els []nftables.SetElement) *nftables.Set {
		id++
		s := &nftables.Set{Table: t, ID: id, Name: name, KeyType: key, Interval: interval, HasTimeout: timeout, Constant: constant}
		if key == nftables.TypeIPAddr || key == nftables.TypeIP6Addr {
			s.KeyByteOrder = binaryutil.BigEndian
		}
		r.Sets = append(r.Sets, SetContent{s, els})
		return s
	}
	alive := set(SetAlive, nftables.TypeMark, false, true, false, nil)
	down := set(SetDown, nftables.TypeMark, false, true, false, nil)
	deny4 := set(SetDeny4, nftables.TypeIPAddr, true, false, false, elements(spansOfTargets(p.Deny, true), true))
	deny6 := set(SetDeny6, nftables.TypeIP6Addr, true, false, false, elements(spansOfTargets(p.Deny, false), false))
	allow4 := set(SetAllow4, nftables.TypeIPAddr, true, false, false, elements(spansOfTargets(p.Allow, true), true))
	allow6 := set(SetAllow6, nftables.TypeIP6Addr, true, false, false, elements(spansOfTargets(p.Allow, false), false))
	res4, res6 := restrictedSpans(p.Host)
	restricted4 := set(SetRestricted4, nftables.TypeIPAddr, true, false, true, elements(res4, true))
	restricted6 := set(SetRestricted6, nftables.TypeIP6Addr, true, false, true, elements(res6, false))
	learned4 := set(SetLearned4, nftables.TypeIPAddr, false, true, false, nil)
	learned6 := set(SetLearned6, nftables.TypeIP6Addr, false, true, false, nil)
	var addrPorts *nftables.Set
	if p.Forward {
		var els []nftables.SetElement
		for _, port := range p.AddressPorts {
			els = append(els, nftables.SetElement{Key: binaryutil.BigEndian.PutUint16(port)})
		}
		addrPorts = set(SetAddrPorts, nftables.TypeInetService, false, false, false, els)
	}

	g := p.logGroup()
	rule := func(c *nftables.Chain, comment string, e ...[]expr.Any) {
		var all []expr.Any
		for _, x := range e {
			all = append(all, x...)
		}
		r.Rules = append(r.Rules, &nftables.Rule{Table: t, Chain: c, Exprs: all,
			UserData: userdata.AppendString(nil, userdata.TypeComment, comment)})
	}
	// refuse adds the pair of rejecting rules for a match: TCP gets a
	// reset, the rest an administratively-prohibited error; both logged.
	refuse := func(what string, match ...[]expr.Any) {
		m := concat(match...)
		rule(out, "terok: "+what+" (tcp)", m, l4(unix.IPPROTO_TCP), logTo(g, what), rejectTCP())
		rule(out, "terok: "+what, m, logTo(g, what), rejectAdmin())
	}

	rule(out, "terok: loopback", ifname(expr.MetaKeyOIFNAME, "lo"), verdict(expr.VerdictAccept))
	if p.Forward {
		// A redirected packet keeps the output interface it was first
		// routed to in the rest of the hook: rule 1 does not see it.
		rule(out, "terok: to the forwarder", family(unix.NFPROTO_IPV4), l4(unix.IPPROTO_TCP), daddr4(), equal(netip.MustParseAddr("127.0.0.1").AsSlice()), dport(ForwardPort), verdict(expr.VerdictAccept))
		rule(out, "terok: to the forwarder", family(unix.NFPROTO_IPV6), l4(unix.IPPROTO_TCP), daddr6(), equal(netip.IPv6Loopback().AsSlice()), dport(ForwardPort), verdict(expr.VerdictAccept))
	}
	refuse("deny", family(unix.NFPROTO_IPV4), daddr4(), lookup(deny4))
	refuse("deny", family(unix.NFPROTO_IPV6), daddr6(), lookup(deny6))
	rule(out, "terok: established", ctEstablished(), isAlive(alive), verdict(expr.VerdictAccept))
	rule(out, "terok: neighbour discovery", icmpv6Types(135, 136), verdict(expr.VerdictAccept))
	rule(out, "terok: dns (tcp)", l4(unix.IPPROTO_TCP), dport(53), logTo(g, "dns"), rejectTCP())
	rule(out, "terok: dns", l4(unix.IPPROTO_UDP), dport(53), logTo(g, "dns"), rejectAdmin())
	rule(out, "terok: allowed", family(unix.NFPROTO_IPV4), daddr4(), lookup(allow4), isAlive(alive), verdict(expr.VerdictAccept))
	rule(out, "terok: allowed", family(unix.NFPROTO_IPV6), daddr6(), lookup(allow6), isAlive(alive), verdict(expr.VerdictAccept))
	refuse("restricted", family(unix.NFPROTO_IPV4), daddr4(), lookup(restricted4))
	refuse("restricted", family(unix.NFPROTO_IPV6), daddr6(), lookup(restricted6))
	if p.Forward {
		for _, f := range []struct {
			nfproto byte
			daddr   []expr.Any
			learned *nftables.Set
		}{{unix.NFPROTO_IPV4, daddr4(), learned4}, {unix.NFPROTO_IPV6, daddr6(), learned6}} {
			m := concat(family(f.nfproto), l4(unix.IPPROTO_TCP), f.daddr, lookup(f.learned))
			rule(out, "terok: learned, forwarder", m, markIs(ForwardMark), isAlive(alive), verdict(expr.VerdictAccept))
			rule(out, "terok: learned, address port", m, dportIn(addrPorts), isAlive(alive), verdict(expr.VerdictAccept))
		}
	} else {
		rule(out, "terok: learned", family(unix.NFPROTO_IPV4), daddr4(), lookup(learned4), isAlive(alive), verdict(expr.VerdictAccept))
		rule(out, "terok: learned", family(unix.NFPROTO_IPV6), daddr6(), lookup(learned6), isAlive(alive), verdict(expr.VerdictAccept))
	}
	rule(out, "terok: down", isAlive(down), isAlive(alive), logTo(g, "down"), verdict(expr.VerdictAccept))
	if p.Hold {
		rule(out, "terok: blocked (held)", logTo(g, "blocked"), verdict(expr.VerdictDrop))
	} else {
		refuse("blocked")
	}

	rule(in, "terok: loopback", ifname(expr.MetaKeyIIFNAME, "lo"), verdict(expr.VerdictAccept))
	rule(in, "terok: established", ctEstablished(), verdict(expr.VerdictAccept))
	rule(in, "terok: neighbour discovery", icmpv6Types(134, 136), verdict(expr.VerdictAccept))

	if p.Forward {
		accept := nftables.ChainPolicyAccept
		nat := &nftables.Chain{Name: ChainNAT, Table: t, Type: nftables.ChainTypeNAT,
			Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest, Policy: &accept}
		r.Chains = append(r.Chains, nat)
		pass := verdict(expr.VerdictAccept)
		rule(nat, "terok: the forwarder's own", markIs(ForwardMark), pass)
		rule(nat, "terok: address ports", l4(unix.IPPROTO_TCP), dportIn(addrPorts), pass)
		for _, s := range []*nftables.Set{deny4, allow4, restricted4} {
			rule(nat, "terok: by address", family(unix.NFPROTO_IPV4), daddr4(), lookup(s), pass)
		}
		for _, s := range []*nftables.Set{deny6, allow6, restricted6} {
			rule(nat, "terok: by address", family(unix.NFPROTO_IPV6), daddr6(), lookup(s), pass)
		}
		rule(nat, "terok: learned, to the forwarder", family(unix.NFPROTO_IPV4), l4(unix.IPPROTO_TCP), daddr4(), lookup(learned4), redirectTo(ForwardPort))
		rule(nat, "terok: learned, to the forwarder", family(unix.NFPROTO_IPV6), l4(unix.IPPROTO_TCP), daddr6(), lookup(learned6), redirectTo(ForwardPort))
	}
	return r
}

// equal compares the register with b.
func equal(b []byte) []expr.Any { return []expr.Any{&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b}} }

// markIs matches the packet's mark (SO_MARK of its socket).
func markIs(mark uint32) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(mark)}}
}

// dportIn matches a transport destination port in a set of ports.
func dportIn(s *nftables.Set) []expr.Any {
	return append([]expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}}, lookup(s)...)
}

// redirectTo redirects to port on the local host (nft "redirect to :port").
func redirectTo(port uint16) []expr.Any {
	return []expr.Any{&expr.Immediate{Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
		&expr.Redir{RegisterProtoMin: 1, Flags: unix.NF_NAT_RANGE_PROTO_SPECIFIED}}
}

// restrictedSpans are Restricted plus the host's own addresses.
func restrictedSpans(host []netip.Addr) (v4, v6 []span) {
	for _, p := range Restricted {
		if p.Addr().Is4() {
			v4 = append(v4, spanOf(p))
		} else {
			v6 = append(v6, spanOf(p))
		}
	}
	for _, a := range host {
		a = a.Unmap().WithZone("")
		if !a.IsValid() {
			continue
		}
		s := span{a, a}
		if a.Is4() {
			v4 = append(v4, s)
		} else {
			v6 = append(v6, s)
		}
	}
	return normalise(v4), normalise(v6)
}

func concat(e ...[]expr.Any) []expr.Any {
	var all []expr.Any
	for _, x := range e {
		all = append(all, x...)
	}
	return all
}

func family(f byte) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{f}}}
}

func l4(proto byte) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}}}
}

// ifname matches an interface name the way nft does (16 bytes, padded).
func ifname(key expr.MetaKey, name string) []expr.Any {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b}}
}

func daddr4() []expr.Any {
	return []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4}}
}

func daddr6() []expr.Any {
	return []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 24, Len: 16}}
}

func dport(port uint16) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
	}
}

func lookup(s *nftables.Set) []expr.Any {
	return []expr.Any{&expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID}}
}

// isAlive loads the alive key into a register and looks it up: true while
// the warden's heartbeat element has not timed out.
func isAlive(alive *nftables.Set) []expr.Any {
	return append([]expr.Any{&expr.Immediate{Register: 1, Data: aliveKey}}, lookup(alive)...)
}

func ctEstablished() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
			Xor:  binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}

// icmpv6Types matches ICMPv6 messages of types lo..hi.
func icmpv6Types(lo, hi byte) []expr.Any {
	return concat(family(unix.NFPROTO_IPV6), l4(unix.IPPROTO_ICMPV6), []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
		&expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: []byte{lo}, ToData: []byte{hi}},
	})
}

// logTo logs to the NFLOG group with the prefix "terok WHAT: ".
func logTo(group uint16, what string) []expr.Any {
	return []expr.Any{&expr.Log{Key: 1<<unix.NFTA_LOG_GROUP | 1<<unix.NFTA_LOG_PREFIX, Group: group, Data: []byte(LogPrefix(what))}}
}

// LogPrefix is the NFLOG prefix of blocked packets for a reason (deny,
// dns, restricted, blocked).
func LogPrefix(what string) string { return "terok " + what + ": " }

func rejectTCP() []expr.Any {
	return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_TCP_RST}}
}

func rejectAdmin() []expr.Any {
	return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED}}
}

func verdict(k expr.VerdictKind) []expr.Any { return []expr.Any{&expr.Verdict{Kind: k}} }
