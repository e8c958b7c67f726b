package image

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/agent"
	"github.com/terok-ai/terok-go/lib/config"
)

var (
	baseID  = strings.Repeat("b", 64)
	base2ID = strings.Repeat("c", 64)
)

// chain renders L0, L1 and L2 the way Build does, with the image id of
// each layer standing in as a function of its hash (a layer that is not
// rebuilt keeps its id; a rebuilt one gets a new id).
type chainInput struct {
	family  string
	base    string
	certs   map[string][]byte
	agents  []string
	project string
	snippet Snippet
}

func renderChain(t *testing.T, r *agent.Roster, in chainInput) [3]Recipe {
	t.Helper()
	r0, err := RenderL0(in.family, in.base, in.certs)
	if err != nil {
		t.Fatal(err)
	}
	sel, err := r.Select(in.agents)
	if err != nil {
		t.Fatal(err)
	}
	var as []*agent.Agent
	for _, n := range sel {
		a, _ := r.Get(n)
		as = append(as, a)
	}
	r1, err := RenderL1(in.family, "id-of-"+r0.Hash, as)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := RenderL2(in.project, in.family, strings.Join(sel, ","), "id-of-"+r1.Hash, in.snippet)
	if err != nil {
		t.Fatal(err)
	}
	return [3]Recipe{r0, r1, r2}
}

func TestHashesAreStableAndLayered(t *testing.T) {
	r, _ := agent.Builtin()
	in := chainInput{family: "deb", base: baseID, agents: []string{"command", "claude"}, project: "demo",
		snippet: Snippet{Inline: "RUN echo hi\n"}}
	a := renderChain(t, r, in)
	b := renderChain(t, r, in)
	for i := range a {
		if a[i].Hash != b[i].Hash || a[i].Tag != b[i].Tag || len(a[i].Hash) != 64 {
			t.Fatalf("layer %d: the same inputs gave %s and %s", i, a[i].Tag, b[i].Tag)
		}
	}
	if a[0].Tag != "localhost/terok/l0:"+a[0].Hash[:12] || a[1].Tag != "localhost/terok/l1:"+a[1].Hash[:12] ||
		a[2].Tag != "localhost/terok/l2-demo:"+a[2].Hash[:12] {
		t.Fatalf("tags %s %s %s", a[0].Tag, a[1].Tag, a[2].Tag)
	}
	// Agents are a set: order and repeats do not matter.
	same := in
	same.agents = []string{"claude", "command", "claude"}
	if c := renderChain(t, r, same); c[1].Hash != a[1].Hash {
		t.Fatal("the agent set's order changed L1")
	}

	// Each change moves the layer it touches and those above, never below.
	for _, tc := range []struct {
		name    string
		change  func(*chainInput)
		changed int // the lowest layer that changes
	}{
		{"base", func(c *chainInput) { c.base = base2ID }, 0},
		{"family", func(c *chainInput) { c.family = "rpm" }, 0},
		{"certificates", func(c *chainInput) { c.certs = map[string][]byte{"0-ca.crt": []byte("pem")} }, 0},
		{"agents", func(c *chainInput) { c.agents = []string{"command"} }, 1},
		{"snippet", func(c *chainInput) { c.snippet.Inline = "RUN echo changed\n" }, 2},
		{"snippet file", func(c *chainInput) { c.snippet.File = "ENV A=1\n" }, 2},
		{"project", func(c *chainInput) { c.project = "other" }, 2},
	} {
		c := in
		tc.change(&c)
		got := renderChain(t, r, c)
		for i := range got {
			moved := got[i].Hash != a[i].Hash
			if moved != (i >= tc.changed) {
				t.Errorf("%s: layer %d moved=%v", tc.name, i, moved)
			}
		}
	}
}

// An agent's install lines are part of L1's hash: an override changes it.
func TestRosterOverrideChangesL1(t *testing.T) {
	b, _ := agent.Builtin()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "claude.toml"), "[install]\ndeb = [\"npm install -g @anthropic-ai/claude-code@1.0.0\"]\n", 0o600)
	o, err := agent.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	in := chainInput{family: "deb", base: baseID, agents: []string{"claude"}, project: "p"}
	x, y := renderChain(t, b, in), renderChain(t, o, in)
	if x[0].Hash != y[0].Hash || x[1].Hash == y[1].Hash {
		t.Fatal("an install line override must change L1 and only L1 and above")
	}
}

func TestRenderL0(t *testing.T) {
	r, err := RenderL0("deb", baseID, map[string][]byte{"0-corp.crt": []byte("-----BEGIN CERTIFICATE-----\n")})
	if err != nil {
		t.Fatal(err)
	}
	cf := r.Containerfile
	for _, want := range []string{
		"FROM " + baseID + "\n",
		"apt-get install -y --no-install-recommends -o 'DPkg::Options::=--path-exclude=/usr/share/doc/*' -o 'DPkg::Options::=--path-include=/usr/share/doc/*/copyright'",
		"-o 'DPkg::Options::=--path-exclude=/usr/share/locale/*' bash ca-certificates curl git passwd procps tmux;",
		"rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb\n",
		"COPY certs/ /usr/local/share/ca-certificates/terok-host/\n",
		"update-ca-certificates;",
		"COPY bin/terok-entry /usr/local/bin/terok-entry\n",
		"RUN /usr/local/lib/terok/agent-user",
		"ENV HOME=/home/agent LANG=C.UTF-8 NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt\n",
		"USER agent\nWORKDIR /workspace\n",
		`ENTRYPOINT ["/usr/local/bin/terok-entry"]`,
	} {
		if !strings.Contains(cf, want) {
			t.Errorf("L0 lacks %q:\n%s", want, cf)
		}
	}
	if r.Files["bin/terok-entry"].Mode != 0o755 || !strings.HasPrefix(string(r.Files["bin/terok-entry"].Data), "#!/bin/sh") ||
		string(r.Files["certs/0-corp.crt"].Data) == "" || r.Labels[LabelFamily] != "deb" {
		t.Fatalf("files %v labels %v", r.Files, r.Labels)
	}
	// Node.js is an agent's need, installed in L1 for the agents that have it.
	if strings.Contains(cf, "nodejs") || strings.Contains(cf, "npm") {
		t.Errorf("L0 installs Node.js or npm:\n%s", cf)
	}
	rpm, _ := RenderL0("rpm", baseID, nil)
	if strings.Contains(rpm.Containerfile, "nodejs") || strings.Contains(rpm.Containerfile, "npm") {
		t.Errorf("rpm L0 installs Node.js or npm:\n%s", rpm.Containerfile)
	}
	for _, want := range []string{"dnf install -y --setopt=install_weak_deps=False --setopt=tsflags=nodocs bash", "shadow-utils", "update-ca-trust", "dnf clean all"} {
		if !strings.Contains(rpm.Containerfile, want) {
			t.Errorf("rpm L0 lacks %q", want)
		}
	}
	if strings.Contains(rpm.Containerfile, "COPY certs") || strings.Contains(rpm.Containerfile, "NODE_EXTRA_CA_CERTS") {
		t.Error("no certificates, no COPY nor NODE_EXTRA_CA_CERTS")
	}
	if _, err := RenderL0("apk", baseID, nil); err == nil {
		t.Fatal("unknown family accepted")
	}
	// The context written to disk is the recipe.
	dir := t.TempDir()
	if err := r.WriteDir(dir, map[string]string{LabelVersion: "v1"}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "bin", "terok-entry"))
	if err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("%v %v", st, err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "Containerfile"))
	want := cf + "LABEL terok.hash=\"" + r.Hash + "\" terok.parent=\"" + baseID + "\" terok.version=\"v1\"\n"
	if string(data) != want {
		t.Fatalf("Containerfile:\n%s", data)
	}
	if !strings.HasPrefix(cf, "# terok L0 (deb): the tools every task needs, terok's entry point and\n# the user the agent runs as.\nFROM "+baseID+"\nLABEL terok.family=\"deb\" terok.layer=\"l0\"\nUSER root\n") {
		t.Fatalf("L0 starts:\n%s", cf)
	}
}

func TestRenderL1(t *testing.T) {
	ro, _ := agent.Builtin()
	c, _ := ro.Get("claude")
	cmd, _ := ro.Get("command")
	r, err := RenderL1("deb", "l0id", []*agent.Agent{c, cmd})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"FROM l0id\nLABEL terok.agents=\"claude,command\" terok.family=\"deb\" terok.layer=\"l1\"\nUSER root\n",
		"# claude: Claude Code\nRUN set -eux; \\\n    export HOME=/root NPM_CONFIG_CACHE=/tmp/terok-build-cache/npm",
		"    npm install -g --no-fund --no-audit @anthropic-ai/claude-code; \\\n",
		"    claude --version; \\\n    rm -rf /tmp/terok-build-cache\n",
		"# command: Command\n# (installs nothing)\n",
		"TEROK_AGENTS=%s\\n' 'claude,command' >> /etc/terok/image.env",
		"USER agent\n",
	} {
		if !strings.Contains(r.Containerfile, want) {
			t.Errorf("L1 lacks %q:\n%s", want, r.Containerfile)
		}
	}
	if r.Labels[LabelAgents] != "claude,command" {
		t.Fatal(r.Labels)
	}
	// Claude Code installs with npm in a stage of its own; L1 copies what
	// it left in /usr/local and proves it runs there, where neither npm nor
	// Node.js is (its program is a native binary).
	stages, final, _ := strings.Cut(r.Containerfile, "FROM l0id\n")
	for _, want := range []string{
		"FROM l0id AS terok-npm\nLABEL terok.agents=\"claude,command\" terok.family=\"deb\" terok.layer=\"l1\"\nUSER root\n",
		"apt-get install -y --no-install-recommends nodejs npm;",
		"FROM terok-npm AS terok-agent-claude\n# claude: Claude Code\nRUN set -eux; \\\n",
		"npm install -g --no-fund --no-audit @anthropic-ai/claude-code; \\\n",
	} {
		if !strings.Contains(stages, want) {
			t.Errorf("L1's stages lack %q:\n%s", want, stages)
		}
	}
	for _, want := range []string{
		"# claude: Claude Code\nCOPY --from=terok-agent-claude /usr/local/ /usr/local/\n" +
			"RUN set -eux; : terok agent claude; export HOME=\"$(mktemp -d)\"; claude --version; rm -rf \"$HOME\"\n",
	} {
		if !strings.Contains(final, want) {
			t.Errorf("L1 lacks %q:\n%s", want, final)
		}
	}
	if strings.Contains(final, "nodejs") || strings.Contains(final, "npm install") {
		t.Errorf("L1 with claude installs Node.js or npm:\n%s", final)
	}
	// A command-only L1 has no stage and installs nothing.
	r, _ = RenderL1("deb", "l0id", []*agent.Agent{cmd})
	if strings.Count(r.Containerfile, "FROM ") != 1 || strings.Contains(r.Containerfile, "nodejs") || strings.Contains(r.Containerfile, "npm") ||
		strings.Contains(r.Containerfile, "RUN set") {
		t.Errorf("command-only L1:\n%s", r.Containerfile)
	}
	// Codex runs on Node.js: L1 installs it (once, before the agents, for
	// both agents that need it), and Codex from its stage.
	cx, _ := ro.Get("codex")
	cp, _ := ro.Get("copilot")
	for _, fam := range []string{"deb", "rpm"} {
		r, err = RenderL1(fam, "l0id", []*agent.Agent{c, cx, cp})
		if err != nil {
			t.Fatal(err)
		}
		_, final, _ = strings.Cut(r.Containerfile, "FROM l0id\n")
		if strings.Count(final, "nodejs") != 1 || !strings.Contains(final, "# Node.js, for codex, copilot at run time.\nRUN set -eux; : terok runtime node; \\\n    "+
			families[fam].Install+" nodejs; \\\n") || strings.Index(final, "nodejs") > strings.Index(final, "# claude") ||
			strings.Contains(final, " npm") || strings.Count(r.Containerfile, "AS terok-npm\n") != 1 ||
			!strings.Contains(r.Containerfile, "FROM terok-npm AS terok-agent-codex\n") || !strings.Contains(final, "codex --version; rm -rf") {
			t.Errorf("%s L1 with codex:\n%s", fam, r.Containerfile)
		}
	}
	// Every need has its packages on every family.
	for fam, f := range families {
		if len(f.Node) == 0 || len(f.Npm) == 0 {
			t.Errorf("%s: no packages for node or npm", fam)
		}
	}
	// An agent that names no lines for the family cannot be installed.
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "debonly.toml"), "binary = \"x\"\n[install]\ndeb = []\n[headless]\nargs = [\"{prompt}\"]\n", 0o600)
	ro2, _ := agent.Load(dir)
	d, _ := ro2.Get("debonly")
	if _, err := RenderL1("rpm", "l0id", []*agent.Agent{d}); err == nil || !strings.Contains(err.Error(), "agent debonly cannot be installed on a rpm base (its roster entry installs on: deb)") {
		t.Fatalf("got %v", err)
	}
}

func TestRenderL2(t *testing.T) {
	r, err := RenderL2("demo", "deb", "command", "l1id", Snippet{File: "ENV FROM_FILE=1\n", Inline: "RUN apt-get install -y jq\n"})
	if err != nil {
		t.Fatal(err)
	}
	want := "# terok L2: the project demo.\nFROM l1id\nLABEL terok.agents=\"command\" terok.family=\"deb\" terok.layer=\"l2\" terok.project=\"demo\"\nUSER root\nENV TEROK_PROJECT=demo\n" +
		"# from image.containerfile\nENV FROM_FILE=1\n# from image.snippet\nRUN apt-get install -y jq\n" +
		"USER root\nRUN printf 'TEROK_PROJECT=%s\\n' demo >> /etc/terok/image.env\nUSER agent\nWORKDIR /workspace\n"
	if r.Containerfile != want {
		t.Fatalf("got\n%s\nwant\n%s", r.Containerfile, want)
	}
	// Bad snippets name where they are.
	_, err = RenderL2("demo", "deb", "", "l1id", Snippet{File: "RUN ok\nCOPY x /y\n", FilePath: "/p/image.containerfile"})
	if err == nil || err.Error() != "/p/image.containerfile:2: COPY is not allowed: the L2 build has no context to copy from; use RUN or ADD with a URL" {
		t.Fatalf("got %v", err)
	}
	_, err = RenderL2("demo", "deb", "", "l1id", Snippet{Inline: "FROM debian\n", InlinePath: "/p/project.toml"})
	if err == nil || !strings.Contains(err.Error(), "/p/project.toml: image.snippet: snippet line 1: FROM is not allowed") {
		t.Fatalf("got %v", err)
	}
	if _, err := RenderL2("../x", "deb", "", "l1id", Snippet{}); err == nil {
		t.Fatal("a bad project name became a tag")
	}
}

func TestOSReleaseFamily(t *testing.T) {
	for _, tc := range []struct{ src, fam, id string }{
		{"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n", "deb", "debian"},
		{"ID=ubuntu\nID_LIKE=debian\n", "deb", "ubuntu"},
		{"ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n", "deb", "linuxmint"},
		{"ID=fedora\nVERSION_ID=40\n", "rpm", "fedora"},
		{"ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n", "rpm", "rocky"},
		{"# comment\nID='almalinux'\n", "rpm", "almalinux"},
	} {
		o := ParseOSRelease([]byte(tc.src))
		f, err := o.Family()
		if err != nil || f != tc.fam || o.ID != tc.id {
			t.Errorf("%q: %+v %s %v", tc.src, o, f, err)
		}
	}
	for _, src := range []string{"ID=alpine\n", "ID=opensuse-tumbleweed\nID_LIKE=\"opensuse suse\"\n", "NAME=x\n", ""} {
		if f, err := ParseOSRelease([]byte(src)).Family(); err == nil {
			t.Errorf("%q: family %s", src, f)
		}
	}
	o := ParseOSRelease([]byte("PRETTY_NAME=\"A \\\"quoted\\\" name\"\n"))
	if o.PrettyName != `A "quoted" name` {
		t.Errorf("%q", o.PrettyName)
	}
}

func TestAptMirror(t *testing.T) {
	root := t.TempDir()
	write := func(p, s string) { writeFile(t, filepath.Join(root, p), s, 0o644) }
	// A vendor's repository sorts first but serves no Debian suite; the
	// security archive and a disabled stanza are skipped.
	write("etc/apt/sources.list.d/aaa-vendor.sources", "Types: deb\nURIs: https://vendor.example/apt\nSuites: nodistro\nComponents: main\n")
	write("etc/apt/sources.list.d/debian.sources", "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"+
		"Types: deb\nEnabled: no\nURIs: http://disabled.example/debian\nSuites: bookworm\n\n"+
		"Types: deb deb-src\n# a comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n")
	write("etc/apt/sources.list.d/other.sources.disabled", "Types: deb\nURIs: http://no.example/debian\nSuites: bookworm\n")
	if m, err := AptMirror(root, "bookworm"); err != nil || m != "http://mirror.example/debian" {
		t.Fatalf("got %q %v", m, err)
	}
	// Another suite: the same Debian mirror serves it.
	if m, _ := AptMirror(root, "trixie"); m != "http://mirror.example/debian" {
		t.Fatalf("got %q", m)
	}
	// One-line format, with options.
	root = t.TempDir()
	write("etc/apt/sources.list", "# deb http://commented.example/debian bookworm main\n"+
		"deb http://security.debian.example/debian-security bookworm-security main\n"+
		"deb-src http://src.example/debian bookworm main\n"+
		"deb [arch=amd64 signed-by=/k.gpg] https://m.example/debian/ bookworm main\n")
	if m, err := AptMirror(root, "bookworm"); err != nil || m != "https://m.example/debian/" {
		t.Fatalf("got %q %v", m, err)
	}
	if _, err := AptMirror(t.TempDir(), "bookworm"); err == nil {
		t.Fatal("no sources, no mirror")
	}
}

func TestHostCertificates(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	pem := "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	writeFile(t, filepath.Join(a, "corp", "root ca.crt"), pem, 0o644)
	writeFile(t, filepath.Join(a, "README"), "not a certificate", 0o644)
	writeFile(t, filepath.Join(b, "proxy.pem"), pem, 0o644)
	if err := os.Symlink(filepath.Join(b, "proxy.pem"), filepath.Join(b, "link.pem")); err != nil {
		t.Fatal(err)
	}
	got, err := HostCertificates([]string{a, b, filepath.Join(a, "missing")})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || string(got["0-corp-root-ca.crt"]) != pem || got["1-proxy.crt"] == nil || got["1-link.crt"] == nil {
		t.Fatalf("got %v", keysOf(got))
	}
}

func keysOf(m map[string][]byte) []string { return sortedKeys(m) }

// writeFile writes a file the test needs, and its directories, or fails
// the test.
func writeFile(t *testing.T, path, content string, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
}

func TestLogWriter(t *testing.T) {
	var evs []Event
	w := &logWriter{layer: L1, emit: func(e Event) { evs = append(evs, e) }}
	write := func(s string) {
		t.Helper()
		if _, err := w.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	write("STEP 1/3: FROM abc\nSTEP 2/3: RUN npm install -g x\npartial")
	write(" line\r\n")
	for i := 0; i < 40; i++ {
		write("npm output\n")
	}
	write("no newline at the end")
	w.flush()
	if w.step != 2 || w.of != 3 || w.instr != "RUN npm install -g x" {
		t.Fatalf("step %d/%d %q", w.step, w.of, w.instr)
	}
	if p, ok := evs[0].(Progress); !ok || p.Step != 1 || p.Layer != L1 {
		t.Fatalf("%#v", evs[0])
	}
	if l, ok := evs[4].(Log); !ok || l.Line != "partial line" {
		t.Fatalf("%#v", evs[4])
	}
	tail := w.tail()
	if len(tail) != tailLines || tail[len(tail)-1] != "no newline at the end" {
		t.Fatalf("tail %q", tail)
	}
	// A multi-stage build's steps name their stage first.
	write("[2/3] STEP 4/5: RUN --mount=type=bind,from=terok-agent-claude x\n")
	if w.step != 4 || w.of != 5 || w.instr != "RUN --mount=type=bind,from=terok-agent-claude x" {
		t.Fatalf("staged step %d/%d %q", w.step, w.of, w.instr)
	}
	e := &BuildError{Layer: L1, Step: 2, Of: 3, Instruction: "RUN npm install -g x", Err: os.ErrClosed}
	if e.Error() != "building l1 failed at step 2/3 (RUN npm install -g x): file already closed" {
		t.Fatal(e.Error())
	}
}

// The snippet rules are config's; the image package shares them.
func TestSnippetCheckSharedWithConfig(t *testing.T) {
	if _, err := config.CheckSnippet("FROM x"); err == nil {
		t.Fatal()
	}
	if err := (Snippet{Inline: "RUN true"}).Check(); err != nil {
		t.Fatal(err)
	}
}

// usage finds each agent's and Node.js's L1 step in the history by the
// marker its rendered step starts with.
func TestStepSizes(t *testing.T) {
	ro, _ := agent.Builtin()
	var as []*agent.Agent
	for _, n := range []string{"claude", "codex", "command", "vibe"} {
		a, _ := ro.Get(n)
		as = append(as, a)
	}
	r, err := RenderL1("deb", "l0id", as)
	if err != nil {
		t.Fatal(err)
	}
	// The history the engine gives, newest first: each RUN step of the
	// final stage as "/bin/sh -c ...", then L0's and the base's.
	_, final, _ := strings.Cut(r.Containerfile, "FROM l0id\n")
	var h []Step
	size := int64(1)
	for _, step := range strings.Split(final, "\n")[1:] {
		switch {
		case strings.HasPrefix(step, "RUN "):
			step = "/bin/sh -c " + strings.ReplaceAll(step[4:], "\\\n", "")
		case strings.HasPrefix(step, "COPY "):
			step = "/bin/sh -c #(nop) COPY dir:0123 in /usr/local/"
		case strings.HasPrefix(step, "USER "):
			step = "/bin/sh -c #(nop) " + step
		default:
			continue
		}
		h = append([]Step{{CreatedBy: step, Size: size}}, h...)
		size *= 10
	}
	h = append(h, Step{CreatedBy: "/bin/sh -c #(nop) COPY file:terok-entry in /usr/local/bin/terok-entry", Size: 5},
		Step{CreatedBy: "/bin/sh -c #(nop) ADD file:x", Size: 7})
	got := StepSizes(h)
	// USER root 1, node 10, claude's COPY 100 and check 1000, codex's 10^4
	// and 10^5, vibe 10^6, then the printf and USER agent.
	want := []StepSize{{"runtime", "node", 10}, {"agent", "claude", 1100}, {"agent", "codex", 110000}, {"agent", "vibe", 1000000}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v\nfrom %+v", got, want, h)
	}
}
