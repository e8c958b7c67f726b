package clearhub

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/terok-ai/terok-go/lib/clearance"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/project"
	"github.com/terok-ai/terok-go/lib/task"
	"github.com/terok-ai/terok-go/lib/warden"
)

// Filter narrows the hub to one task (an exact id) and/or one project;
// empty fields match everything.
type Filter struct{ Task, Project string }

func (f Filter) match(r clearance.Request) bool {
	return (f.Task == "" || r.Task == f.Task) && (f.Project == "" || r.Project == f.Project)
}

// DefaultPoll is how often Watch looks for wardens that started (a new
// task, or a task's warden started again).
const DefaultPoll = 500 * time.Millisecond

// callTimeout bounds each one-shot call to a warden (Pending, the
// project's check before a verdict), so a warden that hangs cannot stall
// the others.
const callTimeout = 5 * time.Second

// Hub reaches the wardens of the current user's running tasks.
type Hub struct {
	// Runtime is terok's runtime directory: the wardens' control sockets
	// are in its "wardens" directory.
	Runtime string
	// Projects edits a project's project.toml for a verdict of scope
	// project.
	Projects project.Store
	// Poll is how often Watch looks for new wardens (DefaultPoll when 0).
	Poll time.Duration
}

// New is the hub of terok's paths (a command's session.Paths).
func New(p config.Paths) *Hub {
	return &Hub{Runtime: p.Runtime, Projects: project.Store{Paths: p}}
}

func (h *Hub) poll() time.Duration {
	if h.Poll > 0 {
		return h.Poll
	}
	return DefaultPoll
}

// wardens are the ids of the tasks whose warden has a control socket (a
// socket left by a warden that was killed is listed too: it does not
// answer, and is tried again at the next look).
func (h *Hub) wardens(f Filter) ([]string, error) {
	if f.Task != "" {
		if err := task.ValidID(f.Task); err != nil {
			return nil, err
		}
	}
	ents, err := os.ReadDir(filepath.Dir(warden.ControlPath(h.Runtime, "x")))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".sock")
		if !ok || e.Type()&os.ModeSocket == 0 || task.ValidID(id) != nil {
			continue
		}
		if f.Task == "" || f.Task == id {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func (h *Hub) client(id string) *warden.Client { return warden.NewClient(h.Runtime, id) }

// Watch hands each the clearance events of every running task's warden
// that f matches, merged as they come: for each warden first the requests
// pending when Watch reached it (as "pending" events), then its events. It
// follows wardens that start later (a new task, a restart) within Poll.
// When a warden ends, each of the requests it still had pending is handed
// on as an "expired" event (its queue is gone with it). A warden that cuts
// the hub for being too slow is watched again at once; its pending
// requests then come again as "pending" events, so a surface treats
// "pending" as "this request, as it stands now". Watch returns each's
// error, or ctx's when ctx ends; one warden's failure is never the
// caller's: it is watched again when it answers.
func (h *Hub) Watch(ctx context.Context, f Filter, each func(clearance.Event) error) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	evs := make(chan clearance.Event)
	ended := make(chan string)
	watching := map[string]bool{}
	scan := func() error {
		ids, err := h.wardens(f)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if watching[id] {
				continue
			}
			watching[id] = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				h.follow(ctx, id, evs)
				select {
				case ended <- id:
				case <-ctx.Done():
				}
			}()
		}
		return nil
	}
	if err := scan(); err != nil {
		return err
	}
	tick := time.NewTicker(h.poll())
	defer tick.Stop()
	for {
		select {
		case ev := <-evs:
			if f.match(ev.Request) {
				if err := each(ev); err != nil {
					return err
				}
			}
		case id := <-ended:
			delete(watching, id)
		case <-tick.C:
			if err := scan(); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// follow watches one warden until it ends or stops answering, again at
// once when it cut the hub for lagging, and then hands on an "expired"
// event for each request it left pending.
func (h *Hub) follow(ctx context.Context, id string, evs chan<- clearance.Event) {
	pending := map[string]clearance.Request{}
	send := func(ev clearance.Event) error {
		select {
		case evs <- ev:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		err := h.client(id).Watch(ctx, func(ev clearance.Event) error {
			switch ev.Type {
			case clearance.EventPending, clearance.EventUpdated:
				pending[ev.ID] = ev.Request
			default:
				delete(pending, ev.ID)
			}
			return send(ev)
		})
		if err == nil || ctx.Err() != nil || !lagged(err) {
			break
		}
	}
	if ctx.Err() != nil {
		return
	}
	gone := make([]clearance.Request, 0, len(pending))
	for _, r := range pending {
		gone = append(gone, r)
	}
	sort.Slice(gone, func(i, j int) bool { return gone[i].FirstSeen.Before(gone[j].FirstSeen) })
	for _, r := range gone {
		if send(clearance.Event{Type: clearance.EventExpired, Request: r}) != nil {
			return
		}
	}
}

// lagged says whether a watch ended because the warden cut a watcher too
// slow for its queue (the error crosses the socket as text).
func lagged(err error) bool {
	return errors.Is(err, clearance.ErrLagged) || strings.Contains(err.Error(), clearance.ErrLagged.Error())
}

// Pending lists the requests pending now in the running tasks' wardens
// that f matches, oldest first. Each warden is asked at once, for at most
// a few seconds; one that does not answer (its task is stopping, a socket
// left behind) is left out. Any other refusal is returned, joined, along
// with the requests of the wardens that did answer.
func (h *Hub) Pending(ctx context.Context, f Filter) ([]clearance.Request, error) {
	ids, err := h.wardens(f)
	if err != nil {
		return nil, err
	}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		out  []clearance.Request
		errs []error
	)
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, callTimeout)
			defer cancel()
			rs, err := h.client(id).Pending(cctx)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, warden.ErrNoWarden), errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			case err != nil:
				errs = append(errs, fmt.Errorf("task %s: %w", id, err))
			}
			for _, r := range rs {
				if f.match(r) {
					out = append(out, r)
				}
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].FirstSeen.Equal(out[j].FirstSeen) {
			return out[i].FirstSeen.Before(out[j].FirstSeen)
		}
		return out[i].ID < out[j].ID
	})
	return out, errors.Join(errs...)
}

// Decide answers request id of task with verdict v, which must be for
// dest: the task's warden checks the verdict against the request, applies
// it and decides the request (a verdict for another destination, a stale
// or unknown id changes nothing; the error then wraps the clearance
// sentinel: ErrDestMismatch, ErrStale, ErrUnknownID, ...). For scope
// project the rule is also written into the project's [shield] allow
// (deny) once the warden has applied it; the project's file is checked
// before the warden is asked, so a file that cannot be edited refuses the
// verdict with nothing changed. The returned event is the warden's decided
// event; a non-nil error with a decided event means the verdict was taken
// but not (wholly) applied.
func (h *Hub) Decide(ctx context.Context, taskID, id, dest string, v clearance.Verdict) (clearance.Event, error) {
	if err := task.ValidID(taskID); err != nil {
		return clearance.Event{}, err
	}
	if !clearance.ValidID(id) {
		return clearance.Event{}, fmt.Errorf("%w: %q is not a request id", clearance.ErrUnknownID, id)
	}
	c := h.client(taskID)
	if v.Scope == clearance.ScopeProject {
		if err := h.precheck(ctx, c, taskID, id, dest, v.Action); err != nil {
			return clearance.Event{}, err
		}
	}
	ev, err := c.Decide(ctx, id, dest, v)
	if err != nil {
		if ev.Type == "" {
			return ev, sentinel(err)
		}
		return ev, err // decided, with the warden's error
	}
	if v.Scope == clearance.ScopeProject {
		if err := h.writeRule(ev.Project, v.Action, dest); err != nil {
			return ev, fmt.Errorf("task %s's rule changed, but the project %s's was not written: %w", taskID, ev.Project, err)
		}
	}
	return ev, nil
}

// precheck finds the request among the task's pending ones and checks that
// its project's file takes the rule, before anything changes. A request
// it cannot find is left to the warden, which refuses it precisely.
func (h *Hub) precheck(ctx context.Context, c *warden.Client, taskID, id, dest string, a clearance.Action) error {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	rs, err := c.Pending(cctx)
	if err != nil {
		return fmt.Errorf("task %s: %w", taskID, err)
	}
	for _, r := range rs {
		if r.ID != id || r.Dest != dest {
			continue
		}
		if r.Project == "" {
			return fmt.Errorf("request %s names no project", id)
		}
		path := h.Projects.Paths.ProjectFile(r.Project)
		src, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("project %s: %w", r.Project, err)
		}
		_, _, err = EditShield(path, src, a, dest)
		return err
	}
	return nil
}

// writeRule writes the rule into the project's project.toml: edited in
// place, validated, and written atomically only if nobody changed the file
// meanwhile.
func (h *Hub) writeRule(name string, a clearance.Action, dest string) error {
	if name == "" {
		return errors.New("the request names no project")
	}
	path := h.Projects.Paths.ProjectFile(name)
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, changed, err := EditShield(path, src, a, dest)
	if err != nil || !changed {
		return err
	}
	return h.Projects.Replace(name, src, out)
}

// sentinels are the queue's refusals, which cross the control socket as
// text.
var sentinels = []error{clearance.ErrUnknownID, clearance.ErrStale, clearance.ErrDestMismatch,
	clearance.ErrOverflow, clearance.ErrInvalidAction, clearance.ErrInvalidScope,
	clearance.ErrInvalidSurface, clearance.ErrClosed, warden.ErrNoWarden}

// sentinel turns a warden's refusal back into an error wrapping the
// queue's sentinel, so callers can test it with errors.Is.
func sentinel(err error) error {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return err
		}
	}
	msg := err.Error()
	for _, s := range sentinels {
		if rest, ok := strings.CutPrefix(msg, s.Error()); ok {
			return fmt.Errorf("%w%s", s, rest)
		}
	}
	return err
}
