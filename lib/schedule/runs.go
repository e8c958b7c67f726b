package schedule

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/terok-ai/terok-go/lib/store"
)

// Run is one run of a schedule, as its record keeps it.
type Run struct {
	Task    string    `json:"task,omitempty"` // "" when it failed before its task was made
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
	// ExitCode is the run's exit code (the agent's, or terok's own when
	// it failed before or around the agent); nil while it runs.
	ExitCode *int   `json:"exit_code,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Runs is the record of a schedule's runs, oldest first: every run whose
// task is kept, and the last run whatever became of its task.
type Runs struct {
	Runs []Run `json:"runs"`
}

// Last returns the latest run, if any.
func (r Runs) Last() (Run, bool) {
	if len(r.Runs) == 0 {
		return Run{}, false
	}
	return r.Runs[len(r.Runs)-1], true
}

// LoadRuns reads a schedule's record (empty when it never ran).
func (s Store) LoadRuns(name string) (Runs, error) {
	var r Runs
	err := store.ReadJSON(s.StatePath(name), &r)
	if errors.Is(err, fs.ErrNotExist) {
		return Runs{}, nil
	}
	return r, err
}

// UpdateRuns changes a schedule's record under its lock.
func (s Store) UpdateRuns(name string, fn func(*Runs) error) error {
	if err := os.MkdirAll(s.Paths.ScheduleStateDir(), 0o700); err != nil {
		return err
	}
	return store.UpdateJSON(s.StatePath(name), func(r *Runs, _ bool) error { return fn(r) })
}

// Expired returns the tasks of runs beyond the newest keep runs that have a
// task (keep 0: none), oldest first. The caller removes those it can.
func (r Runs) Expired(keep int) []string {
	if keep <= 0 {
		return nil
	}
	var tasks []string
	for _, run := range r.Runs {
		if run.Task != "" {
			tasks = append(tasks, run.Task)
		}
	}
	if len(tasks) <= keep {
		return nil
	}
	return tasks[:len(tasks)-keep]
}

// Forget drops the runs of the given tasks from the record, but for the
// last run, which stays to be reported.
func (r *Runs) Forget(tasks []string) {
	gone := map[string]bool{}
	for _, t := range tasks {
		gone[t] = true
	}
	out := r.Runs[:0]
	for i, run := range r.Runs {
		if !gone[run.Task] || i == len(r.Runs)-1 {
			out = append(out, run)
		}
	}
	r.Runs = out
}

// BusyError is a run refused because another run of the schedule holds
// its lock.
type BusyError struct {
	Name string
	PID  int // 0 when unknown
}

func (e *BusyError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("schedule %s is already running (pid %d); this run is skipped", e.Name, e.PID)
	}
	return fmt.Sprintf("schedule %s is already running; this run is skipped", e.Name)
}

// ExitBusy is the exit code of a run refused because the schedule is
// already running (BSD's EX_TEMPFAIL: try again later).
const ExitBusy = 75

// ExitCode makes a refused run exit ExitBusy.
func (e *BusyError) ExitCode() int { return ExitBusy }

// Lock takes a schedule's run lock without waiting (flock on
// STATE/schedules/NAME.lock, which then holds this process's pid): a
// *BusyError when another process holds it. The kernel releases it when
// the process ends; the returned function releases it sooner.
func (s Store) Lock(name string) (unlock func(), err error) {
	path := s.LockPath(name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			break
		}
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		b, _ := os.ReadFile(path) // the holder's pid, best effort: the refusal stands without it
		_ = f.Close()
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return nil, &BusyError{Name: name, PID: pid}
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0) // informative only: the lock is the flock
	}
	return func() { _ = f.Close() }, nil
}
