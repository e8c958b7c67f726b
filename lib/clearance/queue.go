package clearance

import (
	"cmp"
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Defaults of a Config.
const (
	DefaultMaxPending  = 64
	DefaultTTL         = 5 * time.Minute
	DefaultUpdateEvery = time.Second
	DefaultBuffer      = 256
	DefaultRecent      = 1024
)

// Config is a queue's task and its bounds; zero fields take the defaults.
type Config struct {
	Task    string
	Project string

	// MaxPending is how many requests (destinations) are pending at most;
	// beyond it new destinations fold into one overflow request.
	MaxPending int
	// TTL is how long a request stays pending after its last attempt when
	// nobody decides it and no Wait holds it.
	TTL time.Duration
	// UpdateEvery: a repeat emits an "updated" event when its count
	// reaches a power of two, or when this long has passed since the
	// request's last event; other repeats only count.
	UpdateEvery time.Duration
	// Buffer is each subscriber's event buffer.
	Buffer int
	// Recent is how many decided or expired ids are remembered, so that a
	// late verdict on one is refused as stale rather than unknown and a
	// late Wait still gets the verdict.
	Recent int
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.MaxPending <= 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.TTL <= 0 {
		c.TTL = DefaultTTL
	}
	if c.UpdateEvery <= 0 {
		c.UpdateEvery = DefaultUpdateEvery
	}
	if c.Buffer <= 0 {
		c.Buffer = DefaultBuffer
	}
	if c.Recent <= 0 {
		c.Recent = DefaultRecent
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// overflowMemory is how many overflowed destinations, per pending slot, a
// queue remembers (as 64-bit hashes, about 40 KB for the default 64 slots)
// so that repeats of one do not count as more: "more" is exact for that
// many destinations; past it, an attempt to a destination not remembered
// counts as one more even when it is a repeat (it overstates, never
// understates).
const overflowMemory = 16

type key struct {
	dest  string
	port  uint16
	proto string
}

// entry is a pending request and those holding it.
type entry struct {
	req       Request
	key       key
	seq       uint64 // creation order
	waiters   int
	lastEvent time.Time
	done      chan struct{} // closed when decided or expired
	verdict   *Verdict      // set before done is closed; nil when expired
}

// outcome is how a request left the queue.
type outcome struct {
	verdict *Verdict // nil: expired
}

// Queue holds one task's pending requests. It is safe for concurrent use.
type Queue struct {
	cfg Config

	mu       sync.Mutex
	byID     map[string]*entry // every pending request, the overflow one too
	byKey    map[key]*entry    // the pending requests of one destination
	overflow *entry            // the "and N more" request, nil when none
	ofSeen   map[uint64]struct{}
	seed     maphash.Seed
	recent   map[string]outcome
	ring     []string // recent ids, oldest overwritten first
	ringNext int
	subs     map[*Subscription]struct{}
	seq      uint64
	closed   bool
	stop     chan struct{}
	swept    chan struct{}
}

// NewQueue starts a task's queue and its expiry sweep; Close stops it.
func NewQueue(cfg Config) *Queue {
	cfg.defaults()
	q := &Queue{cfg: cfg,
		byID: map[string]*entry{}, byKey: map[key]*entry{}, ofSeen: map[uint64]struct{}{},
		seed: maphash.MakeSeed(), recent: map[string]outcome{}, ring: make([]string, cfg.Recent),
		subs: map[*Subscription]struct{}{}, stop: make(chan struct{}), swept: make(chan struct{})}
	go q.sweepLoop(min(max(cfg.TTL/4, 10*time.Millisecond), 5*time.Second))
	return q
}

func (q *Queue) sweepLoop(every time.Duration) {
	defer close(q.swept)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-q.stop:
			return
		case <-t.C:
			q.Sweep()
		}
	}
}

// Close ends the queue: waiters get ErrClosed, subscriptions end, Add and
// Decide fail. It is idempotent.
func (q *Queue) Close() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.closed = true
	close(q.stop)
	for s := range q.subs {
		q.endSub(s, ErrClosed)
	}
	q.mu.Unlock()
	<-q.swept
}

// Add records an attempt: a repeat of a pending (destination, port,
// protocol) updates its request, a new one becomes a request, and beyond
// MaxPending it folds into the queue's overflow request. It returns the
// request as it is now and whether the call created it.
func (q *Queue) Add(a Attempt) (Request, bool, error) {
	if err := a.validate(); err != nil {
		return Request{}, false, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return Request{}, false, ErrClosed
	}
	now := a.Time
	if now.IsZero() {
		now = q.cfg.Now()
	}
	k := key{a.Dest, a.Port, a.Proto}
	if e := q.byKey[k]; e != nil {
		q.repeat(e, now)
		return e.req, false, nil
	}
	if len(q.byKey) < q.cfg.MaxPending {
		e := q.newEntry(Request{Dest: a.Dest, Port: a.Port, Proto: a.Proto, Kind: a.Kind}, now)
		e.key = k
		q.byKey[k] = e
		return e.req, true, nil
	}
	h := maphash.String(q.seed, k.dest+"\x00"+strconv.Itoa(int(k.port))+"\x00"+k.proto)
	if q.overflow == nil {
		clear(q.ofSeen)
		q.ofSeen[h] = struct{}{}
		q.overflow = q.newEntry(Request{Kind: KindOverflow, More: 1}, now)
		return q.overflow.req, true, nil
	}
	if _, seen := q.ofSeen[h]; !seen {
		q.overflow.req.More++
		if len(q.ofSeen) < overflowMemory*q.cfg.MaxPending {
			q.ofSeen[h] = struct{}{}
		}
	}
	q.repeat(q.overflow, now)
	return q.overflow.req, false, nil
}

func (q *Queue) newEntry(r Request, now time.Time) *entry {
	r.ID, r.Task, r.Project = newID(), q.cfg.Task, q.cfg.Project
	r.FirstSeen, r.LastSeen, r.Count = now, now, 1
	q.seq++
	e := &entry{req: r, seq: q.seq, lastEvent: now, done: make(chan struct{})}
	q.byID[r.ID] = e
	q.emit(Event{Type: EventPending, Request: r})
	return e
}

// repeat folds one more attempt into e, and says so to the subscribers
// when the count reaches a power of two or UpdateEvery has passed: a flood
// of repeats costs a logarithmic number of events.
func (q *Queue) repeat(e *entry, now time.Time) {
	e.req.Count++
	if now.After(e.req.LastSeen) {
		e.req.LastSeen = now
	}
	if c := e.req.Count; c&(c-1) == 0 || now.Sub(e.lastEvent) >= q.cfg.UpdateEvery {
		e.lastEvent = now
		q.emit(Event{Type: EventUpdated, Request: e.req})
	}
}

// Decide answers the request id with v. dest must be the request's
// destination exactly: an id is bound to its task (its queue) and its
// destination. A decided request leaves the queue, so a second verdict on
// it is stale. It returns the request as decided.
func (q *Queue) Decide(id, dest string, v Verdict) (Request, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e, err := q.check(id, dest, v)
	if err != nil {
		return Request{}, err
	}
	q.remove(e, &v)
	ev := Event{Type: EventDecided, Request: e.req, Action: v.Action, Scope: v.Scope,
		Who: &v.Who, Surface: v.Surface, Error: v.Error}
	if v.Scope == ScopeDuration {
		ev.Duration = v.Duration.String()
	}
	q.emit(ev)
	return e.req, nil
}

// Check is Decide without deciding: it returns the request id names when
// Decide would take verdict v on it for dest now, and Decide's error
// otherwise. The warden checks a verdict before it applies it, so that a
// verdict Decide would refuse changes nothing.
func (q *Queue) Check(id, dest string, v Verdict) (Request, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e, err := q.check(id, dest, v)
	if err != nil {
		return Request{}, err
	}
	return e.req, nil
}

func (q *Queue) check(id, dest string, v Verdict) (*entry, error) {
	if q.closed {
		return nil, ErrClosed
	}
	e := q.byID[id]
	if e == nil {
		if _, ok := q.recent[id]; ok {
			return nil, fmt.Errorf("%w: %s", ErrStale, id)
		}
		return nil, fmt.Errorf("%w: %q", ErrUnknownID, id)
	}
	if e == q.overflow {
		return nil, fmt.Errorf("%w: %s", ErrOverflow, id)
	}
	if dest != e.req.Dest {
		return nil, fmt.Errorf("%w: request %s is for another destination", ErrDestMismatch, id)
	}
	if err := v.validate(); err != nil {
		return nil, err
	}
	return e, nil
}

// remove takes e out of the queue, remembers how it left, and releases its
// waiters.
func (q *Queue) remove(e *entry, v *Verdict) {
	delete(q.byID, e.req.ID)
	if e == q.overflow {
		q.overflow = nil
		clear(q.ofSeen)
	} else {
		delete(q.byKey, e.key)
	}
	if old := q.ring[q.ringNext]; old != "" {
		delete(q.recent, old)
	}
	q.ring[q.ringNext] = e.req.ID
	q.ringNext = (q.ringNext + 1) % len(q.ring)
	q.recent[e.req.ID] = outcome{verdict: v}
	e.verdict = v
	close(e.done)
}

// Wait holds the caller until the request id is decided and returns the
// verdict, or until ctx ends (its error) or the queue closes (ErrClosed).
// A held request does not expire. Any number of callers may wait on one
// request; all get the verdict. A request decided shortly before Wait
// still gives its verdict; one that expired gives ErrStale.
func (q *Queue) Wait(ctx context.Context, id string) (Verdict, error) {
	q.mu.Lock()
	e := q.byID[id]
	if e == nil {
		o, ok := q.recent[id]
		q.mu.Unlock()
		switch {
		case !ok:
			return Verdict{}, fmt.Errorf("%w: %q", ErrUnknownID, id)
		case o.verdict == nil:
			return Verdict{}, fmt.Errorf("%w: %s expired", ErrStale, id)
		}
		return *o.verdict, nil
	}
	if q.closed {
		q.mu.Unlock()
		return Verdict{}, ErrClosed
	}
	e.waiters++
	q.mu.Unlock()

	var err error
	select {
	case <-e.done:
	case <-ctx.Done():
		err = ctx.Err()
	case <-q.stop:
		err = ErrClosed
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	e.waiters--
	select {
	case <-e.done: // decided (or expired) after all: the verdict wins
		if e.verdict == nil {
			return Verdict{}, fmt.Errorf("%w: %s expired", ErrStale, id)
		}
		return *e.verdict, nil
	default:
		return Verdict{}, err
	}
}

// Sweep expires the requests whose last attempt is TTL old and that no
// Wait holds. The queue runs it on its own; tests with a fake clock call
// it.
func (q *Queue) Sweep() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	now := q.cfg.Now()
	var gone []*entry
	for _, e := range q.byID {
		if e.waiters == 0 && now.Sub(e.req.LastSeen) >= q.cfg.TTL {
			gone = append(gone, e)
		}
	}
	slices.SortFunc(gone, func(a, b *entry) int { return cmp.Compare(a.seq, b.seq) })
	for _, e := range gone {
		q.remove(e, nil)
		q.emit(Event{Type: EventExpired, Request: e.req})
	}
}

// Pending lists the pending requests, oldest first (the overflow request
// among them).
func (q *Queue) Pending() []Request {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pending()
}

func (q *Queue) pending() []Request {
	es := make([]*entry, 0, len(q.byID))
	for _, e := range q.byID {
		es = append(es, e)
	}
	slices.SortFunc(es, func(a, b *entry) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]Request, len(es))
	for i, e := range es {
		out[i] = e.req
	}
	return out
}
