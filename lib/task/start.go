package task

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/terok-ai/terok-go/lib/agent"
	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/gate"
	"github.com/terok-ai/terok-go/lib/project"
	"github.com/terok-ai/terok-go/lib/warden"
)

// WardenReadyTimeout bounds the wait for a new warden to serve.
const WardenReadyTimeout = 15 * time.Second

func (r *Runner) logDir() string { return filepath.Join(r.Paths.State, "tasks", "logs") }

// Start starts a task's container and its warden, and returns once the
// warden serves the task. before, if not nil, runs first, under the same
// engine lock as the start: attaching to a container makes Podman
// initialise it (the runtime's create, with the OCI hook), which is as much
// a container change as the start.
func (r *Runner) Start(ctx context.Context, rec Record, before ...func(Record) error) (Record, error) {
	unlock, err := r.engineLock()
	if err != nil {
		return rec, err
	}
	for _, fn := range before {
		if fn == nil {
			continue
		}
		if err := fn(rec); err != nil {
			unlock()
			return rec, err
		}
	}
	started := time.Now().UTC()
	err = r.Engine.StartContainer(ctx, rec.Container)
	unlock()
	r.trace("start.container")
	if err != nil {
		return rec, fmt.Errorf("starting the container: %w", err)
	}
	// A new run: the last one's outcome no longer holds.
	anew := func(x *Record) {
		x.Started = started
		x.Stopped, x.TimedOut, x.ExitCode, x.Finished = false, false, nil, time.Time{}
	}
	st, err := r.Engine.InspectContainer(ctx, rec.Container)
	r.trace("start.inspect")
	if err != nil {
		return rec, err
	}
	if !st.Running || st.Pid == 0 {
		// It may have finished already (a very short command): no warden is
		// needed for a task that is over.
		err = r.Store().Update(rec.ID, func(x *Record) error { anew(x); rec = *x; return nil })
		return rec, err
	}
	pid, err := r.spawnWarden(ctx, rec.ID, st.Pid)
	r.trace("start.warden")
	if err != nil {
		r.Engine.StopContainer(context.Background(), rec.Container, 0)
		return rec, fmt.Errorf("starting the task's warden: %w", err)
	}
	err = r.Store().Update(rec.ID, func(x *Record) error {
		x.WardenPID = pid
		anew(x)
		rec = *x
		return nil
	})
	return rec, err
}

// spawnWarden starts `terok task warden ID --pid PID` in a session of its
// own (it outlives this command, and dies with the task) and waits for its
// "ready" line. Rootless, it runs in the rootless user namespace.
func (r *Runner) spawnWarden(ctx context.Context, id string, pid int) (int, error) {
	if err := os.MkdirAll(r.logDir(), 0o700); err != nil {
		return 0, err
	}
	logf, err := os.OpenFile(filepath.Join(r.logDir(), id+".warden.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	env := []string{
		"PATH=" + r.Getenv("PATH"), "HOME=" + r.Getenv("HOME"),
		"TEROK_CONFIG_DIR=" + r.Paths.Config, "TEROK_STATE_DIR=" + r.Paths.State,
		"TEROK_DATA_DIR=" + r.Paths.Data, "TEROK_RUNTIME_DIR=" + r.Paths.Runtime,
	}
	if r.Paths.Cache != "" {
		env = append(env, "TEROK_CACHE_DIR="+r.Paths.Cache)
	}
	// The binary answers to its name: terok-task takes the verb, terok the
	// command and the verb.
	args := []string{r.Exe, "task", "warden", id, "--pid", strconv.Itoa(pid)}
	if filepath.Base(r.Exe) == "terok-task" {
		args = append(args[:1], args[2:]...)
	}
	var cmd *exec.Cmd
	if r.Rootless {
		// Only the rootless user namespace may enter the task's network
		// namespace; the roots are explicit because the uid reads 0 there.
		cmd = exec.Command("podman", append([]string{"unshare", "env"}, append(env, args...)...)...)
		cmd.Env = append(env, "XDG_RUNTIME_DIR="+r.Getenv("XDG_RUNTIME_DIR"))
	} else {
		cmd = exec.Command(args[0], args[1:]...)
		cmd.Env = env
	}
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		if strings.TrimSpace(line) == "ready" {
			ready <- nil
			return
		}
		// A warden that could not serve said why on stderr, its log.
		why := strings.TrimSpace(line)
		if b, rerr := os.ReadFile(logf.Name()); rerr == nil {
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			why = lines[len(lines)-1]
		}
		ready <- fmt.Errorf("the warden did not serve: %s (%v); see %s", why, err, logf.Name())
	}()
	select {
	case err = <-ready:
	case <-time.After(WardenReadyTimeout):
		err = fmt.Errorf("the warden did not serve within %s; see %s", WardenReadyTimeout, logf.Name())
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return 0, err
	}
	p := cmd.Process.Pid
	// The warden lives on by itself; reap it if it ends while we wait.
	go cmd.Wait()
	return p, nil
}

// ServeWarden is the warden process of task id: it serves the task's gate
// inside the task's network namespace until the container's process pid
// exits. ready is called once it serves.
func ServeWarden(ctx context.Context, r *Runner, id string, pid int, ready func()) error {
	rec, err := r.Store().Load(id)
	if err != nil {
		return err
	}
	token, err := r.Token(id)
	if err != nil {
		return fmt.Errorf("reading the task's token: %w", err)
	}
	p, err := project.Store{Paths: r.Paths}.Load(rec.Project)
	if err != nil {
		return err
	}
	m, err := gate.New(r.Paths, rec.Project, p, r.Global, r.Getenv)
	if err != nil {
		return err
	}
	// The shield first: the agent starts only once the gate answers, and
	// the gate answers only once the task's policy is applied and verified.
	sh, err := r.startShield(ctx, id, pid)
	if err != nil {
		return fmt.Errorf("the task's shield: %w", err)
	}
	defer sh.close()
	w := &warden.Warden{
		Pid:   pid,
		Gate:  sh.guard(&gate.Endpoint{Mirror: m, Tokens: []gate.Token{{Secret: token, Task: id}}}),
		Ready: ready,
	}
	return w.Run(ctx)
}

// signalWarden signals a warden's whole process group (it runs in a
// session of its own): rootless, the recorded pid is podman unshare's and
// the warden is its child, which a signal to the pid alone would miss.
func signalWarden(pid int, sig syscall.Signal) {
	if pid <= 0 {
		return
	}
	syscall.Kill(-pid, sig)
	syscall.Kill(pid, sig)
}

// WardenAlive reports whether a task's warden process still runs.
func WardenAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(b), "warden")
}

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
		r.Engine.StopContainer(ctx, rec.Container, 5*time.Second)
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
