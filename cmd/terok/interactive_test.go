package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/testenv"
)

// tmuxSession drives a command on a real terminal: tmux runs it, send-keys
// types, capture-pane reads the screen. Its server is private to the test.
type tmuxSession struct {
	t      *testing.T
	socket string
}

func newTmux(t *testing.T, env []string, command string) *tmuxSession {
	testenv.Tool(t, "tmux", "tmux")
	testenv.Tool(t, "gum", "gum: scripts/setup-host")
	s := &tmuxSession{t: t, socket: fmt.Sprintf("terok-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
	args := []string{"new-session", "-d", "-x", "160", "-y", "40", "env"}
	args = append(args, env...)
	args = append(args, "sh", "-c", command)
	s.tmux(args...)
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", s.socket, "kill-server").Run() })
	return s
}

func (s *tmuxSession) tmux(args ...string) string {
	out, err := exec.Command("tmux", append([]string{"-L", s.socket}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (s *tmuxSession) waitFor(text string) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second) // generous: CI runs other packages at once
	var screen string
	for time.Now().Before(deadline) {
		screen = s.tmux("capture-pane", "-p", "-J") // -J: a long line as one, however the pane wrapped it
		if strings.Contains(screen, text) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("%q never appeared; screen:\n%s", text, screen)
}

func (s *tmuxSession) send(keys ...string) { s.tmux(append([]string{"send-keys"}, keys...)...) }

func waitFile(t *testing.T, path string) string {
	t.Helper()
	return waitFileFor(t, path, 30*time.Second) // generous: CI runs other packages at once
}

// wizardEnv is a fresh terok tree and HOME for a command run in tmux.
func wizardEnv(t *testing.T) (work string, env []string) {
	bin, err := exec.LookPath("terok-project") // testscript put this binary on PATH
	if err != nil {
		t.Fatal(err)
	}
	work = t.TempDir()
	env = []string{"PATH=" + filepath.Dir(bin) + ":" + os.Getenv("PATH"), "HOME=" + work, "TERM=xterm-256color",
		"TEROK_CONFIG_DIR=" + work + "/config", "TEROK_STATE_DIR=" + work + "/state",
		"TEROK_DATA_DIR=" + work + "/data", "TEROK_RUNTIME_DIR=" + work + "/run", "GIT_CONFIG_NOSYSTEM=1"}
	return work, env
}

// bareUpstream makes a bare repository with branches main and trunk, its
// HEAD on trunk.
func bareUpstream(t *testing.T, dir string) string {
	testenv.Tool(t, "git", "git")
	up, src := filepath.Join(dir, "up.git"), filepath.Join(dir, "src")
	for _, args := range [][]string{
		{"init", "-q", "--bare", "-b", "trunk", up},
		{"init", "-q", "-b", "trunk", src},
		{"-C", src, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "first"},
		{"-C", src, "push", "-q", up, "trunk", "trunk:main"},
	} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return up
}

// The gum wizard of `terok-project new` and the gum confirmation of `rm`,
// typed into a real terminal: two agents and one egress profile chosen
// from their lists, a local upstream whose branches are offered, the gate
// synced, the image build and the vault's creation skipped (so the
// credential is not asked for); the summary names the
// scriptable equivalent and what is left to do.
func TestInteractiveWizardAndConfirm(t *testing.T) {
	work, env := wizardEnv(t)
	up := bareUpstream(t, work)

	done := filepath.Join(work, "new.done")
	// The pane outlives the command, so that its summary can be read.
	s := newTmux(t, env, "terok-project new; echo $? > "+done+"; sleep 600")
	s.waitFor("Project name")
	s.send("wiz", "Enter")
	s.waitFor("Description")
	s.send("Made by the wizard", "Enter")
	s.waitFor("Upstream")
	s.send(up, "Enter")
	s.waitFor("Default branch (the upstream's branches)")
	s.waitFor("> trunk") // the upstream's HEAD comes first
	s.send("Enter")
	s.waitFor("Base image")
	s.send("Enter")
	s.waitFor("Anthropic's coding agent") // the roster, with descriptions
	s.send("x", "Enter")                  // claude, besides the global default (command)
	s.waitFor("Default agent")
	s.send("Up", "Enter") // claude
	s.waitFor("The npm registry")
	s.send("x", "Down", "Down", "Down", "x", "Enter") // base off, node on
	s.waitFor("$ terok-gate sync wiz")
	s.waitFor("Sync the gate")
	s.send("y")
	s.waitFor("$ terok-image build wiz")
	s.waitFor("Build the project's image now?")
	s.send("n")
	s.waitFor("$ terok-vault init") // no vault yet: it is offered first
	s.waitFor("Create the vault now?")
	s.send("n")
	if code := waitFile(t, done); code != "0" {
		t.Fatalf("new exited %s; screen:\n%s", code, s.tmux("capture-pane", "-p", "-J"))
	}
	toml, err := os.ReadFile(filepath.Join(work, "config/projects/wiz/project.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`description = "Made by the wizard"`, `upstream = "` + up + `"`, `branch = "trunk"`,
		`agents = ["claude", "command"]`, "[shield]\nprofiles = [\"node\"]"} {
		if !strings.Contains(string(toml), want) {
			t.Errorf("project.toml lacks %s:\n%s", want, toml)
		}
	}
	if strings.Contains(string(toml), "base =") {
		t.Errorf("the default base was written instead of inherited:\n%s", toml)
	}
	if _, err := os.Stat(filepath.Join(work, "data/gate/wiz.git")); err != nil {
		t.Errorf("the gate was not synced: %v", err)
	}
	screen := s.tmux("capture-pane", "-p", "-J")
	summary := "The wizard's scriptable equivalent:\n" +
		"  terok-project new wiz --description 'Made by the wizard' --upstream " + up + " --branch trunk --agents claude,command --profiles node\n" +
		"  terok-gate sync wiz\n" +
		"Left to do:\n  terok-image build wiz\n  terok-vault init\n  terok-vault set anthropic\n"
	if !strings.Contains(screen, summary) {
		t.Errorf("the summary is not\n%s\nscreen:\n%s", summary, screen)
	}

	// Declining the confirmation keeps the project; accepting removes it.
	done = filepath.Join(work, "rm1.done")
	s = newTmux(t, env, "terok-project rm wiz; echo $? > "+done)
	s.waitFor("Remove project wiz?")
	s.send("n")
	if code := waitFile(t, done); code != "1" {
		t.Fatalf("declined rm exited %s", code)
	}
	if _, err := os.Stat(filepath.Join(work, "config/projects/wiz")); err != nil {
		t.Fatal("declined rm removed the project")
	}
	done = filepath.Join(work, "rm2.done")
	s = newTmux(t, env, "terok-project rm wiz; echo $? > "+done)
	s.waitFor("Remove project wiz?")
	s.send("y")
	if code := waitFile(t, done); code != "0" {
		t.Fatalf("confirmed rm exited %s", code)
	}
	if _, err := os.Stat(filepath.Join(work, "config/projects/wiz")); !os.IsNotExist(err) {
		t.Fatal("confirmed rm kept the project")
	}
}

// An upstream that cannot be reached is refused with git's reason and
// asked again; Ctrl-C then ends the wizard with nothing written.
func TestInteractiveWizardRefusesUpstream(t *testing.T) {
	work, env := wizardEnv(t)
	testenv.Tool(t, "git", "git")
	notRepo := filepath.Join(work, "not-a-repo")
	if err := os.Mkdir(notRepo, 0o755); err != nil {
		t.Fatal(err)
	}
	done := filepath.Join(work, "new.done")
	s := newTmux(t, env, "terok-project new wiz; echo $? > "+done+"; sleep 600")
	s.waitFor("Description")
	s.send("Enter")
	s.waitFor("Upstream")
	s.send(notRepo, "Enter")
	s.waitFor("terok-project: reach " + notRepo + ": fatal: '" + notRepo + "' does not appear to be a git repository")
	s.waitFor("hint: fix it, or leave the answer empty for no upstream")
	s.waitFor("Upstream (git URL or local path, empty for none): " + notRepo) // asked again, to edit
	s.send("C-u", work+"/nowhere", "Enter")
	s.waitFor("terok-project: --upstream: " + work + "/nowhere is not a URL nor an existing directory")
	s.waitFor("Upstream (git URL or local path, empty for none): " + work + "/nowhere") // asked again, to edit
	s.send("C-c")
	if code := waitFile(t, done); code != "130" {
		t.Fatalf("interrupted new exited %s; screen:\n%s", code, s.tmux("capture-pane", "-p", "-J"))
	}
	if _, err := os.Stat(filepath.Join(work, "config/projects/wiz")); !os.IsNotExist(err) {
		t.Fatalf("an interrupted wizard left the project: %v", err)
	}
}
