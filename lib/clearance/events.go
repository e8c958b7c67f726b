package clearance

// EventType names an event.
type EventType string

const (
	EventPending EventType = "pending" // a new request
	EventUpdated EventType = "updated" // more attempts (count, last seen, more)
	EventDecided EventType = "decided" // a verdict answered it; it is gone
	EventExpired EventType = "expired" // nobody decided it in time; it is gone
)

// Event is a change to a queue, and the JSON line of `terok-clearance
// watch`. Its field names are stable: type, the request's fields (id,
// task, project, dest, port, proto, kind, first_seen, last_seen, count,
// more), and for a verdict action, scope, duration, who, surface, error.
type Event struct {
	Type EventType `json:"type"`
	Request
	Action   Action  `json:"action,omitempty"`
	Scope    Scope   `json:"scope,omitempty"`
	Duration string  `json:"duration,omitempty"` // scope for-duration, as Go writes a duration ("1h0m0s")
	Who      *uint32 `json:"who,omitempty"`      // a uid; 0 (root) is a uid too
	Surface  Surface `json:"surface,omitempty"`
	Error    string  `json:"error,omitempty"`
}

// Subscription is one reader of a queue's events. C is closed when the
// subscription ends: Close, the queue's Close, or the reader falling
// behind by more than the buffer (then Err is ErrLagged, and the reader
// subscribes again and re-reads the pending list it gets).
type Subscription struct {
	C <-chan Event

	c   chan Event
	q   *Queue
	err error // under q.mu
}

// Subscribe starts a subscription and returns it with the requests
// pending at that moment: every later change arrives on it, none before.
// A slow subscriber never blocks the queue: when its buffer is full its
// channel is closed and Err says ErrLagged.
func (q *Queue) Subscribe() (*Subscription, []Request) {
	c := make(chan Event, q.cfg.Buffer)
	s := &Subscription{C: c, c: c, q: q}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		s.err = ErrClosed
		close(c)
		return s, nil
	}
	q.subs[s] = struct{}{}
	return s, q.pending()
}

// Close ends the subscription; it is idempotent.
func (s *Subscription) Close() {
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	if _, ok := s.q.subs[s]; ok {
		s.q.endSub(s, nil)
	}
}

// Err says why the subscription ended: nil (Close, or still running),
// ErrLagged or ErrClosed.
func (s *Subscription) Err() error {
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	return s.err
}

func (q *Queue) endSub(s *Subscription, err error) {
	delete(q.subs, s)
	s.err = err
	close(s.c)
}

// emit hands ev to every subscriber without blocking (the caller holds
// q.mu).
func (q *Queue) emit(ev Event) {
	for s := range q.subs {
		select {
		case s.c <- ev:
		default:
			q.endSub(s, ErrLagged)
		}
	}
}
