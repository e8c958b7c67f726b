package endpoint

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/gate"
	"github.com/terok-ai/terok-go/lib/gate/internal/gatetest"
)

const (
	tokA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	tokB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// refused pushes and checks that git failed and printed want, both as a
// "remote:" line and as the ref's rejection.
func (te *testEnv) refused(dir, want string, args ...string) string {
	te.T.Helper()
	out, err := te.GitMay(dir, append([]string{"push"}, args...)...)
	if err == nil || !strings.Contains(out, "remote rejected") || !strings.Contains(out, want) {
		te.T.Fatalf("git push %s: want a refusal with %q, got %v:\n%s", strings.Join(args, " "), want, err, out)
	}
	if !strings.Contains(out, "remote: terok-gate: ") {
		te.T.Fatalf("no remote: line in\n%s", out)
	}
	return out
}

func randomFile(t *testing.T, path string, n int) {
	b := make([]byte, n)
	rand.Read(b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPushPolicyWithRealGit tries every rule of the push policy with the
// stock git client through the endpoint on loopback.
func TestPushPolicyWithRealGit(t *testing.T) {
	te := newTestEnv(t)
	up := te.Upstream("up")
	te.Git(up, "branch", "dev")
	m := te.mirror("demo", up, func(p *config.Project, g *config.Global) {
		p.Gate.Protected = []string{"release/*"}
		p.Gate.MaxPushSize = 256 << 10
	})
	ctx := context.Background()
	if _, err := m.Sync(ctx, false, false); err != nil {
		t.Fatal(err)
	}
	_, base := te.serve(m, Token{tokA, "task-a"}, Token{tokB, "task-b"})
	wa, wb := filepath.Join(te.Root, "wa"), filepath.Join(te.Root, "wb")
	te.Git(te.Root, "clone", "-q", gatetest.URL(base, "demo", tokA), wa)
	te.Git(te.Root, "clone", "-q", gatetest.URL(base, "demo", tokB), wb)

	// A new branch is the task's.
	te.Git(wa, "checkout", "-q", "-b", "feature")
	first := te.Commit(wa, "a.txt", "a\n", "add a")
	te.Git(wa, "push", "-q", "origin", "feature")
	owners := readOwners(t, m)
	if owners["refs/heads/feature"].Task != "task-a" {
		t.Fatalf("owners %v", owners)
	}

	t.Run("default branch", func(t *testing.T) {
		te.Git(wa, "checkout", "-q", "-b", "tmp-main", "origin/main")
		te.Commit(wa, "b.txt", "b\n", "on main")
		te.refused(wa, "protected branch (the project's default branch)", "origin", "HEAD:main")
		te.refused(wa, "protected branch", "origin", ":main")
	})
	t.Run("configured protected", func(t *testing.T) {
		te.refused(wa, "protected branch (gate.protected release/*)", "origin", "HEAD:refs/heads/release/1.0")
	})
	t.Run("another task's branch", func(t *testing.T) {
		te.Git(wb, "fetch", "-q", "origin")
		te.Git(wb, "checkout", "-q", "-b", "feature", "origin/feature")
		te.Commit(wb, "c.txt", "c\n", "by b")
		te.refused(wb, "belongs to task task-a", "origin", "feature")
		te.refused(wb, "belongs to task task-a", "origin", "+HEAD~2:feature")
		te.refused(wb, "belongs to task task-a", "origin", ":feature")
	})
	t.Run("upstream's branch", func(t *testing.T) {
		te.refused(wb, "was not created by a task", "origin", "HEAD:dev")
	})
	t.Run("terok namespace", func(t *testing.T) {
		te.refused(wb, "refs/terok/ is terok's own namespace", "origin", "HEAD:refs/terok/backups/x/heads/feature")
		te.refused(wb, "refs/terok/ is terok's own namespace", "origin", "HEAD:refs/terok/upstream/main")
	})
	t.Run("tags and other refs", func(t *testing.T) {
		te.Git(wb, "tag", "v1")
		te.refused(wb, "tags are not allowed in this project (gate.allow_tags)", "origin", "v1")
		te.refused(wb, "only branches (refs/heads/) may be pushed", "origin", "HEAD:refs/notes/commits")
	})
	t.Run("one refusal does not stop the others, unless atomic", func(t *testing.T) {
		te.Git(wb, "checkout", "-q", "-b", "b-work")
		te.Commit(wb, "d.txt", "d\n", "b's work")
		out := te.refused(wb, "protected branch", "origin", "b-work", "HEAD:main")
		if !strings.Contains(out, "[new branch]      b-work -> b-work") {
			t.Fatalf("b-work was not pushed:\n%s", out)
		}
		te.Git(wb, "checkout", "-q", "-b", "b-atomic")
		te.refused(wb, "atomic push: another ref was refused", "--atomic", "origin", "b-atomic", "HEAD:main")
		if tip, _ := m.Tip("b-atomic"); tip != "" {
			t.Fatal("atomic push applied a ref")
		}
	})
	t.Run("oversized", func(t *testing.T) {
		te.Git(wb, "checkout", "-q", "-b", "big")
		// Under git's 1 MiB post buffer the request has a length and is
		// refused before git sees it; over it, the pack streams and git's
		// receive.maxInputSize stops it.
		randomFile(t, filepath.Join(wb, "blob1"), 512<<10)
		te.Git(wb, "add", "blob1")
		te.Git(wb, "commit", "-q", "-m", "big")
		te.refused(wb, "push is larger than this gate's limit of 262144 bytes (gate.max_push_size)", "origin", "big")
		randomFile(t, filepath.Join(wb, "blob2"), 3<<20)
		te.Git(wb, "add", "blob2")
		te.Git(wb, "commit", "-q", "-m", "bigger")
		te.refused(wb, "push is larger than this gate's limit of 262144 bytes (gate.max_push_size)", "origin", "big")
		if tip, _ := m.Tip("big"); tip != "" {
			t.Fatal("an oversized push applied")
		}
	})
	t.Run("tokens", func(t *testing.T) {
		out, err := te.GitMay(te.Root, "ls-remote", gatetest.URL(base, "demo", "wrong-token-wrong-token"))
		if err == nil || !strings.Contains(out, "Authentication failed") {
			t.Fatalf("wrong token: %v\n%s", err, out)
		}
		out, err = te.GitMay(te.Root, "ls-remote", base+"/demo.git")
		if err == nil || !strings.Contains(out, "could not read Username") {
			t.Fatalf("no token: %v\n%s", err, out)
		}
		out, err = te.GitMay(te.Root, "ls-remote", gatetest.URL(base, "other", tokA))
		if err == nil || !strings.Contains(out, "not found") {
			t.Fatalf("other project: %v\n%s", err, out)
		}
	})

	// The owner may force-push and delete; each keeps a backup.
	te.Git(wa, "checkout", "-q", "feature")
	te.Git(wa, "commit", "-q", "--amend", "-m", "add a, reworded")
	rewritten := te.Git(wa, "rev-parse", "HEAD")
	te.Git(wa, "push", "-q", "-f", "origin", "feature")
	te.Git(wa, "push", "-q", "origin", "HEAD:doomed")
	te.Git(wa, "push", "-q", "origin", ":doomed")
	bs, err := m.Backups()
	if err != nil || len(bs) != 2 {
		t.Fatalf("backups %v %+v", err, bs)
	}
	var forced gate.Backup
	for _, b := range bs {
		switch b.Reason {
		case "force-push":
			forced = b
			if b.Commit != first || b.Ref != "refs/heads/feature" || b.Branch != "feature" || b.Task != "task-a" {
				t.Fatalf("force-push backup %+v", b)
			}
		case "delete":
			if b.Commit != rewritten || b.Branch != "doomed" {
				t.Fatalf("delete backup %+v", b)
			}
		default:
			t.Fatalf("backup %+v", b)
		}
	}
	owners = readOwners(t, m)
	if _, ok := owners["refs/heads/doomed"]; ok {
		t.Fatal("a deleted branch keeps its owner")
	}

	// No terok ref is ever shown to a task.
	ls := te.Git(te.Root, "ls-remote", gatetest.URL(base, "demo", tokB))
	if strings.Contains(ls, "refs/terok") || !strings.Contains(ls, "refs/heads/feature") {
		t.Fatalf("ls-remote:\n%s", ls)
	}
	if all := te.terokRefs(m); len(all) < 3 {
		t.Fatalf("terok refs %v", all)
	}

	// restore brings the force-pushed tip back, keeping the replaced one.
	key := strings.TrimPrefix(forced.ID, "demo/")
	b, saved, err := m.Restore(ctx, key)
	if err != nil || b.Commit != first || saved == "" {
		t.Fatalf("restore: %v %+v %q", err, b, saved)
	}
	if tip := te.Git(te.Root, "ls-remote", gatetest.URL(base, "demo", tokA), "refs/heads/feature"); !strings.HasPrefix(tip, first) {
		t.Fatalf("after restore: %s", tip)
	}

	// The audit log has every decision.
	var accepted, refusedN, auth int
	for _, e := range readAudit(t, m) {
		switch {
		case e.Type == "auth":
			auth++
		case e.Type == "push" && e.Accepted:
			accepted++
			if e.Ref == "refs/heads/feature" && e.Forced && e.Backup == "" {
				t.Fatalf("forced push without backup: %+v", e)
			}
		case e.Type == "push":
			refusedN++
			if e.Reason == "" || e.Task == "" || e.Ref == "" {
				t.Fatalf("refusal without reason: %+v", e)
			}
		}
	}
	if accepted < 5 || refusedN < 12 || auth != 1 {
		t.Fatalf("audit: %d accepted, %d refused, %d auth", accepted, refusedN, auth)
	}
}

func TestTagsWhenAllowed(t *testing.T) {
	te := newTestEnv(t)
	m := te.mirror("tags", "", func(p *config.Project, g *config.Global) { p.Gate.AllowTags = true })
	if ch, err := m.Sync(context.Background(), false, false); err != nil || len(ch) != 1 || ch[0].Action != "seeded" {
		t.Fatalf("%v %+v", err, ch)
	}
	_, base := te.serve(m, Token{tokA, "task-a"}, Token{tokB, "task-b"})
	w := filepath.Join(te.Root, "w")
	te.Git(te.Root, "clone", "-q", gatetest.URL(base, "tags", tokA), w)
	if log := te.Git(w, "log", "--format=%an %s"); !strings.Contains(log, "terok Initial commit") {
		t.Fatalf("seed: %s", log)
	}
	te.Git(w, "tag", "-a", "-m", "one", "v1")
	te.Git(w, "push", "-q", "origin", "v1")
	owners := readOwners(t, m)
	if owners["refs/tags/v1"].Task != "task-a" {
		t.Fatalf("owners %v", owners)
	}
	te.Git(w, "remote", "set-url", "origin", gatetest.URL(base, "tags", tokB))
	te.Git(w, "tag", "-f", "-a", "-m", "two", "v1")
	te.refused(w, "tag belongs to task task-a", "-f", "origin", "v1")
}

// TestConcurrentPushes: two tasks pushing at once never lose an update or
// share a branch; racing creates of one branch leave exactly one owner.
func TestConcurrentPushes(t *testing.T) {
	te := newTestEnv(t)
	m := te.mirror("demo", "")
	if _, err := m.Sync(context.Background(), false, false); err != nil {
		t.Fatal(err)
	}
	_, base := te.serve(m, Token{tokA, "task-a"}, Token{tokB, "task-b"})
	dirs := map[string]string{}
	for _, tk := range []struct{ tok, name string }{{tokA, "a"}, {tokB, "b"}} {
		d := filepath.Join(te.Root, tk.name)
		te.Git(te.Root, "clone", "-q", gatetest.URL(base, "demo", tk.tok), d)
		te.Commit(d, tk.name, tk.name+"\n", "by "+tk.name)
		dirs[tk.name] = d
	}
	type result struct {
		who string
		err error
	}
	results := make(chan result, 20)
	for i := 0; i < 5; i++ {
		for who, d := range dirs {
			go func(who, d string, i int) {
				_, err := te.GitMay(d, "push", "-q", "origin", fmt.Sprintf("HEAD:%s-%d", who, i), "HEAD:contested")
				results <- result{who, err}
			}(who, d, i)
		}
	}
	for i := 0; i < 10; i++ {
		<-results
	}
	owners := readOwners(t, m)
	for i := 0; i < 5; i++ {
		for who := range dirs {
			if o := owners[fmt.Sprintf("refs/heads/%s-%d", who, i)]; o.Task != "task-"+who {
				t.Fatalf("%s-%d owned by %q", who, i, o.Task)
			}
		}
	}
	tip, _ := m.Tip("contested")
	o := owners["refs/heads/contested"]
	want := te.Git(dirs[strings.TrimPrefix(o.Task, "task-")], "rev-parse", "HEAD")
	if tip == "" || tip != want {
		t.Fatalf("contested at %s, owned by %s (whose HEAD is %s)", tip, o.Task, want)
	}
	var accepted int
	for _, e := range readAudit(t, m) {
		if e.Ref == "refs/heads/contested" && e.Accepted {
			accepted++
		}
	}
	if accepted != 1 {
		t.Fatalf("contested accepted %d times", accepted)
	}
}

// TestShallowClonePush: an agent that cloned with --depth 1 can push.
func TestShallowClonePush(t *testing.T) {
	te := newTestEnv(t)
	up := te.Upstream("up")
	for i := 0; i < 3; i++ {
		te.Commit(up, "f", fmt.Sprintf("%d\n", i), fmt.Sprintf("c%d", i))
	}
	m := te.mirror("demo", up)
	if _, err := m.Sync(context.Background(), false, false); err != nil {
		t.Fatal(err)
	}
	_, base := te.serve(m, Token{tokA, "task-a"})
	w := filepath.Join(te.Root, "w")
	te.Git(te.Root, "clone", "-q", "--depth", "1", gatetest.URL(base, "demo", tokA), w)
	te.Git(w, "checkout", "-q", "-b", "shallow-work")
	te.Commit(w, "g", "g\n", "on a shallow clone")
	te.Git(w, "push", "-q", "origin", "shallow-work")
	if log, err := m.Log("shallow-work", "", 0); err != nil || len(log) != 1 {
		t.Fatalf("%v %+v", err, log)
	}
}
