package hostsetup

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/hostcheck"
	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/task"
)

// CheckUninstall plans terok uninstall, touching nothing. It undoes setup
// and only that: links (the terok-<command> links that lead to h.Exe; a
// link to another file stays) and hook (the registrations that run
// h.Exe), man and completions (the files of terok's at the places setup
// puts them; see planUncomfort), notifier (terok's login files for the
// desktop notifier; see planUnlogin). With purge (the state tree's tasks; nil
// for none) it also removes every task, refused while one runs, and
// terok's directories, and notes that the images stay.
func CheckUninstall(ctx context.Context, h Host, purge Tasks) Plan {
	p := Plan{Actions: []Action{planUnlink(h), planUnhook(h)}, tasks: purge}
	if h.Comforts.Files != nil {
		p.Actions = append(p.Actions, planUncomfort(h.Comforts, "man"), planUncomfort(h.Comforts, "completions"))
	}
	if h.Login != nil {
		p.Actions = append(p.Actions, planUnlogin(*h.Login))
	}
	if purge != nil {
		p.Actions = append(p.Actions, planTaskRemoval(ctx, purge), planPurgeDirs(h), imagesLeft)
	}
	return p
}

// planUnlink is uninstall's links step.
func planUnlink(h Host) Action {
	a := Action{Step: "links", Words: removedWords}
	for _, n := range h.Links {
		p := filepath.Join(h.BinDir, n)
		if fi, err := os.Lstat(p); err == nil && fi.Mode()&fs.ModeSymlink != 0 && sameFile(p, h.Exe) {
			a.Changes = append(a.Changes, Change{Op: RemoveLink, Path: p})
		}
	}
	a.Detail = fmt.Sprintf("%d terok-* links to %s in %s", len(a.Changes), h.Exe, h.BinDir)
	return a
}

// planUnhook is uninstall's hook step, over the named hooks directory or
// else every one Podman reads and the user's own. A registration of
// another terok binary stays, as a warning. So does one in a directory
// this user cannot write (root's, for a user): it is not the user's to
// remove.
func planUnhook(h Host) Action {
	dirs := []string{h.HooksDir}
	if h.HooksDir == "" {
		dirs = append(slices.Clone(h.PodmanHooksDirs), shield.DefaultHookDir(h.UID, h.Getenv, h.PodmanHooksDirs))
		slices.Sort(dirs)
		dirs = slices.Compact(dirs)
	}
	a := Action{Step: "hook", Words: removedWords}
	var gone, others, notMine []string
	for _, d := range dirs {
		p := filepath.Join(d, shield.HookFile)
		if _, err := os.Stat(p); err == nil && unix.Access(d, unix.W_OK) != nil {
			notMine = append(notMine, p)
			continue
		}
		remove, other, err := shield.PlanUninstallHook(d, h.Exe)
		switch {
		case err != nil:
			a.Refusals = append(a.Refusals, err)
		case remove:
			gone = append(gone, p)
			a.Changes = append(a.Changes, Change{Op: RemoveHook, Path: d, Target: h.Exe})
		case other != "":
			others = append(others, p+" (runs "+other+")")
		}
	}
	a.Detail = "the shield's registration of " + h.Exe
	if len(gone) > 0 {
		a.Detail += ": " + strings.Join(gone, ", ")
	}
	if len(notMine) > 0 {
		a.Detail += "; left " + strings.Join(notMine, ", ") + " (not writable here: terok uninstall as root removes it)"
	}
	if len(others) > 0 {
		a.Status, a.Fix = hostcheck.Warn, "run that terok's uninstall"
		a.Detail += "; left another terok's: " + strings.Join(others, ", ")
	}
	return a
}

// Tasks are the state tree's tasks, as uninstall --purge removes them.
type Tasks interface {
	// List returns every task's id, and the ids of those whose container
	// runs.
	List(ctx context.Context) (all, running []string, err error)
	// Remove removes one as terok-task rm does: its container, workspace,
	// token and record.
	Remove(ctx context.Context, id string) error
}

// planTaskRemoval is the purge's tasks step: every task, refused while
// any runs.
func planTaskRemoval(ctx context.Context, tasks Tasks) Action {
	a := Action{Step: "tasks", Words: removedWords}
	all, running, err := tasks.List(ctx)
	if err != nil {
		a.Refusals = append(a.Refusals, err)
	}
	if len(running) > 0 {
		a.refuse(fmt.Sprintf("%d tasks are running (%s); nothing was removed", len(running), strings.Join(running, " ")),
			"stop them first: terok panic --stop, or terok-task stop")
	}
	for _, id := range all {
		a.Changes = append(a.Changes, Change{Op: RemoveTask, Path: id})
	}
	a.Detail = fmt.Sprintf("%d tasks: containers, workspaces, tokens", len(all))
	return a
}

// planPurgeDirs is the purge's dirs step: terok's configuration, state,
// data, cache and runtime directories, and with the runtime directory
// terok's own Podman service, if it started one.
func planPurgeDirs(h Host) Action {
	a := Action{Step: "dirs", Words: removedWords}
	if exists(filepath.Join(filepath.Dir(h.Paths.PodmanSocket()), engine.PIDFileName)) {
		a.Changes = append(a.Changes, Change{Op: StopService, Path: h.Paths.PodmanSocket()})
	}
	var dirs []string
	for _, d := range []string{h.Paths.Config, h.Paths.State, h.Paths.Data, h.Paths.Cache, h.Paths.Runtime} {
		if exists(d) {
			dirs = append(dirs, d)
			a.Changes = append(a.Changes, Change{Op: RemoveTree, Path: d})
		}
	}
	a.Detail = strings.Join(dirs, ", ")
	return a
}

// imagesLeft is the purge's note on the images: they live in the
// engine's storage, which other state trees may share, and terok-image
// owns them.
var imagesLeft = Action{Step: "images", Words: [2]string{"", "left in place"},
	Detail: "images may be shared with other users of this engine",
	Fix:    "terok-image ls --all | terok-image rm -"}

// RunnerTasks are the tasks of r's state tree, on r's engine.
func RunnerTasks(r *task.Runner) Tasks {
	return &runnerTasks{r: r, recs: map[string]task.Record{}}
}

type runnerTasks struct {
	r    *task.Runner
	recs map[string]task.Record // as List read them
}

func (t *runnerTasks) List(ctx context.Context) (all, running []string, err error) {
	ids, err := t.r.Store().IDs()
	if err != nil {
		return nil, nil, err
	}
	for _, id := range ids {
		rec, err := t.r.Store().Load(id)
		if err != nil {
			return nil, nil, err
		}
		t.recs[id] = rec
		all = append(all, id)
		if st, err := t.r.Engine.InspectContainer(ctx, rec.Container); err == nil && st.Running {
			running = append(running, id)
		}
	}
	return all, running, nil
}

func (t *runnerTasks) Remove(ctx context.Context, id string) error {
	rec, ok := t.recs[id]
	if !ok {
		var err error
		if rec, err = t.r.Store().Load(id); err != nil {
			return err
		}
	}
	_, err := t.r.Remove(ctx, rec)
	return err
}
