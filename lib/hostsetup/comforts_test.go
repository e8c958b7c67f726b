package hostsetup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/hostcheck"
)

// testFiles is a tree like the checked-in man/ and completions/, each
// file marked as terok's.
func testFiles(version string) fstest.MapFS {
	fs := fstest.MapFS{}
	for _, name := range []string{"man/terok.1", "man/terok-config.5", "completions/bash/terok-task",
		"completions/zsh/_terok-task", "completions/fish/terok-task.fish"} {
		fs[name] = &fstest.MapFile{Data: []byte("# " + GeneratedMark + "the grammar; do not edit.\n" + name + " " + version + "\n"), Mode: 0o644}
	}
	return fs
}

// comfortsHost is testHost with the comforts, for the prefix PREFIX in its
// directory.
func comfortsHost(t *testing.T) Host {
	t.Helper()
	h := testHost(t)
	h.Comforts = ComfortsFor(filepath.Join(h.root(), "prefix"), h.Getenv)
	h.Comforts.Files = testFiles("v1")
	h.Comforts.HaveBashCompletion = true
	return h
}

// installed are the files the comforts put in place, by their place.
func installed(h Host) map[string]string {
	c := h.Comforts
	return map[string]string{
		filepath.Join(c.Man, "man1", "terok.1"):        "man/terok.1",
		filepath.Join(c.Man, "man5", "terok-config.5"): "man/terok-config.5",
		filepath.Join(c.Bash, "terok-task"):            "completions/bash/terok-task",
		filepath.Join(c.Zsh, "_terok-task"):            "completions/zsh/_terok-task",
		filepath.Join(c.Fish, "terok-task.fish"):       "completions/fish/terok-task.fish",
	}
}

// TestComfortsFor: root's prefix gets the system directories and fish's
// administrator directory, a user's ~/.local the XDG ones (and the zsh
// line), any other prefix make install's layout.
func TestComfortsFor(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	for _, tc := range []struct {
		name, prefix string
		getenv       func(string) string
		want         Comforts
	}{
		{"root", "/usr/local", env("HOME", "/root"), Comforts{Prefix: "/usr/local", Man: "/usr/local/share/man",
			Bash: "/usr/local/share/bash-completion/completions", Zsh: "/usr/local/share/zsh/site-functions",
			Fish: "/etc/fish/completions"}},
		{"a user", "/home/u/.local", env("HOME", "/home/u"), Comforts{Prefix: "/home/u/.local", User: true,
			Man: "/home/u/.local/share/man", Bash: "/home/u/.local/share/bash-completion/completions",
			Zsh: "/home/u/.local/share/zsh/site-functions", Fish: "/home/u/.local/share/fish/vendor_completions.d",
			ZshLine: "fpath=(~/.local/share/zsh/site-functions $fpath)"}},
		{"a user's XDG_DATA_HOME", "/home/u/.local", env("HOME", "/home/u", "XDG_DATA_HOME", "/data/u",
			"BASH_COMPLETION_USER_DIR", "/home/u/bc"), Comforts{Prefix: "/home/u/.local", User: true,
			Man: "/home/u/.local/share/man", Bash: "/home/u/bc/completions",
			Zsh: "/data/u/zsh/site-functions", Fish: "/data/u/fish/vendor_completions.d",
			ZshLine: "fpath=(/data/u/zsh/site-functions $fpath)"}},
		{"another prefix", "/opt/terok", env("HOME", "/home/u", "XDG_DATA_HOME", "/data/u"), Comforts{Prefix: "/opt/terok",
			Man: "/opt/terok/share/man", Bash: "/opt/terok/share/bash-completion/completions",
			Zsh: "/opt/terok/share/zsh/site-functions", Fish: "/opt/terok/share/fish/vendor_completions.d"}},
	} {
		got := ComfortsFor(tc.prefix, tc.getenv)
		got.Path = ""
		if got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

// TestCheckSetupComforts: the first check plans each directory and file
// and touches nothing; applying it writes every file, mode 0644, as the
// tree has it; a second check plans nothing; a newer terok replaces its
// own older files; uninstall removes exactly the files setup wrote.
func TestCheckSetupComforts(t *testing.T) {
	h := comfortsHost(t)
	before := tree(t, h.root())
	p := CheckSetup(h)
	unchanged(t, h.root(), before, "check")
	if got := steps(p); !slices.Equal(got, []string{"links", "hook", "dirs", "man", "completions"}) {
		t.Fatalf("steps %q", got)
	}
	c := h.Comforts
	wantMan := []Change{
		{Op: MakeDir, Path: filepath.Join(c.Man, "man5"), Mode: 0o755},
		{Op: WriteFile, Path: filepath.Join(c.Man, "man5", "terok-config.5"), Target: "man/terok-config.5", Mode: 0o644},
		{Op: MakeDir, Path: filepath.Join(c.Man, "man1"), Mode: 0o755},
		{Op: WriteFile, Path: filepath.Join(c.Man, "man1", "terok.1"), Target: "man/terok.1", Mode: 0o644},
	}
	if got := changes(p, "man"); !slices.Equal(got, wantMan) {
		t.Errorf("man:\n got %v\nwant %v", got, wantMan)
	}
	if got := len(changes(p, "completions")); got != 6 {
		t.Errorf("completions: %d changes, want 3 directories and 3 files: %v", got, changes(p, "completions"))
	}
	out := apply(t, p)
	for path, src := range installed(h) {
		b, err := os.ReadFile(path)
		st, serr := os.Stat(path)
		if err != nil || serr != nil || string(b) != string(h.Comforts.Files.(fstest.MapFS)[src].Data) || st.Mode().Perm() != 0o644 {
			t.Errorf("%s: %v %v %q", path, err, serr, b)
		}
	}
	if r := out[len(out)-1]; r.Check != "completions" || r.Detail != "set up: bash "+c.Bash+", zsh "+c.Zsh+", fish "+c.Fish+
		" (make install's layout: the shells read these only when told)" {
		t.Errorf("completions' record %+v", r)
	}
	setUpTree := tree(t, h.root())
	again := CheckSetup(h)
	for _, a := range again.Actions {
		if len(a.Changes) > 0 || len(a.Refusals) > 0 {
			t.Errorf("second check: %s plans %v, refusals %v", a.Step, a.Changes, a.Refusals)
		}
	}

	// A newer terok: its own files change, what was installed is
	// replaced.
	h.Comforts.Files = testFiles("v2")
	p = CheckSetup(h)
	if n := p.Count(WriteFile); n != 5 {
		t.Errorf("a newer terok writes %d files, want 5", n)
	}
	apply(t, p)
	for path := range installed(h) {
		if b, _ := os.ReadFile(path); !strings.Contains(string(b), " v2\n") {
			t.Errorf("%s not replaced: %q", path, b)
		}
	}

	// Uninstall: the files go, the directories stay, as do the links'
	// and terok's directories (setup's other steps are uninstall's links
	// and hook steps).
	up := CheckUninstall(context.Background(), h, nil)
	if got := steps(up); !slices.Equal(got, []string{"links", "hook", "man", "completions"}) {
		t.Fatalf("uninstall steps %q", got)
	}
	apply(t, up)
	for path := range installed(h) {
		if exists(path) {
			t.Errorf("%s is still there", path)
		}
	}
	for p := range setUpTree {
		if _, ok := installed(h)[p]; !ok && !strings.HasPrefix(p, h.BinDir) && !strings.HasPrefix(p, h.HooksDir+"/") && !exists(p) {
			t.Errorf("uninstall removed %s, which is not a file setup installed", p)
		}
	}
	if r := apply(t, CheckUninstall(context.Background(), h, nil)); r[2].Detail != "nothing to remove: 0 man pages of terok's in "+c.Man {
		t.Errorf("second uninstall: %+v", r[2])
	}
}

// TestCheckSetupComfortsNotOurs: a file terok did not make at a place
// refuses the whole setup, and nothing is written; uninstall leaves it.
func TestCheckSetupComfortsNotOurs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		place func(t *testing.T, p string)
	}{
		{"a person's file", func(t *testing.T, p string) { writeFile(t, p, "my own completion\n", 0o644) }},
		{"a link to terok's file", func(t *testing.T, p string) {
			other := p + ".real"
			writeFile(t, other, "# "+GeneratedMark+"x\n", 0o644)
			symlink(t, other, p)
		}},
		{"a directory", func(t *testing.T, p string) {
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := comfortsHost(t)
			place := filepath.Join(h.Comforts.Fish, "terok-task.fish")
			if err := os.MkdirAll(h.Comforts.Fish, 0o755); err != nil {
				t.Fatal(err)
			}
			tc.place(t, place)
			before := tree(t, h.root())
			p := CheckSetup(h)
			err := p.Refused()
			var r *Refusal
			if !errors.As(err, &r) || r.Error() != place+" exists and is not terok's; not replacing it" || r.Hint() == "" {
				t.Fatalf("refusal %v", err)
			}
			if _, err := p.Apply(context.Background(), t.Logf); err == nil {
				t.Fatal("a refused plan applied")
			}
			unchanged(t, h.root(), before, "refused apply")

			up := CheckUninstall(context.Background(), h, nil)
			if up.Count(RemoveFile) != 0 {
				t.Errorf("uninstall would remove %v", changes(up, "completions"))
			}
		})
	}
}

// TestComfortsNotes: the fix of each step says what else man or a shell
// needs: a user's zsh line when zsh is installed, bash-completion when it
// is missing, PATH for man.
func TestComfortsNotes(t *testing.T) {
	h := testHost(t)
	home := h.Getenv("HOME")
	h.Comforts = ComfortsFor(filepath.Join(home, ".local"), h.Getenv)
	h.Comforts.Files = testFiles("v1")
	h.Comforts.HaveZsh = true
	p := CheckSetup(h)
	var man, comp Action
	for _, a := range p.Actions {
		switch a.Step {
		case "man":
			man = a
		case "completions":
			comp = a
		}
	}
	if !strings.Contains(comp.Fix, "zsh reads "+h.Comforts.Zsh+" once ~/.zshenv has: fpath=(~/.local/share/zsh/site-functions $fpath)") ||
		!strings.Contains(comp.Fix, "apt-get install -y bash-completion") {
		t.Errorf("completions' fix %q", comp.Fix)
	}
	if man.Fix != "man finds them once "+filepath.Join(home, ".local", "bin")+" is on PATH: log in again (Debian's ~/.profile puts it there when it exists)" {
		t.Errorf("man's fix %q", man.Fix)
	}
	h.Comforts.HaveZsh, h.Comforts.HaveBashCompletion = false, true
	h.Comforts.Path = "/usr/bin:" + filepath.Join(home, ".local", "bin")
	for _, a := range CheckSetup(h).Actions {
		if (a.Step == "man" || a.Step == "completions") && a.Fix != "" {
			t.Errorf("%s: fix %q, want none", a.Step, a.Fix)
		}
	}
	h.Comforts.Prefix = ""
	if err := CheckSetup(h).Refused(); err == nil || !strings.Contains(err.Error(), "HOME is not set") {
		t.Errorf("no prefix: %v", err)
	}
}

// TestCheckSetupRootless: a user's setup checks the account first; a
// piece that fails refuses the whole setup (exit 3, every piece in the
// error for the command to print) and nothing is written; warnings and
// advice make the step's record.
func TestCheckSetupRootless(t *testing.T) {
	pieces := []hostcheck.Result{
		{Check: "subids", Status: hostcheck.OK, Detail: "65536"},
		{Check: "runtime-dir", Status: hostcheck.Fail, Detail: "not set", Fix: "export XDG_RUNTIME_DIR=/run/user/1000"},
		{Check: "storage", Status: hostcheck.OK, Detail: "vfs", Fix: "use overlay"},
		{Check: "tun", Status: hostcheck.Fail, Detail: "missing", Fix: "modprobe tun"},
	}
	h := comfortsHost(t)
	h.Rootless = func() []hostcheck.Result { return pieces }
	before := tree(t, h.root())
	p := CheckSetup(h)
	if got := steps(p); got[0] != "rootless" {
		t.Fatalf("steps %q", got)
	}
	err := p.Refused()
	var nr *NotReady
	if !errors.As(err, &nr) || len(nr.Checks) != 4 ||
		err.Error() != "this account cannot run rootless Podman yet (runtime-dir, tun); nothing was changed" ||
		cli.CodeOf(err) != cli.ExitNotSetUp || cli.HintOf(err) != "each missing piece's record says what fixes it" {
		t.Fatalf("refusal %v (code %d)", err, cli.CodeOf(err))
	}
	if _, err := p.Apply(context.Background(), t.Logf); err == nil {
		t.Fatal("a refused plan applied")
	}
	unchanged(t, h.root(), before, "refused apply")

	pieces[3] = hostcheck.Result{Check: "tun", Status: hostcheck.OK, Detail: "/dev/net/tun"}
	if got := cli.HintOf(CheckSetup(h).Refused()); got != "export XDG_RUNTIME_DIR=/run/user/1000" {
		t.Errorf("one missing piece: hint %q", got)
	}

	pieces[1] = hostcheck.Result{Check: "runtime-dir", Status: hostcheck.Warn, Detail: "odd"}
	out := apply(t, CheckSetup(h))
	if r := out[0]; r.Check != "rootless" || r.Status != hostcheck.Warn ||
		r.Detail != "ready: subids 65536; runtime-dir odd; storage vfs; tun /dev/net/tun" || r.Fix != "storage: use overlay" {
		t.Errorf("record %+v", r)
	}
}
