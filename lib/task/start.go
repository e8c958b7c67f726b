package task

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"syscall"
	"time"

	"github.com/terok-ai/terok-go/lib/agent"
	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/warden"
)

func (r *Runner) logDir() string { return filepath.Join(r.Paths.State, "tasks", "logs") }

// Start starts a task's container and its warden, and returns once the
// warden serves the task. before, if not nil, runs first, under the same
// engine lock as the start: attaching to a container makes Podman
// initialise it (the runtime's create, with the OCI hook), which is as much
// a container change as the start.
//
// The container is initialised before it starts (by the attach, or here):
// its namespaces exist and the shield's hook has applied the task's policy,
// its first process waiting to be started. The warden, which needs only
// that process (to enter its network namespace and watch it), is spawned
// then, while the container starts: its start no longer waits for the
// container's, nor the container's entry point for it (docs/decisions.md,
// "Start time"). Start still returns only once the warden serves.
//
// A task that uses the vault has it opened first (a locked vault stops
// the start before anything changes), and its warden is handed the key.
func (r *Runner) Start(ctx context.Context, rec Record, before ...func(Record) error) (Record, error) {
	var key io.WriterTo
	if rec.Vault != "" {
		st, err := r.openVault(ctx)
		if err != nil {
			return rec, err
		}
		key = st.Key()
	}
	unlock, err := r.engineLock()
	if err != nil {
		return rec, err
	}
	attached := false
	for _, fn := range before {
		if fn == nil {
			continue
		}
		attached = true
		if err := fn(rec); err != nil {
			unlock()
			// An attach initialises the container: the engine's refusal
			// of a GPU may come here, before the start.
			if gerr := gpuError(err); gerr != nil {
				return rec, gerr
			}
			return rec, err
		}
	}
	if !attached {
		if err := r.Engine.InitContainer(ctx, rec.Container); err != nil {
			unlock()
			if gerr := gpuError(err); gerr != nil {
				return rec, gerr
			}
			return rec, fmt.Errorf("initialising the container: %w", err)
		}
		r.trace("start.init")
	}
	// The initialised container's first process: the warden's, started
	// beside the container's start. A container in any other state (one
	// still running) starts as before, its warden after it.
	var early chan spawned
	if st, err := r.Engine.InspectContainer(ctx, rec.Container); err == nil && !st.Running && st.Pid > 0 {
		early = make(chan spawned, 1)
		go func() {
			pid, err := r.spawnWarden(ctx, rec.ID, st.Pid, key)
			early <- spawned{pid, err}
		}()
	}
	r.trace("start.inspect")
	started := time.Now().UTC()
	err = r.Engine.StartContainer(ctx, rec.Container)
	unlock()
	r.trace("start.container")
	if err != nil {
		if early != nil {
			// The warden of a container that did not start has nothing
			// to serve.
			if w := <-early; w.err == nil {
				warden.Signal(w.pid, syscall.SIGTERM)
			}
		}
		if gerr := gpuError(err); gerr != nil {
			return rec, gerr
		}
		return rec, fmt.Errorf("starting the container: %w", err)
	}
	// A new run: the last one's outcome no longer holds.
	anew := func(x *Record) {
		x.Started = started
		x.Stopped, x.TimedOut, x.ExitCode, x.Finished = false, false, nil, time.Time{}
	}
	var w spawned
	if early != nil {
		w = <-early
	} else {
		st, err := r.Engine.InspectContainer(ctx, rec.Container)
		if err != nil {
			return rec, err
		}
		if st.Running && st.Pid != 0 {
			w.pid, w.err = r.spawnWarden(ctx, rec.ID, st.Pid, key)
		}
	}
	r.trace("start.warden")
	if w.err != nil {
		// It may have finished already (a very short command, a crash
		// before the warden could watch it): no warden is needed for a
		// task that is over.
		if st, ierr := r.Engine.InspectContainer(ctx, rec.Container); ierr == nil && !st.Running {
			w = spawned{}
		}
	}
	if w.err != nil {
		err = fmt.Errorf("starting the task's warden: %w", w.err)
		// A container left running without its warden is worth saying.
		if serr := r.Engine.StopContainer(context.Background(), rec.Container, 0); serr != nil {
			err = errors.Join(err, fmt.Errorf("stopping the container: %w", serr))
		}
		return rec, err
	}
	err = r.Store().Update(rec.ID, func(x *Record) error {
		if w.pid != 0 {
			x.WardenPID = w.pid
		}
		anew(x)
		rec = *x
		return nil
	})
	return rec, err
}

// spawned is a warden's spawn: its pid, or why it did not serve.
type spawned struct {
	pid int
	err error
}

// spawnWarden starts task id's warden for the container process pid and
// waits until it serves (see warden.Spawn). key, if not nil, is the
// vault's, handed over on the warden's stdin.
func (r *Runner) spawnWarden(ctx context.Context, id string, pid int, key io.WriterTo) (int, error) {
	return warden.Spawn{Exe: r.Exe, Task: id, Pid: pid, Paths: r.Paths, Getenv: r.Getenv,
		Rootless: r.Rootless, Log: r.wardenLog(id), Handover: key}.Start(ctx)
}

// wardenLog is where a task's warden writes its stderr.
func (r *Runner) wardenLog(id string) string { return filepath.Join(r.logDir(), id+".warden.log") }

// Outcome is how a task's run ended.
type Outcome struct {
	Status Status
	Code   int
}

// Wait waits for a task's container to stop. A headless task still running
// past its timeout (plus the agent's own grace) is stopped and recorded as
// timed out (124). The outcome is recorded.
func (r *Runner) Wait(ctx context.Context, rec Record) (Outcome, error) {
	wctx := ctx
	var cancel context.CancelFunc
	var limit time.Duration
	if rec.Mode == Headless && rec.Timeout != "" {
		if d, err := time.ParseDuration(rec.Timeout); err == nil && d > 0 {
			limit = d + agent.TimeoutKillAfter + 20*time.Second
			from := rec.Created
			if !rec.Started.IsZero() {
				from = rec.Started // a restart or a followup runs anew
			}
			wctx, cancel = context.WithTimeout(ctx, time.Until(from.Add(limit)))
			defer cancel()
		}
	}
	code, err := r.Engine.WaitContainer(wctx, rec.Container)
	timedOut := false
	if err != nil && limit > 0 && errors.Is(wctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		timedOut = true
		// The timeout is recorded either way; a container that will not
		// stop is stopped again, or removed, with its task.
		_ = r.Engine.StopContainer(ctx, rec.Container, 5*time.Second)
		code, err = 124, nil
	}
	if err != nil {
		if errors.Is(err, engine.ErrNoSuchContainer) {
			return Outcome{Missing, -1}, nil
		}
		return Outcome{}, err
	}
	err = r.Store().Update(rec.ID, func(x *Record) error {
		c := code
		x.ExitCode, x.Finished = &c, time.Now().UTC()
		if timedOut || (code == 124 && x.Mode == Headless) {
			x.TimedOut = true
		}
		rec = *x
		return nil
	})
	st, _ := r.Engine.InspectContainer(ctx, rec.Container)
	s, c := Derive(rec, &st)
	return Outcome{s, c}, err
}
