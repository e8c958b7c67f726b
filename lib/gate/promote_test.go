package gate

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// TestPromoteToLocalBareUpstream: a new branch, a fast-forward, a refused
// non-fast-forward and a forced one, and a branch that moved.
func TestPromoteToLocalBareUpstream(t *testing.T) {
	te := newTestEnv(t)
	ctx := context.Background()
	upstream := filepath.Join(te.root, "upstream.git")
	te.git(te.root, "init", "-q", "--bare", "-b", "main", upstream)
	seed := te.upstream("seed")
	te.git(seed, "push", "-q", upstream, "main")
	m := te.mirror("demo", upstream)
	if _, err := m.Sync(ctx, false, false); err != nil {
		t.Fatal(err)
	}
	_, base := te.serve(m, Token{tokA, "task-a"})
	w := filepath.Join(te.root, "w")
	te.git(te.root, "clone", "-q", url(base, "demo", tokA), w)
	te.git(w, "checkout", "-q", "-b", "feature")
	one := te.commit(w, "one", "1\n", "one")
	te.git(w, "push", "-q", "origin", "feature")

	// A new upstream branch.
	p, commits, err := m.PlanPromote(ctx, "feature", "", false)
	if err != nil || p.Old != ZeroID || p.Commits != 1 || len(commits) != 1 || !p.FastForward || p.To != "feature" {
		t.Fatalf("%v %+v", err, p)
	}
	if err := m.Promote(ctx, p, false, false); err != nil || !p.Pushed {
		t.Fatal(err)
	}
	if id := te.git(upstream, "rev-parse", "feature"); id != one {
		t.Fatal("not pushed")
	}

	// A fast-forward, to another name.
	two := te.commit(w, "two", "2\n", "two")
	te.git(w, "push", "-q", "origin", "feature")
	p, _, err = m.PlanPromote(ctx, "feature", "release", false)
	if err != nil || p.To != "release" || p.Old != ZeroID {
		t.Fatalf("%v %+v", err, p)
	}
	if err := m.Promote(ctx, p, false, false); err != nil {
		t.Fatal(err)
	}
	p, _, _ = m.PlanPromote(ctx, "feature", "", false)
	if p.Old != one || p.Commits != 1 || !p.FastForward {
		t.Fatalf("ff plan %+v", p)
	}
	if err := m.Promote(ctx, p, false, false); err != nil {
		t.Fatal(err)
	}

	// Someone else moves upstream's feature: promoting the gate's is no
	// longer a fast-forward.
	other := filepath.Join(te.root, "other")
	te.git(te.root, "clone", "-q", "-b", "feature", upstream, other)
	theirs := te.commit(other, "theirs", "t\n", "theirs")
	te.git(other, "push", "-q", "origin", "feature")
	three := te.commit(w, "three", "3\n", "three")
	te.git(w, "push", "-q", "origin", "feature")
	p, _, err = m.PlanPromote(ctx, "feature", "", false)
	if err != nil || p.FastForward || p.Lost != 1 || p.Old != theirs {
		t.Fatalf("%v %+v", err, p)
	}
	if err := m.Promote(ctx, p, false, false); !errors.Is(err, ErrNotFastForward) {
		t.Fatalf("non-ff without force: %v", err)
	}
	if id := te.git(upstream, "rev-parse", "feature"); id != theirs {
		t.Fatal("upstream moved")
	}
	// The gate's branch moves after the plan: refused.
	te.commit(w, "four", "4\n", "four")
	te.git(w, "push", "-q", "origin", "feature")
	if err := m.Promote(ctx, p, true, false); !errors.Is(err, ErrMoved) {
		t.Fatalf("moved: %v", err)
	}
	te.git(w, "push", "-q", "-f", "origin", "HEAD~1:feature")
	if err := m.Promote(ctx, p, true, false); err != nil || !p.Forced {
		t.Fatalf("forced: %v %+v", err, p)
	}
	if id := te.git(upstream, "rev-parse", "feature"); id != three {
		t.Fatal("not forced")
	}
	_ = two
	var promotes int
	for _, e := range readAudit(t, m) {
		if e.Type == "promote" {
			promotes++
		}
	}
	if promotes != 4 { // a refused plan never reaches git, so it is not a promotion
		t.Fatalf("%d promote entries", promotes)
	}

	// A project without upstream has nothing to promote to.
	m2 := te.mirror("solo", "")
	if _, err := m2.Sync(ctx, false, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m2.PlanPromote(ctx, "main", "", false); !errors.Is(err, ErrNoUpstream) {
		t.Fatalf("no upstream: %v", err)
	}
}
