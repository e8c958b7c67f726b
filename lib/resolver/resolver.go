package resolver

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Defaults of Config's durations and sizes.
const (
	DefaultAttemptTimeout = 2 * time.Second
	DefaultQueryTimeout   = 4 * time.Second
	DefaultMinLearnTTL    = 30 * time.Second
	DefaultMaxTTL         = time.Hour
	DefaultCacheSize      = 10000
	DefaultHoldTimeout    = 30 * time.Second
	DefaultMaxHeld        = 128
)

// ednsSize is the UDP payload size the resolver offers to clients and asks
// of upstreams (the DNS flag day 2020 value: no fragmentation).
const ednsSize = 1232

// maxUDPReply caps a UDP reply whatever size the client offers; a larger
// answer is truncated and the client asks again over TCP.
const maxUDPReply = 4096

// Config is what a Resolver needs. Policy and Learn are required.
type Config struct {
	// Policy decides which names are answered; SetPolicy replaces it live.
	Policy Policy

	// Learn is called, before the client gets an answer, with the question
	// name and every A and AAAA address in the answer, whether it came from
	// upstream or from the cache. When it returns nil, each address must be
	// let through the firewall for at least ttl from now (an element that
	// lives longer keeps its time; a shorter one is extended). ttl is never
	// less than MinLearnTTL and never less than a TTL in the answer the
	// client gets, so a client never holds an address that its firewall has
	// already forgotten. On an error the client gets SERVFAIL. It is called
	// concurrently; it is not called for answers without addresses.
	Learn func(name string, addrs []netip.Addr, ttl time.Duration) error

	// Blocked, if set, is called for every query refused by the policy
	// (or for a name that is not a plain host name), at once and without
	// deduplication: a caller that writes audit events deduplicates. name
	// is lower case without the trailing dot ("." for the root); qtype is
	// the asked type (dns.TypeA, ...). It must not block.
	Blocked func(name string, qtype uint16)

	// Failed, if set, is told why an allowed name got SERVFAIL: no upstream
	// answered, or Learn failed. It must not block.
	Failed func(name string, qtype uint16, err error)

	// Upstreams are the resolvers asked, in order, as host:port. Empty
	// means the nameservers of the host's /etc/resolv.conf (HostUpstreams),
	// read once by New.
	Upstreams []string

	// AttemptTimeout bounds one exchange with one upstream (UDP, and TCP
	// after a truncated answer each get their own); QueryTimeout bounds a
	// whole resolution over all upstreams. Defaults 2 s and 4 s: a client's
	// usual 5 s timeout sees SERVFAIL rather than silence.
	AttemptTimeout, QueryTimeout time.Duration

	// MinLearnTTL is the least ttl passed to Learn (default 30 s), so that
	// a record with a tiny TTL does not make its element expire while the
	// client connects. MaxTTL caps the TTLs clients get and the cache keeps
	// (default 1 h).
	MinLearnTTL, MaxTTL time.Duration

	// CacheSize is the most answers kept (default 10,000; negative: none).
	CacheSize int

	// Hold, if set, is hold mode: it is called instead of Blocked for a
	// query the policy refuses for a plain host name of class IN, and may
	// hold the query while someone decides whether the name may be
	// resolved (the clearance's pending request). It reports the query as
	// Blocked would, and returns true when the name was allowed
	// meanwhile: the policy is then asked again, and a name it allows now
	// is answered as any other (Learn first), so the held query gets the
	// real answer. false, or a policy that still refuses: REFUSED. Its ctx
	// ends after HoldTimeout or when the resolver closes, and it must
	// return then. Held queries of one name each call it; it is called
	// concurrently, at most MaxHeld calls at once: a query beyond that is
	// refused at once and given to Blocked, and so is a query for a name
	// whose hold ran out less than 2 s before (a client's retry is not
	// held twice).
	Hold func(ctx context.Context, name string, qtype uint16) bool

	// HoldTimeout bounds one held query (default 30 s); MaxHeld the
	// queries held at once (default 128: half of what one UDP socket
	// answers at once, so held queries never starve allowed ones).
	HoldTimeout time.Duration
	MaxHeld     int
}

// Stats counts what a Resolver did since New.
type Stats struct {
	Queries   uint64 // messages received
	Forwarded uint64 // resolutions sent upstream
	CacheHits uint64 // answers from the cache
	Refused   uint64 // names refused by the policy (reported to Blocked or held first)
	Held      uint64 // queries held (Hold called), allowed meanwhile or not
	Failures  uint64 // SERVFAIL for an allowed name: upstream or Learn failed
	Malformed uint64 // packets dropped or answered FORMERR
}

// Resolver is one task's resolver. Its methods are safe for concurrent use.
type Resolver struct {
	policy    atomic.Pointer[policyBox]
	learn     func(string, []netip.Addr, time.Duration) error
	blocked   func(string, uint16)
	hold      func(context.Context, string, uint16) bool
	holdFor   time.Duration
	holds     chan struct{} // a slot per query held at once
	timedOut  sync.Map      // name → time.Time its hold last ran out
	nTimedOut atomic.Int64  // entries in timedOut
	failed    func(string, uint16, error)
	upstreams []string
	attempt   time.Duration
	query     time.Duration
	minLearn  time.Duration
	maxTTL    uint32 // seconds
	cache     *cache
	now       func() time.Time

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	mu     sync.Mutex
	closed bool
	conns  map[interface{ Close() error }]struct{}
	wg     sync.WaitGroup

	queries, forwarded, cacheHits, refused, held, failures, malformed atomic.Uint64
}

type policyBox struct{ Policy }

// ErrClosed is returned by ServeUDP and ServeTCP once Close was called.
var ErrClosed = errors.New("resolver closed")

// New checks cfg and returns a resolver that serves nothing yet.
func New(cfg Config) (*Resolver, error) {
	if cfg.Policy == nil || cfg.Learn == nil {
		return nil, errors.New("resolver: Policy and Learn are required")
	}
	ups := cfg.Upstreams
	if len(ups) == 0 {
		var err error
		if ups, err = HostUpstreams("/etc/resolv.conf"); err != nil {
			return nil, err
		}
	}
	for _, u := range ups {
		if _, _, err := net.SplitHostPort(u); err != nil {
			return nil, errors.New("resolver: upstream " + u + " is not host:port")
		}
	}
	r := &Resolver{
		learn:     cfg.Learn,
		blocked:   cfg.Blocked,
		hold:      cfg.Hold,
		holdFor:   or(cfg.HoldTimeout, DefaultHoldTimeout),
		holds:     make(chan struct{}, or(cfg.MaxHeld, DefaultMaxHeld)),
		failed:    cfg.Failed,
		upstreams: append([]string(nil), ups...),
		attempt:   or(cfg.AttemptTimeout, DefaultAttemptTimeout),
		query:     or(cfg.QueryTimeout, DefaultQueryTimeout),
		minLearn:  or(cfg.MinLearnTTL, DefaultMinLearnTTL),
		maxTTL:    uint32(or(cfg.MaxTTL, DefaultMaxTTL) / time.Second),
		cache:     newCache(cfg.CacheSize),
		now:       time.Now,
		conns:     map[interface{ Close() error }]struct{}{},
	}
	r.policy.Store(&policyBox{cfg.Policy})
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r, nil
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// SetPolicy replaces the policy; the next query is judged by p. Answers
// already cached for names p refuses are never served: the policy is asked
// before the cache.
func (r *Resolver) SetPolicy(p Policy) { r.policy.Store(&policyBox{p}) }

// Stats returns the counters.
func (r *Resolver) Stats() Stats {
	return Stats{
		Queries: r.queries.Load(), Forwarded: r.forwarded.Load(), CacheHits: r.cacheHits.Load(),
		Refused: r.refused.Load(), Held: r.held.Load(), Failures: r.failures.Load(), Malformed: r.malformed.Load(),
	}
}

// handle answers one DNS message as it came off the wire and returns the
// reply to send, or nil to send nothing. It is the whole of the packet path:
// nothing reaches an upstream except through resolve, with a name the
// policy allowed.
func (r *Resolver) handle(ctx context.Context, packet []byte, overTCP bool) []byte {
	r.queries.Add(1)
	// A runt has no id to answer to; a response (QR set) is never answered,
	// so two resolvers cannot be made to talk to each other forever.
	if len(packet) < 12 || packet[2]&0x80 != 0 {
		r.malformed.Add(1)
		return nil
	}
	req := new(dns.Msg)
	if err := req.Unpack(packet); err != nil {
		r.malformed.Add(1)
		return formErr(packet)
	}
	return r.pack(req, r.answer(ctx, req), overTCP)
}

// formErr answers a packet that does not parse: its id and opcode, no
// question, FORMERR.
func formErr(packet []byte) []byte {
	m := &dns.Msg{MsgHdr: dns.MsgHdr{
		Id:       binary.BigEndian.Uint16(packet),
		Response: true,
		Opcode:   int(packet[2]>>3) & 0xF,
		Rcode:    dns.RcodeFormatError,
	}}
	b, err := m.Pack()
	if err != nil {
		return nil
	}
	return b
}

func reply(req *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(req, rcode)
	return m
}

// answer decides what a parsed query gets.
func (r *Resolver) answer(ctx context.Context, req *dns.Msg) *dns.Msg {
	if req.Opcode != dns.OpcodeQuery {
		return reply(req, dns.RcodeNotImplemented)
	}
	if len(req.Question) != 1 {
		r.malformed.Add(1)
		m := reply(req, dns.RcodeFormatError)
		m.Question = nil
		return m
	}
	if opt := req.IsEdns0(); opt != nil && opt.Version() != 0 {
		return reply(req, dns.RcodeBadVers)
	}
	q := req.Question[0]
	name := strings.TrimSuffix(strings.ToLower(q.Name), ".")
	if !validHostname(name) || !r.policy.Load().Allowed(name) {
		if !r.holdRefused(ctx, name, q) {
			r.refused.Add(1)
			return reply(req, dns.RcodeRefused)
		}
	}
	if q.Qclass != dns.ClassINET {
		return reply(req, dns.RcodeRefused)
	}
	switch q.Qtype {
	case dns.TypeHTTPS, dns.TypeSVCB:
		// NODATA: their ipv4hint/ipv6hint (and ECH) would hand a client
		// addresses that never went through Learn. Clients fall back to
		// A and AAAA.
		return reply(req, dns.RcodeSuccess)
	case dns.TypeNone, dns.TypeOPT, dns.TypeTKEY, dns.TypeTSIG, dns.TypeIXFR,
		dns.TypeAXFR, dns.TypeMAILB, dns.TypeMAILA, dns.TypeANY:
		return reply(req, dns.RcodeNotImplemented)
	}
	return r.resolve(ctx, req, name, q.Qtype)
}

// holdRefused is what becomes of a query the policy refuses: in hold mode,
// a plain host name of class IN is held while Hold decides, if a slot is
// free; anything else goes to Blocked at once. It reports whether the
// policy allows the name now.
func (r *Resolver) holdRefused(ctx context.Context, name string, q dns.Question) bool {
	if r.hold != nil && q.Qclass == dns.ClassINET && validHostname(name) && !r.justTimedOut(name) {
		select {
		case r.holds <- struct{}{}:
			defer func() { <-r.holds }()
			r.held.Add(1)
			hctx, cancel := context.WithTimeout(ctx, r.holdFor)
			defer cancel()
			if r.hold(hctx, name, q.Qtype) {
				return r.policy.Load().Allowed(name)
			}
			if ctx.Err() == nil && errors.Is(hctx.Err(), context.DeadlineExceeded) {
				r.markTimedOut(name)
			}
			return false
		default: // every slot is taken: refused at once
		}
	}
	if r.blocked != nil {
		if name == "" {
			name = "."
		}
		r.blocked(name, q.Qtype)
	}
	return false
}

// holdGrace is how long after its hold ran out a name is refused at once
// rather than held again: a client's immediate retry (glibc asks each
// server twice, the second time at once after a refusal) does not double
// the wait.
const holdGrace = 2 * time.Second

func (r *Resolver) justTimedOut(name string) bool {
	v, ok := r.timedOut.Load(name)
	return ok && time.Since(v.(time.Time)) < holdGrace
}

// markTimedOut remembers that name's hold ran out. Holds run out at most
// MaxHeld a second (each lasts at least HoldTimeout, 1 s or more, in one
// of MaxHeld slots), and past 4×MaxHeld entries those older than
// holdGrace are dropped: the map stays bounded.
func (r *Resolver) markTimedOut(name string) {
	if _, loaded := r.timedOut.Swap(name, time.Now()); !loaded {
		r.nTimedOut.Add(1)
	}
	if r.nTimedOut.Load() > int64(4*cap(r.holds)) {
		r.timedOut.Range(func(k, v any) bool {
			if time.Since(v.(time.Time)) >= holdGrace && r.timedOut.CompareAndDelete(k, v) {
				r.nTimedOut.Add(-1)
			}
			return true
		})
	}
}

// resolve answers an allowed name from the cache or from upstream, with
// Learn accepting the answer's addresses first either way.
func (r *Resolver) resolve(ctx context.Context, req *dns.Msg, name string, qtype uint16) *dns.Msg {
	key := cacheKey{name, qtype}
	e, hit := r.cache.get(key, r.now())
	if hit {
		r.cacheHits.Add(1)
	} else {
		r.forwarded.Add(1)
		up, err := r.forward(ctx, name, qtype)
		if err != nil {
			return r.fail(req, name, qtype, err)
		}
		e = r.entry(name, qtype, up, r.now())
	}
	m := reply(req, e.rcode)
	var maxTTL uint32
	m.Answer, m.Ns, maxTTL = e.at(r.now())
	if len(e.addrs) > 0 {
		ttl := max(time.Duration(maxTTL)*time.Second, r.minLearn)
		if err := r.learn(name, e.addrs, ttl); err != nil {
			r.cache.drop(key)
			return r.fail(req, name, qtype, err)
		}
	}
	if !hit {
		r.cache.put(key, e)
	}
	return m
}

func (r *Resolver) fail(req *dns.Msg, name string, qtype uint16, err error) *dns.Msg {
	r.failures.Add(1)
	if r.failed != nil {
		r.failed(name, qtype, err)
	}
	return reply(req, dns.RcodeServerFailure)
}

// pack turns an answer into the bytes to send: with an OPT record when the
// query had one, cut to the client's UDP size (512 without EDNS, at most
// maxUDPReply; TC set) or to 64 KiB on TCP.
func (r *Resolver) pack(req, m *dns.Msg, overTCP bool) []byte {
	m.RecursionAvailable = true
	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = min(max(size, int(opt.UDPSize())), maxUDPReply)
		m.SetEdns0(ednsSize, false)
	}
	if overTCP {
		size = dns.MaxMsgSize
	}
	m.Truncate(size)
	b, err := m.Pack()
	if err != nil {
		b, _ = reply(req, dns.RcodeServerFailure).Pack()
	}
	return b
}
