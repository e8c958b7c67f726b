package gate

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// MaxWalk bounds the commits one history walk visits, so that a hostile
// or enormous history costs a bounded time.
const MaxWalk = 1_000_000

// ErrTooLong is returned when a walk would pass MaxWalk commits.
var ErrTooLong = fmt.Errorf("history longer than %d commits", MaxWalk)

// repo is the mirror opened with go-git for reading objects and refs. Its
// filesystem is bound to the mirror's directory: no path it reads, and no
// symbolic link in it, can lead outside.
type repo struct {
	st      *filesystem.Storage
	parents map[plumbing.Hash][]plumbing.Hash
}

func (m *Mirror) open() (*repo, error) {
	if err := m.Check(); err != nil {
		return nil, err
	}
	// Exists refused a mirror with an alternates file, so nothing is read
	// from another object store.
	// Only the storage is opened, not a go-git Repository: that package
	// pulls in every transport, and their start-up cost, for nothing here.
	st := filesystem.NewStorage(osfs.New(m.Dir, osfs.WithBoundOS()), cache.NewObjectLRUDefault())
	if _, err := st.Reference(plumbing.HEAD); err != nil {
		return nil, fmt.Errorf("open %s: %w", m.Dir, err)
	}
	return &repo{st: st, parents: map[plumbing.Hash][]plumbing.Hash{}}, nil
}

// refs returns every ref under prefix (full names) and its target id.
// Symbolic refs are left out.
func (r *repo) refs(prefix string) (map[string]string, error) {
	it, err := r.st.IterReferences()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	err = it.ForEach(func(ref *plumbing.Reference) error {
		n := ref.Name().String()
		if ref.Type() == plumbing.HashReference && strings.HasPrefix(n, prefix) {
			out[n] = ref.Hash().String()
		}
		return nil
	})
	return out, err
}

// ref returns a ref's target id, "" when absent.
func (r *repo) ref(name string) (string, error) {
	ref, err := r.st.Reference(plumbing.ReferenceName(name))
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if ref.Type() != plumbing.HashReference {
		return "", nil
	}
	return ref.Hash().String(), nil
}

func (r *repo) commit(id string) (*object.Commit, error) {
	return r.commitAt(plumbing.NewHash(id))
}

func (r *repo) commitAt(h plumbing.Hash) (*object.Commit, error) {
	return object.GetCommit(r.st, h)
}

// parentsOf returns a commit's parents, cached.
func (r *repo) parentsOf(h plumbing.Hash) ([]plumbing.Hash, error) {
	if p, ok := r.parents[h]; ok {
		return p, nil
	}
	c, err := r.commitAt(h)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", short(h.String()), err)
	}
	r.parents[h] = c.ParentHashes
	return c.ParentHashes, nil
}

// walk visits the commits reachable from tips, each once, not entering
// commits for which stop returns true. Missing parents (a shallow history)
// end that line.
func (r *repo) walk(tips []string, stop func(plumbing.Hash) bool, visit func(plumbing.Hash)) error {
	seen := map[plumbing.Hash]bool{}
	var queue []plumbing.Hash
	for _, t := range tips {
		if t != "" && t != ZeroID {
			queue = append(queue, plumbing.NewHash(t))
		}
	}
	for len(queue) > 0 {
		h := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if seen[h] || (stop != nil && stop(h)) {
			continue
		}
		seen[h] = true
		if len(seen) > MaxWalk {
			return ErrTooLong
		}
		ps, err := r.parentsOf(h)
		if errors.Is(err, plumbing.ErrObjectNotFound) && len(seen) > 1 {
			continue // shallow boundary
		}
		if err != nil {
			return err
		}
		if visit != nil {
			visit(h)
		}
		queue = append(queue, ps...)
	}
	return nil
}

// ancestors returns the set of commits reachable from tips (tips included).
func (r *repo) ancestors(tips ...string) (map[plumbing.Hash]bool, error) {
	set := map[plumbing.Hash]bool{}
	err := r.walk(tips, nil, func(h plumbing.Hash) { set[h] = true })
	return set, err
}

// exclusive returns the commits reachable from tip and not from any of
// base, newest walk order first.
func (r *repo) exclusive(tip string, base ...string) ([]plumbing.Hash, error) {
	baseSet, err := r.ancestors(base...)
	if err != nil {
		return nil, err
	}
	var out []plumbing.Hash
	err = r.walk([]string{tip}, func(h plumbing.Hash) bool { return baseSet[h] }, func(h plumbing.Hash) { out = append(out, h) })
	return out, err
}

// isAncestor reports whether commit a is reachable from commit b.
func (r *repo) isAncestor(a, b string) (bool, error) {
	if a == b {
		return true, nil
	}
	target := plumbing.NewHash(a)
	found := false
	err := r.walk([]string{b}, func(plumbing.Hash) bool { return found }, func(h plumbing.Hash) {
		if h == target {
			found = true
		}
	})
	return found, err
}

// isCommit reports whether id names a commit in the mirror.
func (r *repo) isCommit(id string) bool {
	_, err := r.commitAt(plumbing.NewHash(id))
	return err == nil
}
