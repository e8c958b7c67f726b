package shield

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/google/nftables"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/netns"
)

// Conn is a netlink connection to the nftables of one network namespace
// (a task's). Its methods are safe for concurrent use; each change is one
// batch, applied atomically by the kernel.
type Conn struct {
	mu  sync.Mutex
	nft *nftables.Conn
	// learned remembers until when this Conn made each learned address
	// valid, so that a shorter TTL never cuts an earlier, longer one.
	learned map[netip.Addr]time.Time
}

// Open connects to the nftables of the network namespace of process pid.
func Open(pid int) (*Conn, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("no such process %d", pid)
	}
	return OpenNetNS(fmt.Sprintf("/proc/%d/ns/net", pid))
}

// OpenNetNSFd connects to the nftables of the network namespace that the
// open file descriptor fd refers to.
func OpenNetNSFd(fd int) (*Conn, error) {
	return OpenNetNS(fmt.Sprintf("/proc/self/fd/%d", fd))
}

// OpenNetNS connects to the nftables of the network namespace at path
// (/proc/PID/ns/net, /run/netns/NAME).
//
// The netlink socket is made by netns.DoPath, on an OS thread of its own
// that enters the namespace and is never switched back (Go discards it). A
// socket keeps the namespace it was made in, so the connection then works
// from any thread. This works rootless too, from the rootless user
// namespace (an OCI hook, podman unshare), where switching back to the
// host's namespace is not permitted — nftables' own WithNetNSFd does that,
// and fails there. nftables.New is given no namespace: it makes its socket
// in the calling thread's, which netns.DoPath has entered.
func OpenNetNS(path string) (*Conn, error) {
	var nft *nftables.Conn
	err := netns.DoPath(path, func() error {
		c, err := nftables.New(nftables.AsLasting())
		if err != nil {
			return fmt.Errorf("connecting to nftables: %w", err)
		}
		nft = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Conn{nft: nft, learned: map[netip.Addr]time.Time{}}, nil
}

// Close closes the connection. The ruleset stays.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nft.CloseLasting()
}

// Apply installs the ruleset of p in one batch: terok's table, if there
// is one, is deleted and the new one created in the same transaction, so
// the namespace is never without a ruleset and never has half of one.
//
// The addresses of the namespace this process runs in (the host's: only
// the Conn's socket is in the task's) are added to p.Host, so no caller
// can forget them.
func (c *Conn) Apply(p Policy) error {
	host, err := HostAddresses()
	if err != nil {
		return err
	}
	p.Host = append(slices.Clone(p.Host), host...)
	rs := Build(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	err = c.batch(func() error {
		// add (a no-op when it exists), delete, add: the delete never fails.
		c.nft.AddTable(rs.Table)
		c.nft.DelTable(rs.Table)
		c.nft.AddTable(rs.Table)
		for _, ch := range rs.Chains {
			c.nft.AddChain(ch)
		}
		for _, s := range rs.Sets {
			if err := c.nft.AddSet(s.Set, s.Elements); err != nil {
				return fmt.Errorf("set %s: %w", s.Set.Name, err)
			}
		}
		for _, r := range rs.Rules {
			c.nft.AddRule(r)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("applying the ruleset: %w", err)
	}
	c.learned = map[netip.Addr]time.Time{}
	return nil
}

// batch queues messages with queue and sends them as one batch. When
// queue fails, nothing of what it queued may take effect: a message the
// kernel must refuse (deleting a table that does not exist) is appended,
// which voids the whole transaction.
func (c *Conn) batch(queue func() error) error {
	if err := queue(); err != nil {
		var b [8]byte
		rand.Read(b[:])
		c.nft.DelTable(&nftables.Table{Name: fmt.Sprintf("terok-void-%x", b), Family: nftables.TableFamilyINet})
		_ = c.nft.Flush() // refused by design: the refusal is what voids the batch
		return err
	}
	return c.nft.Flush()
}

// handles are terok's sets as Build makes them, for naming them in
// element operations (read only).
var handles = Build(Policy{})

// set returns a handle on one of terok's sets.
func set(name string) *nftables.Set { return handles.Set(name) }

// refresh adds an element with a timeout, or renews the timeout of one
// that is there: add (a no-op when present), delete, add again, in one
// batch. A plain add does not renew a timeout on every kernel, and a
// delete alone fails when the element has expired meanwhile.
func (c *Conn) refresh(s *nftables.Set, key []byte, timeout time.Duration) error {
	return c.batch(func() error { return c.queueRefresh(s, key, timeout) })
}

// queueRefresh queues refresh's three messages.
func (c *Conn) queueRefresh(s *nftables.Set, key []byte, timeout time.Duration) error {
	el := []nftables.SetElement{{Key: key, Timeout: timeout}}
	if err := c.nft.SetAddElements(s, el); err != nil {
		return err
	}
	if err := c.nft.SetDeleteElements(s, []nftables.SetElement{{Key: key}}); err != nil {
		return err
	}
	return c.nft.SetAddElements(s, el)
}

// Heartbeat renews the alive element for AliveTimeout. The task's warden
// calls it every HeartbeatInterval; without it, egress stops within
// AliveTimeout.
func (c *Conn) Heartbeat() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.refresh(set(SetAlive), aliveKey, AliveTimeout); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// Expire removes the alive element at once: egress stops now rather than
// when the last heartbeat times out. Already expired is not an error.
func (c *Conn) Expire() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := set(SetAlive)
	// Add first, so that the delete finds an element either way.
	el := []nftables.SetElement{{Key: aliveKey, Timeout: AliveTimeout}}
	return c.batch(func() error {
		if err := c.nft.SetAddElements(s, el); err != nil {
			return err
		}
		return c.nft.SetDeleteElements(s, []nftables.SetElement{{Key: aliveKey}})
	})
}

// Down lowers the shield for d: every destination but the denied and the
// restricted ones (private, link-local, metadata, the host's) is allowed,
// and each new connection is logged. The kernel raises it again after d,
// whatever happens to terok meanwhile. The ruleset's shape does not change,
// so Verify holds either way.
func (c *Conn) Down(d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d <= 0 {
		return fmt.Errorf("down: a duration is needed")
	}
	if err := c.refresh(set(SetDown), aliveKey, d); err != nil {
		return fmt.Errorf("down: %w", err)
	}
	return nil
}

// Up raises the shield at once (see Down). Already up is not an error.
func (c *Conn) Up() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := set(SetDown)
	el := []nftables.SetElement{{Key: aliveKey, Timeout: time.Second}}
	return c.batch(func() error {
		if err := c.nft.SetAddElements(s, el); err != nil {
			return err
		}
		return c.nft.SetDeleteElements(s, []nftables.SetElement{{Key: aliveKey}})
	})
}

// KeepAlive sends a heartbeat every interval (HeartbeatInterval when 0)
// until done is closed, then expires the alive element. It returns the
// first error.
func (c *Conn) KeepAlive(done <-chan struct{}, interval time.Duration) error {
	if interval <= 0 {
		interval = HeartbeatInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := c.Heartbeat(); err != nil {
			return err
		}
		select {
		case <-done:
			return c.Expire()
		case <-t.C:
		}
	}
}

// LearnTimeout is how long an address learned with a TTL stays allowed:
// the TTL, but at least LearnFloor.
func LearnTimeout(ttl time.Duration) time.Duration {
	return max(ttl, LearnFloor)
}

// Learn allows addr for LearnTimeout(ttl): the task's resolver calls it
// for each address of an answer to an allowed name, before it replies.
// Learned addresses are never let through to a restricted range (see
// Build).
func (c *Conn) Learn(addr netip.Addr, ttl time.Duration) error {
	return c.LearnFor([]netip.Addr{addr}, LearnTimeout(ttl))
}

// LearnAll is Learn for every address of an answer, in one batch.
func (c *Conn) LearnAll(addrs []netip.Addr, ttl time.Duration) error {
	return c.LearnFor(addrs, LearnTimeout(ttl))
}

// LearnFor allows addrs for d exactly (no floor), in one batch — except an
// address this Conn made valid for longer already, which keeps its longer
// time: two names may share an address with different TTLs, and the
// longer one must hold.
func (c *Conn) LearnFor(addrs []netip.Addr, d time.Duration) error {
	if d <= 0 {
		return errors.New("learn: the time must be positive")
	}
	if len(addrs) == 0 {
		return nil
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	type grant struct {
		addr netip.Addr
		d    time.Duration
	}
	grants := make([]grant, 0, len(addrs))
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		if !a.IsValid() {
			return errors.New("learn: not an address")
		}
		g := grant{a, d}
		if until, ok := c.learned[a]; ok && until.Sub(now) > g.d {
			g.d = until.Sub(now)
		}
		// The kernel counts in milliseconds; round up.
		g.d = (g.d + time.Millisecond - 1).Truncate(time.Millisecond)
		grants = append(grants, g)
	}
	err := c.batch(func() error {
		for _, g := range grants {
			name := SetLearned6
			if g.addr.Is4() {
				name = SetLearned4
			}
			if err := c.queueRefresh(set(name), g.addr.AsSlice(), g.d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("learning %s: %w", grants[0].addr, err)
	}
	for _, g := range grants {
		c.learned[g.addr] = now.Add(g.d)
	}
	if len(c.learned) > 4096 {
		for a, u := range c.learned {
			if u.Before(now) {
				delete(c.learned, a)
			}
		}
	}
	return nil
}

// Allow adds address and range targets to the allow sets (names are
// skipped: they are the resolver's).
func (c *Conn) Allow(ts ...config.Target) error { return c.update(SetAllow4, SetAllow6, ts, nil) }

// Unallow removes address and range targets from the allow sets: the
// addresses they cover are no longer allowed, even where a wider range
// allowed them.
func (c *Conn) Unallow(ts ...config.Target) error { return c.update(SetAllow4, SetAllow6, nil, ts) }

// Deny adds address and range targets to the deny sets.
func (c *Conn) Deny(ts ...config.Target) error { return c.update(SetDeny4, SetDeny6, ts, nil) }

// Undeny removes address and range targets from the deny sets.
func (c *Conn) Undeny(ts ...config.Target) error { return c.update(SetDeny4, SetDeny6, nil, ts) }

// update changes an interval set pair: it reads each set, computes the new
// union, and in one batch deletes exactly the elements it read and adds the
// new ones. Should another process change the set meanwhile, a delete
// fails (or an add overlaps what it added), the batch is void, and the
// update is tried again on fresh contents, for as long as the contents keep
// changing between tries. Only when a batch fails on contents that did not
// change (the kernel's interval tree refusing a delete, not a race) is the
// set flushed and written whole in one batch: a flush on contents another
// writer has just changed would lose that writer's change.
func (c *Conn) update(name4, name6 string, add, remove []config.Target) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, fam := range []struct {
		name string
		is4  bool
	}{{name4, true}, {name6, false}} {
		a, r := spansOfTargets(add, fam.is4), spansOfTargets(remove, fam.is4)
		if len(a) == 0 && len(r) == 0 {
			continue
		}
		s := set(fam.name)
		var (
			err  error
			prev []span
			read bool
		)
		deadline := time.Now().Add(updateDeadline)
		for try := 0; ; try++ {
			var cur []span
			cur, err = c.updateOnce(s, fam.is4, a, r, prev, read)
			if !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.EEXIST) {
				break
			}
			if time.Now().After(deadline) {
				break
			}
			prev, read = cur, true
			// Contending writers back off a little, differently.
			time.Sleep(time.Duration(1+try%4) * time.Duration(100+randUint16()%400) * time.Microsecond)
		}
		if err != nil {
			return fmt.Errorf("updating set %s: %w", fam.name, err)
		}
	}
	return nil
}

// updateDeadline bounds how long update goes on retrying against other
// writers.
const updateDeadline = 5 * time.Second

func randUint16() uint16 {
	var b [2]byte
	rand.Read(b[:])
	return uint16(b[0])<<8 | uint16(b[1])
}

// updateOnce makes one attempt and returns the contents it read. When the
// previous attempt failed on these very contents (read and equal), the set
// is flushed rather than its elements deleted one by one.
func (c *Conn) updateOnce(s *nftables.Set, is4 bool, add, remove []span, prev []span, read bool) ([]span, error) {
	old, err := c.nft.GetSetElements(s)
	if err != nil {
		return nil, err
	}
	cur := spansOf(old, is4)
	next := subtract(normalise(append(append([]span{}, cur...), add...)), remove)
	if equalSpans(cur, next) {
		return cur, nil
	}
	flush := read && equalSpans(prev, cur)
	return cur, c.batch(func() error {
		switch {
		case flush:
			c.nft.FlushSet(s)
		case len(old) > 0:
			// In ascending order, each start before its end: the kernel's
			// interval tree refuses some deletes in other orders.
			del := make([]nftables.SetElement, len(old))
			for i, e := range old {
				del[i] = nftables.SetElement{Key: e.Key, IntervalEnd: e.IntervalEnd}
			}
			sortElements(del)
			if err := c.nft.SetDeleteElements(s, del); err != nil {
				return err
			}
		}
		if els := elements(next, is4); len(els) > 0 {
			return c.nft.SetAddElements(s, els)
		}
		return nil
	})
}

func equalSpans(a, b []span) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Learned is an address learned from DNS and how long it stays allowed.
type Learned struct {
	Addr    netip.Addr
	Expires time.Duration
}

// Contents is what terok's sets hold now.
type Contents struct {
	Alive   bool // the warden's heartbeat is current
	Allow   []netip.Prefix
	Deny    []netip.Prefix
	Learned []Learned
}

// Contents reads terok's sets.
func (c *Conn) Contents() (Contents, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out Contents
	els, err := c.nft.GetSetElements(set(SetAlive))
	if err != nil {
		return out, fmt.Errorf("reading set %s: %w", SetAlive, err)
	}
	out.Alive = hasAlive(els)
	for _, x := range []struct {
		name string
		is4  bool
		dst  *[]netip.Prefix
	}{{SetAllow4, true, &out.Allow}, {SetAllow6, false, &out.Allow}, {SetDeny4, true, &out.Deny}, {SetDeny6, false, &out.Deny}} {
		els, err := c.nft.GetSetElements(set(x.name))
		if err != nil {
			return out, fmt.Errorf("reading set %s: %w", x.name, err)
		}
		for _, s := range spansOf(els, x.is4) {
			*x.dst = append(*x.dst, prefixes(s)...)
		}
	}
	for _, name := range []string{SetLearned4, SetLearned6} {
		els, err := c.nft.GetSetElements(set(name))
		if err != nil {
			return out, fmt.Errorf("reading set %s: %w", name, err)
		}
		for _, e := range els {
			if a, ok := netip.AddrFromSlice(e.Key); ok {
				out.Learned = append(out.Learned, Learned{Addr: a, Expires: e.Expires})
			}
		}
	}
	return out, nil
}

func hasAlive(els []nftables.SetElement) bool {
	for _, e := range els {
		if string(e.Key) == string(aliveKey) && !e.IntervalEnd {
			return true
		}
	}
	return false
}
