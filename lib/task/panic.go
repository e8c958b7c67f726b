package task

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/store"
	"github.com/terok-ai/terok-go/lib/warden"
)

// PanicResult is what the kill switch did to one task.
type PanicResult struct {
	Task    string `json:"task"`
	Project string `json:"project"`
	// Action is quarantined (its warden closed the network, DNS and the
	// gate; the agent goes on running), stopped (quarantined, then its
	// container stopped: --stop), killed (its warden did not answer, so it
	// was killed, which closes the gate at once and the network within the
	// shield's alive timeout, and its container was stopped), or failed.
	Action string `json:"action"`
	Detail string `json:"detail,omitempty"`
}

// PanicRevoke revokes every task's vault tokens: the kill switch's first
// step, which needs neither the vault's key, nor Podman, nor a warden.
// It returns how many it revoked. A tokens file that does not exist (no
// task ever used the vault) is left so.
func (r *Runner) PanicRevoke() (int, error) {
	if _, err := os.Stat(r.Paths.VaultTokens()); errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	n, err := r.VaultTokens().RevokeAll()
	if err != nil {
		return n, fmt.Errorf("revoking the tasks' vault tokens: %w", err)
	}
	return n, nil
}

// panicQuarantineTimeout bounds the wait for each warden: one that does
// not answer within it is killed.
const panicQuarantineTimeout = 500 * time.Millisecond

// PanicCutOff is the kill switch's first phase, which needs no Podman (a
// slow or wedged engine must not delay it): every task whose warden runs
// is quarantined by its warden, all in parallel — no network, no DNS, no
// gate, kept across restarts until 'terok-shield up'. A warden that does
// not answer within half a second is killed. A task without a live warden
// has neither gate nor network already. It returns what it did, and the
// records whose containers the second phase (PanicStop) should stop.
func (r *Runner) PanicCutOff(ctx context.Context) ([]PanicResult, []Record, error) {
	ids, err := r.Store().IDs()
	if err != nil {
		return nil, nil, err
	}
	var (
		mu     sync.Mutex
		out    []PanicResult
		toStop []Record
		wg     sync.WaitGroup
	)
	for _, id := range ids {
		rec, err := r.Store().Load(id)
		unreadable := err != nil
		if unreadable {
			// Its warden, if any, still answers on its control socket
			// (named by the id); failing that, the second phase finds its
			// container by the task label.
			rec = Record{ID: id}
		} else if rec.Container == "" {
			continue
		}
		if !unreadable && !warden.Alive(rec.WardenPID) {
			// Cut off already; its container may still run.
			mu.Lock()
			toStop = append(toStop, rec)
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := PanicResult{Task: rec.ID, Project: rec.Project, Action: "quarantined"}
			qctx, cancel := context.WithTimeout(ctx, panicQuarantineTimeout)
			_, err := r.Warden(rec.ID).Quarantine(qctx)
			cancel()
			if unreadable {
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					res.Detail = "its record cannot be read"
					out = append(out, res)
				} else {
					toStop = append(toStop, rec)
				}
				return
			}
			if err != nil {
				warden.Signal(rec.WardenPID, syscall.SIGKILL)
				res.Action, res.Detail = "killed", "its warden did not quarantine it ("+err.Error()+"), so it was killed"
			}
			mu.Lock()
			out = append(out, res)
			if err != nil {
				toStop = append(toStop, rec)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out, toStop, nil
}

// PanicStop is the second phase, with Podman: it stops (without grace) the
// running containers of the tasks PanicCutOff handed over, and with stop
// those of the quarantined tasks too. Stopped tasks are marked stopped by
// a person, so that ls says so.
func (r *Runner) PanicStop(ctx context.Context, done []PanicResult, toStop []Record, stop bool) []PanicResult {
	byID := map[string]int{}
	for i, p := range done {
		byID[p.Task] = i
	}
	var recs []Record
	recs = append(recs, toStop...)
	if stop {
		for _, p := range done {
			if p.Action == "quarantined" {
				rec, err := r.Store().Load(p.Task)
				if err != nil {
					rec = Record{ID: p.Task} // found by its label
				}
				recs = append(recs, rec)
			}
		}
	}
	out := append([]PanicResult{}, done...)
	// One listing, not an inspection per record: most records are of
	// tasks that ended long ago.
	live, err := r.Engine.ListContainers(ctx, LabelTask)
	if err != nil {
		for _, rec := range recs {
			if i, seen := byID[rec.ID]; seen {
				out[i].Detail = joinDetail(out[i].Detail, "its container was not stopped: "+err.Error())
			}
		}
		return out
	}
	// By the task label, not the record's container name: a record that
	// cannot be read still has its container found.
	running := map[string]string{}
	for _, c := range live {
		if c.Running && c.Labels[LabelTask] != "" {
			running[c.Labels[LabelTask]] = c.ID
		}
	}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, rec := range recs {
		container, ok := running[rec.ID]
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := r.panicStop(ctx, rec, container)
			mu.Lock()
			defer mu.Unlock()
			i, seen := byID[rec.ID]
			switch {
			case seen && res.Action == "failed":
				out[i].Action, out[i].Detail = "failed", joinDetail(out[i].Detail, res.Detail)
			case seen && out[i].Action == "quarantined":
				out[i].Action = "stopped"
			case !seen:
				out = append(out, res)
			}
		}()
	}
	wg.Wait()
	return out
}

// panicStop stops one task's running container without grace.
func (r *Runner) panicStop(ctx context.Context, rec Record, container string) PanicResult {
	res := PanicResult{Task: rec.ID, Project: rec.Project, Action: "stopped"}
	uerr := r.Store().Update(rec.ID, func(x *Record) error { x.Stopped = true; return nil })
	if err := r.Engine.StopContainer(ctx, container, 0); err != nil && !errors.Is(err, engine.ErrNoSuchContainer) {
		res.Action, res.Detail = "failed", "stopping its container: "+err.Error()
	} else if rec.Container == "" {
		res.Detail = fmt.Sprintf("its record cannot be read (%v)", uerr)
	} else if !warden.Alive(rec.WardenPID) {
		res.Detail = "it had no warden (cut off already)"
	}
	return res
}

func joinDetail(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// PanicAudit sorts the results and appends them to the tasks' audit log.
func (r *Runner) PanicAudit(out []PanicResult) error {
	sort.Slice(out, func(i, j int) bool { return out[i].Task < out[j].Task })
	var entries []any
	now := time.Now().UTC()
	for _, p := range out {
		entries = append(entries, AuditEntry{Time: now, Task: p.Task, Project: p.Project, Event: "panic: " + p.Action})
	}
	if len(entries) == 0 {
		return nil
	}
	if err := store.AppendJSON(r.AuditLog(), entries...); err != nil {
		return fmt.Errorf("the tasks were cut off, but the audit log: %w", err)
	}
	return nil
}
