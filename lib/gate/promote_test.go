package gate_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/terok-ai/terok-go/lib/gate"
	"github.com/terok-ai/terok-go/lib/gate/endpoint"
	"github.com/terok-ai/terok-go/lib/gate/internal/gatetest"
)

// TestPromoteToLocalBareUpstream: a new branch, a fast-forward, a refused
// non-fast-forward and a forced one, and a branch that moved.
func TestPromoteToLocalBareUpstream(t *testing.T) {
	te := newTestEnv(t)
	ctx := context.Background()
	upstream := filepath.Join(te.Root, "upstream.git")
	te.Git(te.Root, "init", "-q", "--bare", "-b", "main", upstream)
	seed := te.Upstream("seed")
	te.Git(seed, "push", "-q", upstream, "main")
	m := te.mirror("demo", upstream)
	if _, err := m.Sync(ctx, false, false); err != nil {
		t.Fatal(err)
	}
	_, base := te.serve(m, endpoint.Token{Secret: tokA, Task: "task-a"})
	w := filepath.Join(te.Root, "w")
	te.Git(te.Root, "clone", "-q", gatetest.URL(base, "demo", tokA), w)
	te.Git(w, "checkout", "-q", "-b", "feature")
	one := te.Commit(w, "one", "1\n", "one")
	te.Git(w, "push", "-q", "origin", "feature")

	// A new upstream branch.
	p, commits, err := m.PlanPromote(ctx, "feature", "", false)
	if err != nil || p.Old != gate.ZeroID || p.Commits != 1 || len(commits) != 1 || !p.FastForward || p.To != "feature" {
		t.Fatalf("%v %+v", err, p)
	}
	if err := m.Promote(ctx, p, false, false); err != nil || !p.Pushed {
		t.Fatal(err)
	}
	if id := te.Git(upstream, "rev-parse", "feature"); id != one {
		t.Fatal("not pushed")
	}

	// A fast-forward, to another name.
	two := te.Commit(w, "two", "2\n", "two")
	te.Git(w, "push", "-q", "origin", "feature")
	p, _, err = m.PlanPromote(ctx, "feature", "release", false)
	if err != nil || p.To != "release" || p.Old != gate.ZeroID {
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
	other := filepath.Join(te.Root, "other")
	te.Git(te.Root, "clone", "-q", "-b", "feature", upstream, other)
	theirs := te.Commit(other, "theirs", "t\n", "theirs")
	te.Git(other, "push", "-q", "origin", "feature")
	three := te.Commit(w, "three", "3\n", "three")
	te.Git(w, "push", "-q", "origin", "feature")
	p, _, err = m.PlanPromote(ctx, "feature", "", false)
	if err != nil || p.FastForward || p.Lost != 1 || p.Old != theirs {
		t.Fatalf("%v %+v", err, p)
	}
	if err := m.Promote(ctx, p, false, false); !errors.Is(err, gate.ErrNotFastForward) {
		t.Fatalf("non-ff without force: %v", err)
	}
	if id := te.Git(upstream, "rev-parse", "feature"); id != theirs {
		t.Fatal("upstream moved")
	}
	// The gate's branch moves after the plan: refused.
	te.Commit(w, "four", "4\n", "four")
	te.Git(w, "push", "-q", "origin", "feature")
	if err := m.Promote(ctx, p, true, false); !errors.Is(err, gate.ErrMoved) {
		t.Fatalf("moved: %v", err)
	}
	te.Git(w, "push", "-q", "-f", "origin", "HEAD~1:feature")
	if err := m.Promote(ctx, p, true, false); err != nil || !p.Forced {
		t.Fatalf("forced: %v %+v", err, p)
	}
	if id := te.Git(upstream, "rev-parse", "feature"); id != three {
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
	if _, _, err := m2.PlanPromote(ctx, "main", "", false); !errors.Is(err, gate.ErrNoUpstream) {
		t.Fatalf("no upstream: %v", err)
	}
}
