package gate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/gate"
	"github.com/terok-ai/terok-go/lib/gate/endpoint"
	"github.com/terok-ai/terok-go/lib/gate/internal/gatetest"
)

// reviewSetup: a mirror synced from an upstream with main, and a task's
// branch pushed through the endpoint.
func reviewSetup(t *testing.T) (*testEnv, *gate.Mirror, string, string) {
	te := newTestEnv(t)
	up := te.Upstream("up")
	m := te.mirror("demo", up)
	if _, err := m.Sync(context.Background(), false, false); err != nil {
		t.Fatal(err)
	}
	_, base := te.serve(m, endpoint.Token{Secret: tokA, Task: "k3x9p2"})
	w := filepath.Join(te.Root, "w")
	te.Git(te.Root, "clone", "-q", gatetest.URL(base, "demo", tokA), w)
	return te, m, w, base
}

func TestListLogDiff(t *testing.T) {
	te, m, w, _ := reviewSetup(t)
	te.Git(w, "checkout", "-q", "-b", "feature")
	te.Commit(w, "README", "hello\nworld\n", "extend readme")
	te.Commit(w, "src/new.go", "package x\n", "add new.go")
	gatetest.Ok(t, os.Remove(filepath.Join(w, "README")))
	tip := te.Commit(w, "docs/README", "hello\nworld\n", "move readme")
	te.Git(w, "push", "-q", "origin", "feature")

	ls, err := m.List()
	if err != nil || len(ls) != 2 {
		t.Fatalf("%v %+v", err, ls)
	}
	f, mn := ls[0], ls[1]
	if f.Branch != "feature" || f.Ref != "demo/feature" || f.Task != "k3x9p2" || f.Ahead != 3 || f.Behind != 0 ||
		f.Commit != tip || f.Subject != "move readme" || f.Author != "Agent" || f.Time.IsZero() || f.Default || f.Protected {
		t.Fatalf("feature %+v", f)
	}
	if mn.Branch != "main" || !mn.Default || !mn.Protected || mn.Task != "" || mn.Ahead != 0 {
		t.Fatalf("main %+v", mn)
	}

	log, err := m.Log("feature", "", 0)
	if err != nil || len(log) != 3 || log[0].Commit != tip || log[0].Subject != "move readme" || len(log[0].Parents) != 1 {
		t.Fatalf("%v %+v", err, log)
	}
	if log, _ := m.Log("feature", "", 1); len(log) != 1 {
		t.Fatal("max")
	}
	if log, _ := m.Log("main", "", 0); len(log) != 1 || log[0].Subject != "first" {
		t.Fatalf("main's log %+v", log)
	}

	res, err := m.Diff(context.Background(), "feature", "", true)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]gate.FileChange{}
	for _, f := range res.Files {
		got[f.Path] = f
	}
	if c := got["docs/README"]; len(res.Files) != 2 || c.Status != "renamed" || c.OldPath != "README" || c.Insertions != 0 {
		// The rename is exact from the branch's base: README was changed
		// and then moved, so it shows as README deleted, docs/README added.
		if c.Status != "added" || c.Insertions != 2 {
			t.Fatalf("files %+v", res.Files)
		}
	}
	if c := got["src/new.go"]; c.Status != "added" || c.Insertions != 1 || c.NewMode != "100644" {
		t.Fatalf("new.go %+v", c)
	}
	var patch bytes.Buffer
	if err := gate.WritePatch(&patch, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"diff --git a/src/new.go b/src/new.go", "+package x", "--- /dev/null"} {
		if !strings.Contains(patch.String(), want) {
			t.Fatalf("patch lacks %q:\n%s", want, patch.String())
		}
	}
	if _, err := m.Diff(context.Background(), "nope", "", false); !errors.Is(err, gate.ErrNoRef) {
		t.Fatalf("missing branch: %v", err)
	}
}

func TestResolve(t *testing.T) {
	te, m, w, _ := reviewSetup(t)
	te.Git(w, "checkout", "-q", "-b", "feature")
	te.Commit(w, "x", "x\n", "x")
	te.Git(w, "push", "-q", "origin", "feature", "HEAD:other")
	m2 := te.mirror("two", "")
	if _, err := m2.Sync(context.Background(), false, false); err != nil {
		t.Fatal(err)
	}
	open := func(p string) (*gate.Mirror, error) {
		switch p {
		case "demo":
			return m, nil
		case "two":
			return m2, nil
		}
		return nil, fmt.Errorf("no project %s", p)
	}
	projects := []string{"demo", "two"}
	for _, tc := range []struct{ ref, project, want, err string }{
		{"demo/feature", "", "demo/feature", ""},
		{"feature", "", "demo/feature", ""},
		{"feature", "demo", "demo/feature", ""},
		{"demo/feature", "demo", "demo/feature", ""},
		{"main", "", "", "several projects"},
		{"main", "two", "two/main", ""},
		{"k3x9", "", "", "created 2 branches"},
		{"nope", "", "", "no such branch"},
		{"demo/..", "", "", "invalid branch name"},
		{"", "", "", "empty"},
	} {
		got, err := gate.Resolve(open, projects, tc.ref, tc.project)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q %q: got %v %v, want %q", tc.ref, tc.project, got, err, tc.err)
			}
			continue
		}
		if err != nil || got.Project+"/"+got.Branch != tc.want {
			t.Errorf("%q %q: got %v %v", tc.ref, tc.project, got, err)
		}
	}
	// A task with one branch resolves by id prefix.
	te.Git(w, "push", "-q", "origin", ":other")
	if got, err := gate.Resolve(open, projects, "k3x", ""); err != nil || got.Branch != "feature" {
		t.Fatalf("task prefix: %v %v", got, err)
	}
}

// TestCanary pushes a commit that carries hooks, a filter and a textconv
// in .gitattributes (with the host user's git configured to run them),
// .gitmodules pointing at a host path, and symbolic links to /etc; then
// runs ls, log, diff and promote on the host. Nothing may run, nothing
// outside the mirror may be read, and the mirror gets no working tree.
func TestCanary(t *testing.T) {
	te := newTestEnv(t)
	ctx := context.Background()
	canary := filepath.Join(te.Root, "canary")
	gatetest.Ok(t, os.MkdirAll(canary, 0o700))
	mark := func(name string) string { return "touch " + filepath.Join(canary, name) }

	secret := filepath.Join(te.Root, "secret")
	te.Git(te.Root, "init", "-q", "-b", "main", secret)
	te.Commit(secret, "key", "secret\n", "secret")

	upstream := filepath.Join(te.Root, "upstream.git")
	te.Git(te.Root, "init", "-q", "--bare", "-b", "main", upstream)
	seed := te.Upstream("seed")
	te.Git(seed, "push", "-q", upstream, "main")
	m := te.mirror("demo", upstream)
	if _, err := m.Sync(ctx, false, false); err != nil {
		t.Fatal(err)
	}
	cfgBefore, _ := os.ReadFile(filepath.Join(m.Dir, "config"))
	_, base := te.serve(m, endpoint.Token{Secret: tokA, Task: "evil"})
	w := filepath.Join(te.Root, "w")
	te.Git(te.Root, "clone", "-q", gatetest.URL(base, "demo", tokA), w)
	te.Git(w, "checkout", "-q", "-b", "evil")
	hook := "#!/bin/sh\n" + mark("hook-$(basename $0)") + "\n"
	for _, h := range []string{"pre-receive", "update", "post-receive", "post-update", "reference-transaction", "pre-push", "post-checkout", "post-merge"} {
		for _, d := range []string{".githooks", "hooks"} {
			p := filepath.Join(w, d, h)
			gatetest.Ok(t, os.MkdirAll(filepath.Dir(p), 0o755))
			gatetest.Ok(t, os.WriteFile(p, []byte(hook), 0o755))
		}
	}
	gatetest.Ok(t, os.WriteFile(filepath.Join(w, ".gitattributes"), []byte("* filter=canary diff=canary\n"), 0o644))
	gatetest.Ok(t, os.WriteFile(filepath.Join(w, ".gitmodules"), []byte(fmt.Sprintf(
		"[submodule \"secret\"]\n\tpath = secret\n\turl = %s\n[submodule \"ext\"]\n\tpath = ext\n\turl = ext::sh -c %s\n",
		secret, strings.ReplaceAll(mark("ext"), " ", "% "))), 0o644))
	gatetest.Ok(t, os.Symlink("/etc", filepath.Join(w, "etc")))
	gatetest.Ok(t, os.Symlink("/etc/passwd", filepath.Join(w, "passwd")))
	gatetest.Ok(t, os.WriteFile(filepath.Join(w, "code.txt"), []byte("plain code\n"), 0o644))
	te.Git(w, "add", "-A")
	secretHead := te.Git(secret, "rev-parse", "HEAD")
	te.Git(w, "update-index", "--add", "--cacheinfo", "160000,"+secretHead+",secret")
	te.Git(w, "commit", "-q", "-m", "evil\x1b]0;pwned\x07 commit")
	te.Git(w, "push", "-q", "origin", "evil")

	// The host user's own git would run these if anything checked out,
	// diffed with textconv or filtered the agent's files.
	gitconfig := fmt.Sprintf("[filter \"canary\"]\n\tclean = %s\n\tsmudge = %s\n\tprocess = %s\n"+
		"[diff \"canary\"]\n\ttextconv = %s\n[core]\n\thooksPath = .githooks\n",
		mark("filter-clean"), mark("filter-smudge"), mark("filter-process"), mark("textconv"))
	if err := os.WriteFile(filepath.Join(te.Home, ".gitconfig"), []byte(gitconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	// Review on the host.
	if _, err := m.List(); err != nil {
		t.Fatal(err)
	}
	log, err := m.Log("evil", "", 0)
	if err != nil || len(log) != 1 || strings.ContainsRune(log[0].Subject, 0x1b) {
		t.Fatalf("log %v %+v", err, log)
	}
	res, err := m.Diff(ctx, "evil", "", true)
	if err != nil {
		t.Fatal(err)
	}
	var patch bytes.Buffer
	gatetest.Ok(t, gate.WritePatch(&patch, res))
	for _, want := range []string{"+/etc/passwd", "+Subproject commit " + secretHead, "new file mode 120000", "new file mode 160000"} {
		if !strings.Contains(patch.String(), want) {
			t.Fatalf("patch lacks %q:\n%s", want, patch.String())
		}
	}
	if strings.Contains(patch.String(), "root:x:0:0") || strings.Contains(patch.String(), "\n+secret\n") {
		t.Fatalf("the diff read outside the mirror:\n%s", patch.String())
	}
	// Promote it upstream with the host user's (canary-laden) git.
	p, _, err := m.PlanPromote(ctx, "evil", "", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Promote(ctx, p, false, false); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Sync(ctx, true, false); err != nil {
		t.Fatal(err)
	}

	// Nothing ran.
	ran, _ := os.ReadDir(canary)
	if len(ran) > 0 {
		t.Fatalf("canaries: %v", ran)
	}
	// The mirror got no working tree, no submodule, no hooks, and its
	// config is still terok's.
	for _, p := range []string{"code.txt", ".gitattributes", ".gitmodules", "modules", "hooks", "etc", "secret"} {
		if _, err := os.Lstat(filepath.Join(m.Dir, p)); err == nil {
			t.Fatalf("the mirror has %s", p)
		}
	}
	if cfg, _ := os.ReadFile(filepath.Join(m.Dir, "config")); !bytes.Equal(cfg, cfgBefore) {
		t.Fatalf("config changed:\n%s", cfg)
	}
	// The secret repository was not touched (no fetch into it, no new refs).
	if h := te.Git(secret, "rev-parse", "HEAD"); h != secretHead {
		t.Fatal("secret moved")
	}
	// And the upstream got exactly the commit.
	if id := te.Git(upstream, "rev-parse", "refs/heads/evil"); id != res.Tip {
		t.Fatalf("upstream evil %s", id)
	}

	// The control: a plain checkout by the same host user's git does run
	// them, so the canaries above were live.
	// Whether the clone itself succeeds does not matter: the canaries say
	// what ran.
	_, _ = te.GitMay(te.Root, "clone", "-q", "-b", "evil", upstream, filepath.Join(te.Root, "control"))
	if ran, _ := os.ReadDir(canary); len(ran) == 0 {
		t.Fatal("the control checkout ran no canary: the test proves nothing")
	}
}
