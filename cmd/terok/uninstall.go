package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	taskcmd "github.com/terok-ai/terok-go/cmd/terok-task"
	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/hostcheck"
	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/task"
)

// UninstallCmd is `terok uninstall`: it undoes terok setup — the links
// that lead to this binary and the shield's registration of it — and with
// --purge removes every task and terok's own directories too. It leaves
// the binary (make uninstall, or the package manager) and the images
// (terok-image rm), and it refuses while tasks run.
type UninstallCmd struct {
	BinDir   string `name:"bin-dir" help:"Directory of the terok-<command> links (default: as terok setup)." placeholder:"DIR" type:"path"`
	HooksDir string `name:"hooks-dir" help:"Hooks directory of the shield's registration (default: every one Podman reads, and the user's own)." placeholder:"DIR" type:"path"`
	Purge    bool   `help:"Also remove every task (container, workspace, token) and terok's configuration, state, data, cache and runtime directories."`
	Yes      bool   `short:"y" help:"Do not ask for confirmation of --purge."`
}

func (c *UninstallCmd) Run(env *cli.Env) error {
	h, err := findHostPlaces(env, c.BinDir)
	if err != nil {
		return err
	}
	exe, uid, paths, binDir := h.exe, h.uid, h.paths, h.binDir
	hooksDirs := []string{c.HooksDir}
	if c.HooksDir == "" {
		podman := shield.PodmanHooksDirs()
		hooksDirs = append(podman, shield.DefaultHookDir(uid, env.Getenv, podman))
		slices.Sort(hooksDirs)
		hooksDirs = slices.Compact(hooksDirs)
	}

	// Check first: nothing is removed when anything would refuse.
	var (
		r    *task.Runner
		recs []task.Record
	)
	if c.Purge {
		if r, recs, err = purgePreflight(env); err != nil {
			return err
		}
		q := fmt.Sprintf("Remove %d tasks and terok's directories (%s, %s, %s, %s)?", len(recs),
			paths.Config, paths.State, paths.Data, paths.Cache)
		if err := env.Confirm(q, c.Yes); err != nil {
			return err
		}
	}

	// The hook first: reading a registration can fail, and then no link
	// has gone yet. A registration in a directory this user cannot write
	// (root's, for a user) is not this user's to remove.
	var gone, others, notMine []string
	for _, d := range hooksDirs {
		p := filepath.Join(d, shield.HookFile)
		if _, err := os.Stat(p); err == nil && unix.Access(d, unix.W_OK) != nil {
			notMine = append(notMine, p)
			continue
		}
		ok, other, err := shield.UninstallHook(d, exe)
		if err != nil {
			return cli.Failf("%v", err)
		}
		if ok {
			gone = append(gone, p)
		}
		if other != "" {
			others = append(others, p+" (runs "+other+")")
		}
	}
	what := "the shield's registration of " + exe
	if len(gone) > 0 {
		what += ": " + strings.Join(gone, ", ")
	}
	hook := removalResult("hook", len(gone) > 0, what)
	if len(notMine) > 0 {
		hook.Detail += "; left " + strings.Join(notMine, ", ") + " (not writable here: terok uninstall as root removes it)"
	}
	if len(others) > 0 {
		hook.Status, hook.Detail = hostcheck.Warn, hook.Detail+"; left another terok's: "+strings.Join(others, ", ")
		hook.Fix = "run that terok's uninstall"
	}

	removed := 0
	for _, n := range linkNames() {
		p := filepath.Join(binDir, n)
		if fi, err := os.Lstat(p); err == nil && fi.Mode()&fs.ModeSymlink != 0 && sameFile(p, exe) {
			if err := os.Remove(p); err != nil {
				return cli.Failf("%v", err)
			}
			removed++
		}
	}
	out := []hostcheck.Result{
		removalResult("links", removed > 0, fmt.Sprintf("%d terok-* links to %s in %s", removed, exe, binDir)),
		hook,
	}

	if c.Purge {
		for _, rec := range recs {
			if _, err := r.Remove(env.Ctx, rec); err != nil {
				return cli.Failf("removing task %s: %v", rec.ID, err)
			}
		}
		out = append(out, removalResult("tasks", len(recs) > 0, fmt.Sprintf("%d tasks: containers, workspaces, tokens", len(recs))))
		// terok's own Podman service, if it started one, goes with its
		// runtime directory.
		if err := engine.StopServiceAt(env.Ctx, paths.PodmanSocket()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			env.Warnf("stopping terok's Podman service: %v", err)
		}
		var dirs []string
		for _, d := range []string{paths.Config, paths.State, paths.Data, paths.Cache, paths.Runtime} {
			if _, err := os.Lstat(d); err == nil {
				if err := os.RemoveAll(d); err != nil {
					return cli.Failf("%v", err)
				}
				dirs = append(dirs, d)
			}
		}
		out = append(out, removalResult("dirs", len(dirs) > 0, strings.Join(dirs, ", ")))
		out = append(out, hostcheck.Result{Check: "images", Status: hostcheck.OK,
			Detail: "left in place: images may be shared with other users of this engine",
			Fix:    "terok-image ls --all | terok-image rm -"})
	}
	if err := cli.List(env, out, doctorColumns); err != nil {
		return err
	}
	if rank := hostcheck.Worst(out).Rank(); rank != 0 {
		return cli.ExitStatus(rank)
	}
	return nil
}

// purgePreflight connects to Podman and lists the tasks --purge removes; it
// refuses while any of them runs.
func purgePreflight(env *cli.Env) (*task.Runner, []task.Record, error) {
	r, err := taskcmd.Runner(env)
	if err != nil {
		return nil, nil, err
	}
	ids, err := r.Store().IDs()
	if err != nil {
		return nil, nil, cli.Failf("%v", err)
	}
	var recs []task.Record
	var running []string
	for _, id := range ids {
		rec, err := r.Store().Load(id)
		if err != nil {
			return nil, nil, cli.Failf("%v", err)
		}
		recs = append(recs, rec)
		if st, err := r.Engine.InspectContainer(env.Ctx, rec.Container); err == nil && st.Running {
			running = append(running, id)
		}
	}
	if len(running) > 0 {
		return nil, nil, cli.Failf("%d tasks are running (%s); nothing was removed", len(running), strings.Join(running, " ")).
			WithHint("stop them first: terok panic --stop, or terok-task stop")
	}
	return r, recs, nil
}

// removalResult is an uninstall step's record.
func removalResult(step string, changed bool, detail string) hostcheck.Result {
	if changed {
		detail = "removed: " + detail
	} else {
		detail = "nothing to remove: " + detail
	}
	return hostcheck.Result{Check: step, Status: hostcheck.OK, Detail: detail}
}
