package task

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/store"
	"github.com/terok-ai/terok-go/lib/warden"
)

// PanicResult is what the kill switch did to one running task.
type PanicResult struct {
	Task    string `json:"task"`
	Project string `json:"project"`
	// Action is quarantined (the shield let nothing in or out, the agent
	// goes on running), stopped (quarantined, then the container was
	// stopped), killed (the warden did not answer, so the container was
	// stopped at once) or failed (neither worked: see Detail).
	Action string `json:"action"`
	Detail string `json:"detail,omitempty"`
}

// panicQuarantineTimeout bounds the wait for each warden: a warden that
// does not answer within it is taken for dead and its task is stopped.
const panicQuarantineTimeout = 2 * time.Second

// Panic cuts every running task of this state tree off at once, all in
// parallel: each warden is told to quarantine its task (nothing in or out,
// not even DNS; kept across restarts until 'terok-shield up'), and a task
// whose warden does not answer has its container stopped without grace.
// With stop, quarantined tasks are stopped as well. Every action goes to
// the tasks' audit log. Tasks that are not running are left alone and not
// reported.
func (r *Runner) Panic(ctx context.Context, stop bool) ([]PanicResult, error) {
	ids, err := r.Store().IDs()
	if err != nil {
		return nil, err
	}
	var (
		mu  sync.Mutex
		out []PanicResult
		wg  sync.WaitGroup
	)
	for _, id := range ids {
		rec, err := r.Store().Load(id)
		if err != nil || rec.Container == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, ok := r.panicOne(ctx, rec, stop)
			if !ok {
				return
			}
			mu.Lock()
			out = append(out, res)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].Task < out[j].Task })
	var entries []any
	now := time.Now().UTC()
	for _, p := range out {
		entries = append(entries, AuditEntry{Time: now, Task: p.Task, Project: p.Project, Event: "panic: " + p.Action})
	}
	if len(entries) > 0 {
		if err := store.AppendJSON(r.AuditLog(), entries...); err != nil {
			return out, fmt.Errorf("the tasks were cut off, but the audit log: %w", err)
		}
	}
	return out, nil
}

func (r *Runner) panicOne(ctx context.Context, rec Record, stop bool) (PanicResult, bool) {
	st, err := r.Engine.InspectContainer(ctx, rec.Container)
	if errors.Is(err, engine.ErrNoSuchContainer) || err == nil && !st.Running {
		return PanicResult{}, false
	}
	res := PanicResult{Task: rec.ID, Project: rec.Project}
	if err != nil {
		// Whether it runs is unknown: stop it to be sure.
		res.Detail = err.Error()
		return r.panicStop(ctx, rec, res, "killed"), true
	}
	qctx, cancel := context.WithTimeout(ctx, panicQuarantineTimeout)
	_, qerr := r.ShieldControl(qctx, rec.ID, warden.Request{Op: "quarantine"})
	cancel()
	switch {
	case qerr != nil:
		res.Detail = "the warden did not quarantine it: " + qerr.Error()
		return r.panicStop(ctx, rec, res, "killed"), true
	case stop:
		return r.panicStop(ctx, rec, res, "stopped"), true
	}
	res.Action = "quarantined"
	return res, true
}

// panicStop stops the task's container without grace and marks it stopped
// by a person, so that ls says so.
func (r *Runner) panicStop(ctx context.Context, rec Record, res PanicResult, action string) PanicResult {
	r.Store().Update(rec.ID, func(x *Record) error { x.Stopped = true; return nil })
	if err := r.Engine.StopContainer(ctx, rec.Container, 0); err != nil && !errors.Is(err, engine.ErrNoSuchContainer) {
		res.Action = "failed"
		if res.Detail != "" {
			res.Detail += "; "
		}
		res.Detail += "stopping the container: " + err.Error()
		return res
	}
	res.Action = action
	return res
}
