package clearsvc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/terok-ai/terok-go/lib/clearance"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/warden"
)

// Shield is what the service needs of the task's shield service
// (shieldsvc.Service): the live change of the policy, and its audit log.
type Shield interface {
	Change(op warden.Op, targets []config.Target, from string, d time.Duration) (warden.Rules, error)
	AuditClearance(clearance.AuditRecord)
}

// Config is what the clearance service of one task is given.
type Config struct {
	// Project is the task's project, named in its requests.
	Project string
	// Queue is the queue's bounds (zero fields: clearance's defaults); its
	// Task and Project are set by the service.
	Queue clearance.Config
	// Shield applies the verdicts and keeps the audit log.
	Shield Shield
}

// Service owns a task's clearance queue. Attempt may be called before
// Start and after Close (the shield starts first and ends last): those
// attempts are dropped.
type Service struct {
	cfg Config
	q   atomic.Pointer[clearance.Queue]

	decide sync.Mutex // one verdict at a time: checked, applied, decided
}

// New is the clearance service of one task.
func New(c Config) *Service { return &Service{cfg: c} }

var _ warden.Controller = (*Service)(nil)

// Start opens the task's queue.
func (s *Service) Start(_ context.Context, t *warden.Task) error {
	qc := s.cfg.Queue
	qc.Task, qc.Project = t.ID, s.cfg.Project
	s.q.Store(clearance.NewQueue(qc))
	return nil
}

// Close ends the queue: its watchers' streams end.
func (s *Service) Close() error {
	if q := s.q.Swap(nil); q != nil {
		q.Close()
	}
	return nil
}

// Attempt records a refused name or a blocked connection (the shield
// service's OnAttempt); a new request is written to the audit log.
func (s *Service) Attempt(a clearance.Attempt) { s.add(a) }

// add is Attempt; it returns the queue and the request (nil: the attempt
// was dropped).
func (s *Service) add(a clearance.Attempt) (*clearance.Queue, *clearance.Request) {
	q := s.q.Load()
	if q == nil {
		return nil, nil
	}
	r, created, err := q.Add(a)
	if err != nil {
		return nil, nil // closed meanwhile, or an attempt the shield should not have sent
	}
	if created {
		s.cfg.Shield.AuditClearance(clearance.RequestRecord(r, time.Now()))
	}
	return q, &r
}

// Hold records a refused name as Attempt does, then holds the caller (the
// resolver's held query, through the shield service's Hold) until the
// request is decided, ctx ends or the queue closes: true when the verdict
// allowed it and was applied (the name is in the policy by then: a
// verdict is applied before it is decided). Repeats of a pending name join
// its one request and wake together. A name that falls into the overflow
// request is refused at once: nobody can allow it.
func (s *Service) Hold(ctx context.Context, a clearance.Attempt) bool {
	q, r := s.add(a)
	if r == nil || r.Kind == clearance.KindOverflow {
		return false
	}
	v, err := q.Wait(ctx, r.ID)
	return err == nil && v.Granted()
}

// Ops are the clearance's control operations.
func (s *Service) Ops() []warden.Op {
	return []warden.Op{warden.OpClearancePending, warden.OpClearanceDecide, warden.OpClearanceWatch}
}

// Handle answers the clearance's control requests.
func (s *Service) Handle(ctx context.Context, req warden.Request) (any, error) {
	q := s.q.Load()
	if q == nil {
		return nil, clearance.ErrClosed
	}
	switch req.Op {
	case warden.OpClearancePending:
		return q.Pending(), nil
	case warden.OpClearanceDecide:
		return s.decideReq(ctx, q, req)
	case warden.OpClearanceWatch:
		sub, pending := q.Subscribe()
		st := &stream{sub: sub}
		for _, r := range pending {
			st.backlog = append(st.backlog, clearance.Event{Type: clearance.EventPending, Request: r})
		}
		return st, nil
	}
	return nil, fmt.Errorf("unknown request %q", req.Op)
}

// decideReq checks the verdict against its request, applies it through the
// shield, then decides the request with the outcome (Verdict.Error when
// applying failed) and writes it to the audit log. A verdict the queue
// refuses (unknown or stale id, another destination, the overflow
// request, a bad field) changes nothing.
func (s *Service) decideReq(ctx context.Context, q *clearance.Queue, req warden.Request) (clearance.Event, error) {
	who, ok := warden.PeerUID(ctx)
	if !ok {
		return clearance.Event{}, errors.New("a verdict needs the caller's credentials")
	}
	v := clearance.Verdict{Action: clearance.Action(req.Action), Scope: clearance.Scope(req.Scope),
		Surface: clearance.Surface(req.Surface), Who: who}
	if req.Duration != "" {
		d, err := time.ParseDuration(req.Duration)
		if err != nil {
			return clearance.Event{}, fmt.Errorf("%w: duration %q", clearance.ErrInvalidScope, req.Duration)
		}
		if d > warden.MaxDown {
			return clearance.Event{}, fmt.Errorf("%w: a temporary allow lasts up to 24h, not %s", clearance.ErrInvalidScope, d)
		}
		v.Duration = d
	}
	s.decide.Lock()
	defer s.decide.Unlock()
	r, err := q.Check(req.ID, req.Dest, v)
	if err != nil {
		return clearance.Event{}, err
	}
	if err := s.apply(r, v); err != nil {
		v.Error = err.Error()
	}
	r, err = q.Decide(req.ID, req.Dest, v)
	if err != nil {
		// Expired or closed between the check and now (the change, if
		// any, stands: a person asked for it).
		return clearance.Event{}, err
	}
	s.cfg.Shield.AuditClearance(clearance.VerdictRecord(r, v, time.Now()))
	ev := clearance.Event{Type: clearance.EventDecided, Request: r, Action: v.Action, Scope: v.Scope,
		Who: &v.Who, Surface: v.Surface, Error: v.Error}
	if v.Scope == clearance.ScopeDuration {
		ev.Duration = v.Duration.String()
	}
	return ev, nil
}

// apply makes verdict v on r the task's policy: the request's destination
// (the whole host: every port) is allowed or denied as terok-shield allow
// and deny do, for v.Duration when the scope is for-duration. Scope
// project changes this task alone here: writing the project's rules is
// the surface's (it asks on a terminal).
func (s *Service) apply(r clearance.Request, v clearance.Verdict) error {
	t, err := config.ParseTarget(r.Dest)
	if err != nil {
		return err
	}
	op := warden.OpAllow
	if v.Action == clearance.Deny {
		op = warden.OpDeny
	}
	var d time.Duration
	if v.Scope == clearance.ScopeDuration {
		d = v.Duration
	}
	_, err = s.cfg.Shield.Change(op, []config.Target{t}, "terok-clearance "+string(v.Action), d)
	return err
}

// stream is a watcher's stream: the requests pending when it began, then
// the queue's events.
type stream struct {
	sub     *clearance.Subscription
	backlog []clearance.Event
}

func (st *stream) Next(ctx context.Context) (any, error) {
	if len(st.backlog) > 0 {
		ev := st.backlog[0]
		st.backlog = st.backlog[1:]
		return ev, nil
	}
	select {
	case ev, ok := <-st.sub.C:
		if ok {
			return ev, nil
		}
		if err := st.sub.Err(); errors.Is(err, clearance.ErrLagged) {
			return nil, err
		}
		return nil, io.EOF // the queue closed: the warden ends
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (st *stream) Close() { st.sub.Close() }
