package resolver

import (
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// negativeMaxTTL caps how long a negative answer (NXDOMAIN, NODATA) is
// cached, whatever its SOA says: a name that appears upstream shows up soon.
const negativeMaxTTL = 5 * 60

type cacheKey struct {
	name  string
	qtype uint16
}

// entry is an answer for an allowed name, cut down to what a client gets.
type entry struct {
	rcode   int
	answer  []dns.RR // the CNAME chain and the asked records, TTLs capped
	ns      []dns.RR // the SOA of a negative answer
	addrs   []netip.Addr
	stored  time.Time
	expires time.Time // stored + the least TTL; zero: not cacheable
}

// at returns copies of the entry's records with their TTLs counted down to
// now, and the largest of those TTLs.
func (e *entry) at(now time.Time) (answer, ns []dns.RR, maxTTL uint32) {
	elapsed := uint32(0)
	if d := now.Sub(e.stored); d > 0 {
		elapsed = uint32(d / time.Second)
	}
	copyAll := func(rrs []dns.RR) []dns.RR {
		var out []dns.RR
		for _, rr := range rrs {
			c := dns.Copy(rr)
			h := c.Header()
			h.Ttl -= min(h.Ttl, elapsed)
			maxTTL = max(maxTTL, h.Ttl)
			out = append(out, c)
		}
		return out
	}
	return copyAll(e.answer), copyAll(e.ns), maxTTL
}

// entry cuts an upstream answer (NOERROR or NXDOMAIN) down to the chain of
// CNAMEs from the question name and the records of the asked type at its
// end; keeps a negative answer's SOA; drops everything else (authority
// records, additional records, DNAMEs, records for other names), so that
// every address the client gets is one that Learn saw.
func (r *Resolver) entry(name string, qtype uint16, up *dns.Msg, now time.Time) *entry {
	e := &entry{rcode: up.Rcode, stored: now}
	capTTL := func(rr dns.RR, limit uint32) dns.RR {
		c := dns.Copy(rr)
		c.Header().Ttl = min(c.Header().Ttl, limit)
		return c
	}
	found := false
	owner := dns.Fqdn(name)
	for hop := 0; hop < 16 && owner != ""; hop++ {
		next := ""
		for _, rr := range up.Answer {
			h := rr.Header()
			if h.Class != dns.ClassINET || !strings.EqualFold(h.Name, owner) {
				continue
			}
			switch {
			case h.Rrtype == qtype:
				e.answer = append(e.answer, capTTL(rr, r.maxTTL))
				found = true
			case h.Rrtype == dns.TypeCNAME && next == "":
				e.answer = append(e.answer, capTTL(rr, r.maxTTL))
				next = rr.(*dns.CNAME).Target
			}
		}
		if found {
			break
		}
		owner = next
	}
	if !found {
		for _, rr := range up.Ns {
			if soa, ok := rr.(*dns.SOA); ok && soa.Hdr.Class == dns.ClassINET {
				e.ns = append(e.ns, capTTL(rr, min(soa.Minttl, negativeMaxTTL, r.maxTTL)))
				break
			}
		}
	}
	least := uint32(0)
	for i, rr := range append(append([]dns.RR(nil), e.answer...), e.ns...) {
		switch v := rr.(type) {
		case *dns.A:
			if a, ok := netip.AddrFromSlice(v.A); ok {
				e.addrs = append(e.addrs, a.Unmap())
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(v.AAAA); ok {
				e.addrs = append(e.addrs, a)
			}
		}
		if ttl := rr.Header().Ttl; i == 0 || ttl < least {
			least = ttl
		}
	}
	if least > 0 {
		e.expires = now.Add(time.Duration(least) * time.Second)
	}
	return e
}

// cache holds answers until their least TTL runs out.
type cache struct {
	mu      sync.Mutex
	entries map[cacheKey]*entry
	size    int
}

func newCache(size int) *cache {
	return &cache{entries: map[cacheKey]*entry{}, size: or(size, DefaultCacheSize)}
}

func (c *cache) get(k cacheKey, now time.Time) (*entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok {
		return nil, false
	}
	if !now.Before(e.expires) {
		delete(c.entries, k)
		return nil, false
	}
	return e, true
}

func (c *cache) put(k cacheKey, e *entry) {
	if e.expires.IsZero() || c.size < 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.size {
		for key, old := range c.entries {
			if !e.stored.Before(old.expires) {
				delete(c.entries, key)
			}
		}
		for key := range c.entries {
			if len(c.entries) < c.size {
				break
			}
			delete(c.entries, key) // map order: an arbitrary victim
		}
	}
	c.entries[k] = e
}

func (c *cache) drop(k cacheKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, k)
}
