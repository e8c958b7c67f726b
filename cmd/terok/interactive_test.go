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
		screen = s.tmux("capture-pane", "-p")
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

// The gum wizard of `terok-project new` and the gum confirmation of `rm`,
// typed into a real terminal.
func TestInteractiveWizardAndConfirm(t *testing.T) {
	bin, err := exec.LookPath("terok-project") // testscript put this binary on PATH
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	env := []string{"PATH=" + filepath.Dir(bin) + ":" + os.Getenv("PATH"), "HOME=" + work, "TERM=xterm-256color",
		"TEROK_CONFIG_DIR=" + work + "/config", "TEROK_STATE_DIR=" + work + "/state",
		"TEROK_DATA_DIR=" + work + "/data", "TEROK_RUNTIME_DIR=" + work + "/run"}

	done := filepath.Join(work, "new.done")
	s := newTmux(t, env, "terok-project new; echo $? > "+done)
	s.waitFor("Project name")
	s.send("wiz", "Enter")
	s.waitFor("Description")
	s.send("Made by the wizard", "Enter")
	s.waitFor("Upstream")
	s.send("Enter")
	s.waitFor("Default branch")
	s.send("C-u", "trunk", "Enter")
	s.waitFor("Base image")
	s.send("Enter")
	s.waitFor("Agents")
	s.send("C-u", "claude,command", "Enter")
	if code := waitFile(t, done); code != "0" {
		t.Fatalf("new exited %s; screen:\n%s", code, s.tmux("capture-pane", "-p"))
	}
	toml, err := os.ReadFile(filepath.Join(work, "config/projects/wiz/project.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`description = "Made by the wizard"`, `branch = "trunk"`, `agents = ["claude", "command"]`} {
		if !strings.Contains(string(toml), want) {
			t.Errorf("project.toml lacks %s:\n%s", want, toml)
		}
	}
	if strings.Contains(string(toml), "base =") {
		t.Errorf("the default base was written instead of inherited:\n%s", toml)
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
