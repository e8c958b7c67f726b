package image

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/agent"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/testenv"
)

// These tests build real images with the real Podman; a missing
// prerequisite follows lib/testenv's rule (skip, or fail under CI). They
// never prune for real: the storage is shared with other tests (and, on a
// person's machine, with their own images); what they make, they remove by
// id.

func need(t testing.TB, ok bool, reason string) { t.Helper(); testenv.Need(t, ok, reason) }

// testEnv is a private state under a temporary directory and a connection
// to the engine (the test run's service when CONTAINER_HOST names one,
// else one terok starts, stopped at the end).
type testEnv struct {
	paths  config.Paths
	engine *engine.Engine
	roster *agent.Roster
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	_, err := exec.LookPath("podman")
	need(t, err == nil, "podman is not installed")
	need(t, exec.Command("podman", "image", "exists", config.DefaultBase).Run() == nil,
		"no "+config.DefaultBase+"; run scripts/setup-host and terok-image base")
	dir, err := os.MkdirTemp("", "terok-image-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	env := map[string]string{
		"TEROK_CONFIG_DIR": dir + "/config", "TEROK_STATE_DIR": dir + "/state", "TEROK_DATA_DIR": dir + "/data",
		"TEROK_RUNTIME_DIR": dir + "/run", "TEROK_CACHE_DIR": dir + "/cache", "HOME": dir,
		"CONTAINER_HOST": os.Getenv("CONTAINER_HOST"), "XDG_RUNTIME_DIR": os.Getenv("XDG_RUNTIME_DIR"),
	}
	getenv := func(k string) string { return env[k] }
	paths, err := config.ResolvePaths(getenv, os.Getuid())
	if err != nil {
		t.Fatal(err)
	}
	opts := engine.OptionsFromConfig(paths, config.DefaultGlobal(), getenv)
	opts.ServiceIdle = time.Minute
	e, err := engine.Connect(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if e.StartedService() {
			_ = e.StopService(context.Background())
		} else {
			e.Close()
		}
	})
	r, err := agent.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{paths: paths, engine: e, roster: r}
}

func (te *testEnv) builder(events func(Event)) *Builder {
	return &Builder{Engine: te.engine, Paths: te.paths, Roster: te.roster, Version: "test", Events: events}
}

// run runs a command in an image (through its entry point) and returns
// its output.
func (te *testEnv) run(t *testing.T, image string, cmd ...string) string {
	t.Helper()
	p, err := te.engine.RunProbe(context.Background(), image, cmd...)
	if err != nil {
		t.Fatalf("running %v in %s: %v", cmd, image, err)
	}
	if p.ExitCode != 0 {
		t.Fatalf("%v in %s exited %d:\n%s", cmd, image, p.ExitCode, p.Output)
	}
	return p.Output
}

// removeAfter removes the images by id when the test ends, children first.
func (te *testEnv) removeAfter(t *testing.T, ids ...string) {
	t.Cleanup(func() {
		for i := len(ids) - 1; i >= 0; i-- {
			_ = exec.Command("podman", "rmi", ids[i]).Run()
		}
	})
}

func built(r Result) []string {
	var out []string
	for _, l := range r.Layers {
		if l.Built {
			out = append(out, l.Layer)
		}
	}
	return out
}

func TestBuildChain(t *testing.T) {
	te := newTestEnv(t)
	ctx := context.Background()
	var progress, logs int
	b := te.builder(func(e Event) {
		switch e.(type) {
		case Progress:
			progress++
		case Log:
			logs++
		}
	})
	project := "itest" + randomHex(3)
	spec := Spec{Base: config.DefaultBase, Agents: []string{"command"}, Project: project, HostCertificates: true,
		Snippet: Snippet{Inline: "RUN echo one > /etc/itest\n", File: "ENV ITEST_FILE=yes\n"}}
	start := time.Now()
	first, err := b.Build(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first build: %s (built %v)", time.Since(start).Round(time.Millisecond), built(first))
	if len(first.Layers) != 3 || first.Family != "deb" || first.Layers[2].Built != true || progress == 0 || logs == 0 {
		t.Fatalf("first build: %+v (progress %d, log %d)", first, progress, logs)
	}
	te.removeAfter(t, first.Layers[2].ID)
	for i, l := range first.Layers {
		if want := []string{"localhost/terok/l0:", "localhost/terok/l1:", "localhost/terok/l2-" + project + ":"}[i]; !strings.HasPrefix(l.Tag, want) {
			t.Errorf("layer %d tag %s", i, l.Tag)
		}
	}

	// What the image holds.
	out := te.run(t, first.Image(), "sh", "-c",
		"id -un; id -u; pwd; echo $HOME; cat /etc/itest; echo $ITEST_FILE; git --version; command -v node npm || echo no Node.js; tmux -V; curl --version | head -1; terok-entry --info")
	// The command agent needs no Node.js, so its image has none.
	for _, want := range []string{"agent\n1000\n/workspace\n/home/agent\none\nyes\ngit version", "\nno Node.js\n", "tmux ", "curl ",
		"TEROK_FAMILY=deb\nTEROK_AGENTS=command\nTEROK_PROJECT=" + project} {
		if !strings.Contains(out, want) {
			t.Errorf("the image lacks %q:\n%s", want, out)
		}
	}

	// Again: nothing is built, and it is quick.
	progress = 0
	start = time.Now()
	again, err := b.Build(ctx, spec)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if len(built(again)) != 0 || progress != 0 || again.Image() != first.Image() {
		t.Fatalf("a repeated build built %v", built(again))
	}
	t.Logf("repeated build: %s", took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("a build with nothing to build took %s", took)
	}

	// A new snippet: L2 only.
	spec.Snippet.Inline = "RUN echo two > /etc/itest\n"
	second, err := b.Build(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	te.removeAfter(t, second.Layers[2].ID)
	if got := strings.Join(built(second), ","); got != "l2" {
		t.Fatalf("a new snippet built %s", got)
	}
	if second.Layers[0].ID != first.Layers[0].ID || second.Layers[1].ID != first.Layers[1].ID || second.Image() == first.Image() {
		t.Fatal("the layers below L2 changed")
	}
	if out := te.run(t, second.Image(), "cat", "/etc/itest"); out != "two\n" {
		t.Fatalf("got %q", out)
	}

	// The record, ls, prune's plan and usage see the chain.
	rec, ok, err := LoadRecord(te.paths, project)
	if err != nil || !ok || rec.Image() != second.Image() {
		t.Fatalf("record %+v %v %v", rec, ok, err)
	}
	cat := &Catalog{Engine: te.engine, Paths: te.paths, Projects: []string{project}}
	list, err := cat.List(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	users := map[string][]string{}
	for _, im := range list {
		users[im.Tag] = im.Users
	}
	if u := users[second.Image()]; len(u) != 1 || u[0] != project {
		t.Errorf("the new L2 is used by %v", u)
	}
	if u, ok := users[first.Image()]; !ok || len(u) != 0 {
		t.Errorf("the old L2 is used by %v (listed: %v)", u, ok)
	}
	plan, err := cat.Prune(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	var oldListed bool
	for _, r := range plan {
		switch r.ID {
		case first.Layers[2].ID:
			oldListed = true
		case second.Layers[0].ID, second.Layers[1].ID, second.Layers[2].ID:
			t.Errorf("prune would remove %s, which the project uses", r.Tag)
		}
	}
	if !oldListed {
		t.Error("prune would not remove the old L2")
	}
	usage, err := cat.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var proj, total Usage
	for _, u := range usage {
		switch {
		case u.Kind == "project" && u.Name == project:
			proj = u
		case u.Kind == "total":
			total = u
		}
	}
	if proj.Bytes < 100<<20 || proj.Unique > proj.Bytes || total.Bytes < proj.Bytes {
		t.Errorf("usage: project %+v, total %+v", proj, total)
	}

	// A failed build names its layer and step and leaves the older images.
	spec.Snippet.Inline = "RUN echo about to fail && false\n"
	_, err = b.Build(ctx, spec)
	be, ok := err.(*BuildError)
	if !ok || be.Layer != L2 || be.Step == 0 || !strings.Contains(be.Instruction, "about to fail") ||
		len(be.Tail) == 0 || be.Tail[len(be.Tail)-1] != "about to fail" {
		t.Fatalf("got %#v", err)
	}
	if img, _ := inspectImage(te.engine.On(ctx), second.Image()); img == nil {
		t.Fatal("the failed build took the older image away")
	}
	if rec, _, _ := LoadRecord(te.paths, project); rec.Image() != second.Image() {
		t.Fatal("the failed build changed the record")
	}
}

// A build that fails leaves steps behind, labelled as terok's, and prune
// finds them.
func TestPruneFindsLeftovers(t *testing.T) {
	te := newTestEnv(t)
	ctx := context.Background()
	b := te.builder(nil)
	need(t, exec.Command("podman", "image", "exists", "localhost/terok/busybox:latest").Run() == nil, "no busybox image")
	// busybox has no apt-get: L0 fails after its first steps.
	_, err := b.Build(ctx, Spec{Base: "localhost/terok/busybox:latest", Family: "deb", Agents: []string{"command"}})
	be, ok := err.(*BuildError)
	if !ok || be.Layer != L0 || !strings.Contains(be.Instruction, "apt-get") {
		t.Fatalf("got %v", err)
	}
	cat := &Catalog{Engine: te.engine, Paths: te.paths}
	plan, err := cat.Prune(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	all, err := cat.List(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	planned := map[string]bool{}
	for _, r := range plan {
		planned[r.ID] = true
	}
	// Only what this build left: steps on busybox (other tests may be
	// building on the Debian base right now).
	bb, _ := inspectImage(te.engine.On(ctx), "localhost/terok/busybox:latest")
	g, err := cat.load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var left []Image
	for _, im := range all {
		onBusybox := false
		for _, a := range g.ancestors(im.ID) {
			onBusybox = onBusybox || a == bb.ID
		}
		// The steps before the final LABEL carry only the first one: no
		// base, no hash.
		if onBusybox && planned[im.ID] && im.Base == "" && im.Tag == "" && im.Layer == L0 && im.Hash == "" {
			left = append(left, im)
		}
	}
	g.deepestFirst(left)
	if len(left) == 0 {
		t.Fatalf("prune's plan names no leftover of the failed build: %+v", plan)
	}
	// The steps below each leftover go with it.
	var below []string
	for _, im := range left {
		for _, a := range g.ancestors(im.ID)[1:] {
			if a == bb.ID {
				break
			}
			below = append(below, a)
		}
	}
	t.Logf("%d leftover images, %d steps below them", len(left), len(below))
	for _, r := range cat.Remove(ctx, left) {
		if !r.Removed {
			t.Errorf("removing leftover %s: %s", r.ID, r.Error)
		}
	}
	for _, id := range below {
		if img, _ := inspectImage(te.engine.On(ctx), id); img != nil {
			t.Errorf("step %s of the failed build is still there", id[:12])
		}
	}
}

func TestFamilyDetection(t *testing.T) {
	te := newTestEnv(t)
	ctx := context.Background()
	b := te.builder(nil)
	fam, err := b.Family(ctx, config.DefaultBase)
	if err != nil || fam != "deb" {
		t.Fatalf("%s %v", fam, err)
	}
	// Kept per image id, with what the image said.
	img, _ := inspectImage(te.engine.On(ctx), config.DefaultBase)
	var rec FamilyRecord
	data, err := os.ReadFile(filepath.Join(te.paths.ImagesDir(), "families", img.ID+".json"))
	if err != nil || !strings.Contains(string(data), `"id": "debian"`) {
		t.Fatalf("%s %v %v", data, err, rec)
	}
	if exec.Command("podman", "image", "exists", "localhost/terok/busybox:latest").Run() == nil {
		_, err := b.Family(ctx, "localhost/terok/busybox:latest")
		if err == nil || !strings.Contains(err.Error(), "neither /etc/os-release nor /usr/lib/os-release") {
			t.Fatalf("busybox: %v", err)
		}
	}
	if _, err := b.Family(ctx, "localhost/terok/nothing:here"); err == nil {
		t.Fatal("a missing image has a family")
	}
}

// Claude Code installs from the npm registry in a real L1 build, and runs.
// It needs the registry: CI has it; elsewhere set TEROK_TEST_NPM=1.
func TestClaudeInL1(t *testing.T) {
	if !testenv.InCI() && os.Getenv("TEROK_TEST_NPM") != "1" {
		t.Skip("skipped: needs the npm registry; CI=true or TEROK_TEST_NPM=1 runs it")
	}
	te := newTestEnv(t)
	ctx := context.Background()
	start := time.Now()
	res, err := te.builder(nil).Build(ctx, Spec{Base: config.DefaultBase, Agents: []string{"claude", "command"}, HostCertificates: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("L1 with claude: %s (built %v)", time.Since(start).Round(time.Millisecond), built(res))
	te.removeAfter(t, res.Layers[1].ID)
	out := te.run(t, res.Image(), "claude", "--version")
	if !strings.Contains(out, "Claude Code") {
		t.Fatalf("claude --version: %q", out)
	}
	if out := te.run(t, res.Image(), "terok-entry", "--info"); !strings.Contains(out, "TEROK_AGENTS=claude,command") {
		t.Fatalf("%q", out)
	}
	// Claude Code runs its native binary: npm installed it in a stage of its
	// own, and neither npm nor Node.js is in the image.
	if out := te.run(t, res.Image(), "sh", "-c", "command -v node npm || echo none"); out != "none\n" {
		t.Fatalf("Node.js or npm in a claude image: %q", out)
	}
}

// The other npm agents install from the npm registry in one real L1 build
// and run there: Codex's and Copilot's programs on Node.js, OpenCode's
// native binary without it; npm is in none of them. Like TestClaudeInL1, it
// needs the registry.
func TestNpmAgentsInL1(t *testing.T) {
	if !testenv.InCI() && os.Getenv("TEROK_TEST_NPM") != "1" {
		t.Skip("skipped: needs the npm registry; CI=true or TEROK_TEST_NPM=1 runs it")
	}
	te := newTestEnv(t)
	ctx := context.Background()
	start := time.Now()
	res, err := te.builder(nil).Build(ctx, Spec{Base: config.DefaultBase, Agents: []string{"codex", "copilot", "opencode"}, HostCertificates: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("L1 with codex, copilot, opencode: %s (built %v)", time.Since(start).Round(time.Millisecond), built(res))
	te.removeAfter(t, res.Layers[1].ID)
	for _, bin := range []string{"codex", "copilot", "opencode"} {
		if out := te.run(t, res.Image(), bin, "--version"); strings.TrimSpace(out) == "" {
			t.Errorf("%s --version printed nothing", bin)
		}
	}
	if out := te.run(t, res.Image(), "sh", "-c", "command -v node; command -v npm || echo no npm"); !strings.HasSuffix(out, "/node\nno npm\n") {
		t.Fatalf("node and npm: %q", out)
	}
}
