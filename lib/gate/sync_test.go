package gate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/gate/internal/gatetest"
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
	up := te.Upstream("up")
	te.Git(up, "checkout", "-q", "-b", "dev")
	devOld := te.Commit(up, "dev.txt", "dev\n", "dev work")
	te.Git(up, "checkout", "-q", "-b", "gone", "main")
	goneTip := te.Commit(up, "gone.txt", "gone\n", "soon gone")
	te.Git(up, "checkout", "-q", "main")

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
	te.Git(up, "checkout", "-q", "-b", "new")
	newTip := te.Commit(up, "new.txt", "new\n", "new branch")
	te.Git(up, "checkout", "-q", "main")
	mainTip := te.Commit(up, "main2.txt", "more\n", "main moves on")
	te.Git(up, "checkout", "-q", "dev")
	te.Git(up, "reset", "-q", "--hard", "main")
	devNew := te.Commit(up, "dev2.txt", "dev again\n", "dev rewritten")
	te.Git(up, "checkout", "-q", "main")
	te.Git(up, "branch", "-q", "-D", "gone")

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
	m := te.mirror("demo", filepath.Join(te.Root, "nowhere"))
	_, err := m.Sync(context.Background(), false, false)
	var ue *UpstreamError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "nowhere") || ue.Hint() == "" {
		t.Fatalf("got %v", err)
	}
	ents, _ := os.ReadDir(te.Paths.GateDir())
	if len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
}

func TestMirrorMustBeARealDirectory(t *testing.T) {
	te := newTestEnv(t)
	m := te.mirror("demo", "")
	gatetest.Ok(t, os.MkdirAll(te.Paths.GateDir(), 0o700))
	other := filepath.Join(te.Root, "elsewhere.git")
	te.Git(te.Root, "init", "-q", "--bare", other)
	if err := os.Symlink(other, m.Dir); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Sync(context.Background(), false, false); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("sync through a symlink: %v", err)
	}
	if _, err := m.List(); err == nil {
		t.Fatal("ls through a symlink")
	}
	gatetest.Ok(t, os.Remove(m.Dir))
	if _, err := m.Sync(context.Background(), false, false); err != nil {
		t.Fatal(err)
	}
	gatetest.Ok(t, os.MkdirAll(filepath.Join(m.Dir, "objects", "info"), 0o700))
	gatetest.Ok(t, os.WriteFile(filepath.Join(m.Dir, "objects", "info", "alternates"), []byte(other+"/objects\n"), 0o600))
	if _, err := m.List(); err == nil || !strings.Contains(err.Error(), "alternates") {
		t.Fatalf("alternates: %v", err)
	}
}

// fakeHistory answers planSync's questions from tables.
type fakeHistory struct {
	ancestors map[[2]string]bool // {a, b}: a is an ancestor of b
	lostBy    map[string]int     // by branch
	err       error
}

func (h fakeHistory) isAncestor(a, b string) (bool, error) {
	return h.ancestors[[2]string{a, b}], h.err
}

func (h fakeHistory) lost(tip, branch string, gate, remote map[string]string) (int, error) {
	if gate[headsPrefix+branch] != tip {
		return 0, errors.New("lost asked about another tip")
	}
	return h.lostBy[branch], h.err
}

// TestPlanSync: per branch upstream has or had, what a sync does, with
// and without --apply; gate-only branches and names terok refuses are
// left out, and the steps come in name order.
func TestPlanSync(t *testing.T) {
	const (
		old   = "1111111111111111111111111111111111111111"
		newer = "2222222222222222222222222222222222222222"
		other = "3333333333333333333333333333333333333333"
	)
	hist := fakeHistory{
		ancestors: map[[2]string]bool{{old, newer}: true}, // newer descends from old; other from neither
		lostBy:    map[string]int{"b": 2},
	}
	type refs struct{ gate, up, last string }
	for _, tc := range []struct {
		name  string
		refs  refs
		hist  *fakeHistory
		apply bool
		want  []syncStep // for branch "b"
	}{
		{name: "new upstream branch", refs: refs{up: newer},
			want: []syncStep{{up: newer, action: "created", apply: true}}},
		{name: "in sync", refs: refs{gate: newer, up: newer, last: newer}},
		{name: "equal, record behind", refs: refs{gate: newer, up: newer, last: old},
			want: []syncStep{{gate: newer, up: newer, last: old, apply: true}}},
		{name: "fast-forward", refs: refs{gate: old, up: newer, last: old},
			want: []syncStep{{gate: old, up: newer, last: old, action: "fast-forward", apply: true}}},
		{name: "gate ahead", refs: refs{gate: newer, up: old, last: old}},
		{name: "gate ahead, record behind", refs: refs{gate: newer, up: old},
			want: []syncStep{{gate: newer, up: old, apply: true}}},
		{name: "rewrite pending", refs: refs{gate: other, up: newer, last: other},
			want: []syncStep{{gate: other, up: newer, last: other, action: "rewrite", lost: 2}}},
		{name: "rewrite applied", refs: refs{gate: other, up: newer, last: other}, apply: true,
			want: []syncStep{{gate: other, up: newer, last: other, action: "rewrite", lost: 2, apply: true}}},
		{name: "deleted upstream", refs: refs{gate: old, last: old},
			want: []syncStep{{gate: old, last: old, action: "delete", lost: 2}}},
		{name: "deleted upstream, applied", refs: refs{gate: old, last: old}, apply: true,
			want: []syncStep{{gate: old, last: old, action: "delete", lost: 2, apply: true}}},
		{name: "deleted on both sides", refs: refs{last: old},
			want: []syncStep{{last: old, apply: true}}},
		{name: "gate only", refs: refs{gate: old}},
		{name: "history fails", refs: refs{gate: other, up: newer}, hist: &fakeHistory{err: errors.New("broken")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			branchB := func(prefix, id string) map[string]string {
				if id == "" {
					return map[string]string{}
				}
				return map[string]string{prefix + "b": id}
			}
			rs := syncRefs{gate: branchB(headsPrefix, tc.refs.gate), remote: branchB(remotePrefix, tc.refs.up),
				synced: branchB(syncedPrefix, tc.refs.last)}
			h := hist
			if tc.hist != nil {
				h = *tc.hist
			}
			got, err := planSync(rs, h, tc.apply)
			if tc.hist != nil {
				if err == nil {
					t.Fatalf("no error, plan %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := range tc.want {
				tc.want[i].branch = "b"
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("plan\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestPlanSyncBranches: the plan covers upstream's branches (now or at the
// last sync) in name order, never a gate-only branch nor a name terok
// refuses.
func TestPlanSyncBranches(t *testing.T) {
	const id = "1111111111111111111111111111111111111111"
	rs := syncRefs{
		gate:   map[string]string{headsPrefix + "task-work": id},
		remote: map[string]string{remotePrefix + "zeta": id, remotePrefix + "alpha": id, remotePrefix + "HEAD": id, remotePrefix + "-x": id},
		synced: map[string]string{syncedPrefix + "mid": id},
	}
	got, err := planSync(rs, fakeHistory{}, false)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range got {
		names = append(names, s.branch+":"+s.action)
	}
	if want := []string{"alpha:created", "mid:", "zeta:created"}; !slices.Equal(names, want) {
		t.Errorf("got %q, want %q", names, want)
	}
}
