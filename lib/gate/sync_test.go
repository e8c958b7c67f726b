package gate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// changes indexes sync results by branch.
func changesByBranch(cs []Change) map[string]Change {
	out := map[string]Change{}
	for _, c := range cs {
		out[c.Branch] = c
	}
	return out
}

// TestSyncFromLocalUpstream: an upstream that gains, rewrites and deletes
// branches; safe changes apply, the others wait for --apply and then keep
// backups; the gate's own branches are never touched.
func TestSyncFromLocalUpstream(t *testing.T) {
	te := newTestEnv(t)
	ctx := context.Background()
	up := te.upstream("up")
	te.git(up, "checkout", "-q", "-b", "dev")
	devOld := te.commit(up, "dev.txt", "dev\n", "dev work")
	te.git(up, "checkout", "-q", "-b", "gone", "main")
	goneTip := te.commit(up, "gone.txt", "gone\n", "soon gone")
	te.git(up, "checkout", "-q", "main")

	m := te.mirror("demo", up)
	cs, err := m.Sync(ctx, false, false)
	if err != nil {
		t.Fatal(err)
	}
	byB := changesByBranch(cs)
	if len(cs) != 3 || byB["main"].Action != "created" || !byB["dev"].Applied || byB["gone"].New != goneTip {
		t.Fatalf("first sync %+v", cs)
	}
	r, _ := m.open()
	if head, _ := r.st.Reference("HEAD"); head.Target() != "refs/heads/main" {
		t.Fatalf("HEAD %v", head)
	}

	// A branch only the gate has (a task's).
	mainFirst := byB["main"].New
	var tx refTx
	tx.create("refs/heads/task-work", mainFirst)
	if err := m.commitTx(ctx, &tx, "test"); err != nil {
		t.Fatal(err)
	}

	// Upstream gains a branch, fast-forwards main, rewrites dev, deletes gone.
	te.git(up, "checkout", "-q", "-b", "new")
	newTip := te.commit(up, "new.txt", "new\n", "new branch")
	te.git(up, "checkout", "-q", "main")
	mainTip := te.commit(up, "main2.txt", "more\n", "main moves on")
	te.git(up, "checkout", "-q", "dev")
	te.git(up, "reset", "-q", "--hard", "main")
	devNew := te.commit(up, "dev2.txt", "dev again\n", "dev rewritten")
	te.git(up, "checkout", "-q", "main")
	te.git(up, "branch", "-q", "-D", "gone")

	for round := 0; round < 2; round++ { // pending changes stay pending
		cs, err = m.Sync(ctx, false, false)
		if err != nil {
			t.Fatal(err)
		}
		byB = changesByBranch(cs)
		if round == 0 && (byB["new"].Action != "created" || byB["new"].New != newTip || !byB["new"].Applied ||
			byB["main"].Action != "fast-forward" || byB["main"].New != mainTip) {
			t.Fatalf("round %d: %+v", round, cs)
		}
		if round == 1 && len(cs) != 2 {
			t.Fatalf("round %d: %+v", round, cs)
		}
		if c := byB["dev"]; c.Action != "rewrite" || !c.Pending || c.Applied || c.Lost != 1 || c.Old != devOld || c.New != devNew {
			t.Fatalf("round %d dev: %+v", round, c)
		}
		if c := byB["gone"]; c.Action != "delete" || !c.Pending || c.Lost != 1 || c.New != ZeroID {
			t.Fatalf("round %d gone: %+v", round, c)
		}
		if _, ok := byB["task-work"]; ok {
			t.Fatal("a gate-only branch was reported")
		}
		if ok, _ := m.hasBranch("gone"); !ok {
			t.Fatal("a pending delete applied")
		}
	}

	cs, err = m.Sync(ctx, true, false)
	if err != nil {
		t.Fatal(err)
	}
	byB = changesByBranch(cs)
	if c := byB["dev"]; !c.Applied || c.Backup == "" {
		t.Fatalf("apply dev %+v", c)
	}
	if c := byB["gone"]; !c.Applied || c.Backup == "" {
		t.Fatalf("apply gone %+v", c)
	}
	r, _ = m.open()
	if id, _ := r.ref("refs/heads/dev"); id != devNew {
		t.Fatalf("dev at %s", id)
	}
	if ok, _ := m.hasBranch("gone"); ok {
		t.Fatal("gone is still there")
	}
	if id, _ := r.ref("refs/heads/task-work"); id != mainFirst {
		t.Fatal("the gate's own branch was touched")
	}
	bs, _ := m.Backups()
	reasons := map[string]string{}
	for _, b := range bs {
		reasons[b.Branch] = b.Reason + " " + b.Commit
	}
	if reasons["dev"] != "sync-rewrite "+devOld || reasons["gone"] != "sync-delete "+goneTip {
		t.Fatalf("backups %v", reasons)
	}
	if cs, err = m.Sync(ctx, false, false); err != nil || len(cs) != 0 {
		t.Fatalf("in sync: %v %+v", err, cs)
	}
	var syncs int
	for _, e := range readAudit(t, m) {
		if e.Type == "sync" {
			syncs++
		}
	}
	if syncs != 7 {
		t.Fatalf("%d sync audit entries", syncs)
	}
}

func TestSyncFailureLeavesNothing(t *testing.T) {
	te := newTestEnv(t)
	m := te.mirror("demo", filepath.Join(te.root, "nowhere"))
	_, err := m.Sync(context.Background(), false, false)
	var ue *UpstreamError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "nowhere") || ue.Hint() == "" {
		t.Fatalf("got %v", err)
	}
	ents, _ := os.ReadDir(te.paths.GateDir())
	if len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
}

func TestMirrorMustBeARealDirectory(t *testing.T) {
	te := newTestEnv(t)
	m := te.mirror("demo", "")
	os.MkdirAll(te.paths.GateDir(), 0o700)
	other := filepath.Join(te.root, "elsewhere.git")
	te.git(te.root, "init", "-q", "--bare", other)
	if err := os.Symlink(other, m.Dir); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Sync(context.Background(), false, false); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("sync through a symlink: %v", err)
	}
	if _, err := m.List(); err == nil {
		t.Fatal("ls through a symlink")
	}
	os.Remove(m.Dir)
	if _, err := m.Sync(context.Background(), false, false); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(m.Dir, "objects", "info"), 0o700)
	os.WriteFile(filepath.Join(m.Dir, "objects", "info", "alternates"), []byte(other+"/objects\n"), 0o600)
	if _, err := m.List(); err == nil || !strings.Contains(err.Error(), "alternates") {
		t.Fatalf("alternates: %v", err)
	}
}
