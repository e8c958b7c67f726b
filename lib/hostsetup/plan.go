package hostsetup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/hostcheck"
	"github.com/terok-ai/terok-go/lib/shield"
)

// A Plan is what setup or uninstall will do, step by step, as checked.
type Plan struct {
	Actions []Action
	tasks   Tasks // what RemoveTask changes go through
	files   fs.FS // what WriteFile changes write from
}

// An Action is one step of a plan: what it changes, what refuses it, and
// the record printed once it is done.
type Action struct {
	Step     string   // the record's name: links, hook, dirs, ...
	Changes  []Change // what Apply does, in order; none when all is in place
	Refusals []error  // why the step cannot go ahead; then nothing is done

	// The record: its detail opens with Words[0] when the step changes
	// something and Words[1] when it does not (setup: "set up" and
	// "already in place"), then Detail. Status is ok unless set.
	Words  [2]string
	Detail string
	Status hostcheck.Status
	Fix    string
}

var (
	setUpWords   = [2]string{"set up", "already in place"}
	removedWords = [2]string{"removed", "nothing to remove"}
)

// Op is the kind of a Change.
type Op string

const (
	MakeDir     Op = "make-dir"     // directory Path with Mode, and its missing parents
	MakeLink    Op = "make-link"    // a symbolic link at Path to Target, replacing a link there at once
	WriteHook   Op = "write-hook"   // the shield's registration in directory Path, running Target
	RemoveLink  Op = "remove-link"  // the link at Path
	RemoveHook  Op = "remove-hook"  // directory Path's registration, if it still runs Target
	RemoveTask  Op = "remove-task"  // task Path (its id), as terok-task rm does
	StopService Op = "stop-service" // terok's own Podman service, its socket at Path
	RemoveTree  Op = "remove-tree"  // directory Path and everything in it
	WriteFile   Op = "write-file"   // file Path with Mode, its contents terok's own file Target (man/terok.1)
	RemoveFile  Op = "remove-file"  // the file at Path
	WriteText   Op = "write-text"   // file Path with Mode, its contents Text (the notifier's login files)
)

// A Change is one thing Apply does.
type Change struct {
	Op     Op
	Path   string
	Target string
	Mode   fs.FileMode
	Text   string // WriteText's contents
}

func (c Change) String() string {
	s := string(c.Op) + " " + c.Path
	if c.Target != "" {
		s += " -> " + c.Target
	}
	return s
}

// Refusal is a step refusing to go ahead, with what fixes it.
type Refusal struct {
	Msg string
	Fix string
}

func (r *Refusal) Error() string { return r.Msg }
func (r *Refusal) Hint() string  { return r.Fix }

// refuse adds a refusal to a.
func (a *Action) refuse(msg, fix string) {
	a.Refusals = append(a.Refusals, &Refusal{Msg: msg, Fix: fix})
}

// Refused returns the first refusal of the plan, nil when nothing refuses
// it.
func (p Plan) Refused() error {
	for _, a := range p.Actions {
		if len(a.Refusals) > 0 {
			return a.Refusals[0]
		}
	}
	return nil
}

// Count is the number of changes of kind op in the plan.
func (p Plan) Count(op Op) int {
	n := 0
	for _, a := range p.Actions {
		for _, c := range a.Changes {
			if c.Op == op {
				n++
			}
		}
	}
	return n
}

// Record is the action's record, once done.
func (a Action) Record() hostcheck.Result {
	words := a.Words[1]
	if len(a.Changes) > 0 {
		words = a.Words[0]
	}
	r := hostcheck.Result{Check: a.Step, Status: a.Status, Detail: words + ": " + a.Detail, Fix: a.Fix}
	if r.Status == "" {
		r.Status = hostcheck.OK
	}
	return r
}

// Apply carries out the plan, step by step, and returns each step's
// record. A plan that anything refuses is not started: Apply returns the
// first refusal. It stops at the first change that fails. warnf is told
// what fails but does not stop it (terok's Podman service not stopping).
func (p Plan) Apply(ctx context.Context, warnf func(format string, a ...any)) ([]hostcheck.Result, error) {
	if err := p.Refused(); err != nil {
		return nil, err
	}
	out := make([]hostcheck.Result, 0, len(p.Actions))
	for _, a := range p.Actions {
		for _, c := range a.Changes {
			if err := p.apply(ctx, c, warnf); err != nil {
				return nil, err
			}
		}
		out = append(out, a.Record())
	}
	return out, nil
}

func (p Plan) apply(ctx context.Context, c Change, warnf func(string, ...any)) error {
	switch c.Op {
	case MakeDir:
		return os.MkdirAll(c.Path, c.Mode)
	case MakeLink:
		return replaceLink(c.Path, c.Target)
	case WriteHook:
		_, err := shield.WriteHook(c.Path, c.Target)
		return err
	case RemoveLink:
		return os.Remove(c.Path)
	case RemoveHook:
		// The shield decides again: a registration that another terok
		// wrote since the check stays.
		_, _, err := shield.UninstallHook(c.Path, c.Target)
		return err
	case RemoveTask:
		if p.tasks == nil {
			return fmt.Errorf("removing task %s: no tasks to remove it from", c.Path)
		}
		if err := p.tasks.Remove(ctx, c.Path); err != nil {
			return fmt.Errorf("removing task %s: %v", c.Path, err)
		}
		return nil
	case StopService:
		if err := engine.StopServiceAt(ctx, c.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			warnf("stopping terok's Podman service: %v", err)
		}
		return nil
	case RemoveTree:
		return os.RemoveAll(c.Path)
	case WriteFile:
		if p.files == nil {
			return fmt.Errorf("writing %s: no files to write it from", c.Path)
		}
		data, err := fs.ReadFile(p.files, c.Target)
		if err != nil {
			return err
		}
		return writeAtomic(c.Path, data, c.Mode)
	case RemoveFile:
		return os.Remove(c.Path)
	case WriteText:
		return writeAtomic(c.Path, []byte(c.Text), c.Mode)
	}
	return fmt.Errorf("unknown change %s", c)
}

// replaceLink points a link at path to target, replacing whatever link is
// there in one step (a new link beside it, renamed over it).
func replaceLink(path, target string) error {
	tmp := path + ".terok-new"
	_ = os.Remove(tmp) // a leftover of an earlier run, if any
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp) // the rename's error is the one to report
		return err
	}
	return nil
}
