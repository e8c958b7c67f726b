package gate

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/terok-ai/terok-go/lib/config"
)

// ErrAmbiguous is returned for a REF that names more than one branch.
var ErrAmbiguous = errors.New("ambiguous")

// Target is a branch of a project's gate, resolved from what a person
// typed.
type Target struct {
	Project string
	Branch  string
}

// Opener gives the gate of a project.
type Opener func(project string) (*Mirror, error)

// Resolve finds the branch that ref names. ref is, in this order of
// precedence:
//
//   - PROJECT/BRANCH, when PROJECT is one of projects;
//   - a task id, or a unique prefix of one: the one branch that task
//     created (an error listing them when it created several);
//   - a branch name, when exactly one project's gate has it.
//
// With project set, ref is looked up in that project only (as a branch,
// then as a task). Nothing is created or changed.
func Resolve(open Opener, projects []string, ref, project string) (Target, error) {
	if ref == "" {
		return Target{}, invalid(fmt.Errorf("empty REF"))
	}
	if project != "" {
		if err := config.ValidName(project); err != nil {
			return Target{}, invalid(err)
		}
		projects = []string{project}
		if p, b, ok := strings.Cut(ref, "/"); ok && p == project {
			ref = b
		}
		m, err := open(project)
		if err != nil {
			return Target{}, err
		}
		if ok, err := m.hasBranch(ref); err != nil || ok {
			return Target{project, ref}, err
		}
	} else if p, b, ok := strings.Cut(ref, "/"); ok && contains(projects, p) {
		if err := ValidBranchName(b); err != nil {
			return Target{}, invalid(err)
		}
		return Target{p, b}, nil
	}
	// A task id or a prefix of one.
	if ValidTaskID(ref) == nil {
		found := map[string][]Target{}
		for _, p := range projects {
			m, err := open(p)
			if err != nil {
				continue
			}
			owners, err := records{m.StateDir}.owners()
			if err != nil {
				return Target{}, err
			}
			for r, o := range owners {
				b, ok := strings.CutPrefix(r, headsPrefix)
				if ok && strings.HasPrefix(o.Task, ref) {
					if exists, _ := m.hasBranch(b); exists {
						found[o.Task] = append(found[o.Task], Target{p, b})
					}
				}
			}
		}
		switch len(found) {
		case 0:
		case 1:
			for task, ts := range found {
				if len(ts) == 1 {
					return ts[0], nil
				}
				return Target{}, fmt.Errorf("%w: task %s created %d branches (%s); name one as PROJECT/BRANCH",
					ErrAmbiguous, task, len(ts), targetList(ts))
			}
		default:
			tasks := make([]string, 0, len(found))
			for t := range found {
				tasks = append(tasks, t)
			}
			sort.Strings(tasks)
			return Target{}, fmt.Errorf("%w: %q is a prefix of tasks %s", ErrAmbiguous, ref, strings.Join(tasks, ", "))
		}
	}
	// A bare branch name.
	if ValidBranchName(ref) != nil {
		return Target{}, fmt.Errorf("%w: %q is neither PROJECT/BRANCH, a task nor a branch", ErrNoRef, ref)
	}
	var ts []Target
	for _, p := range projects {
		m, err := open(p)
		if err != nil {
			continue
		}
		if ok, _ := m.hasBranch(ref); ok {
			ts = append(ts, Target{p, ref})
		}
	}
	switch len(ts) {
	case 0:
		return Target{}, fmt.Errorf("%w: %s", ErrNoRef, ref)
	case 1:
		return ts[0], nil
	}
	return Target{}, fmt.Errorf("%w: branch %s is in several projects (%s); name one as PROJECT/BRANCH", ErrAmbiguous, ref, targetList(ts))
}

func (m *Mirror) hasBranch(b string) (bool, error) {
	if ValidBranchName(b) != nil {
		return false, nil
	}
	if ok, err := m.Exists(); err != nil || !ok {
		return false, err
	}
	r, err := m.open()
	if err != nil {
		return false, err
	}
	id, err := r.ref(headsPrefix + b)
	return id != "", err
}

func targetList(ts []Target) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.Project + "/" + t.Branch
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
