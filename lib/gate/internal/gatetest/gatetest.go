// Package gatetest holds what the gate's tests share (lib/gate's own, its
// external tests, lib/gate/endpoint's): a private terok tree, a private
// HOME for the real git, and the git client a test drives as a task or a
// person would. It does not import lib/gate, so that lib/gate's own tests
// can use it; each test package makes its mirrors from Env.Paths and
// Env.Config.
package gatetest

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/testenv"
)

// Env is a private terok tree and a private HOME for the real git.
type Env struct {
	T     testing.TB
	Root  string
	Paths config.Paths
	Home  string
}

// New makes an Env under t's temporary directory; it skips t (fails it in
// CI) when git is not installed.
func New(t testing.TB) *Env {
	testenv.Tool(t, "git", "git")
	root := t.TempDir()
	te := &Env{T: t, Root: root, Home: filepath.Join(root, "home")}
	te.Paths = config.Paths{Config: filepath.Join(root, "config"), State: filepath.Join(root, "state"),
		Data: filepath.Join(root, "data"), Runtime: filepath.Join(root, "run")}
	Ok(t, os.MkdirAll(te.Home, 0o700))
	return te
}

// Ok fails the test on a set-up step's error, which would otherwise show
// later as a puzzling failure.
func Ok(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Getenv is the host user's environment as the gate sees it in a test.
func (te *Env) Getenv(k string) string {
	switch k {
	case "HOME":
		return te.Home
	case "GIT_CONFIG_NOSYSTEM":
		return "1"
	}
	return os.Getenv(k)
}

// Config is a project with the given upstream and the global
// configuration, both at their defaults but for what edit changes.
func (te *Env) Config(upstream string, edit ...func(*config.Project, *config.Global)) (config.Project, config.Global) {
	p := config.DefaultProject()
	p.Upstream = upstream
	g := config.DefaultGlobal()
	for _, e := range edit {
		e(&p, &g)
	}
	return p, g
}

// gitEnv is the environment of the git a test runs as a client.
func (te *Env) gitEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + te.Home, "GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0", "GIT_AUTHOR_NAME=Agent", "GIT_AUTHOR_EMAIL=agent@example.com",
		"GIT_COMMITTER_NAME=Agent", "GIT_COMMITTER_EMAIL=agent@example.com", "LC_ALL=C"}
}

// GitMay runs the real git in dir and returns its combined output and
// its error.
func (te *Env) GitMay(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = te.gitEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// Git runs the real git in dir and returns its output, trimmed; it fails
// the test when git fails.
func (te *Env) Git(dir string, args ...string) string {
	te.T.Helper()
	out, err := te.GitMay(dir, args...)
	if err != nil {
		te.T.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// Upstream makes a non-bare repository with one commit on main.
func (te *Env) Upstream(name string) string {
	dir := filepath.Join(te.Root, name)
	te.Git(te.Root, "init", "-q", "-b", "main", dir)
	te.Commit(dir, "README", "hello\n", "first")
	return dir
}

// Commit writes a file and commits it.
func (te *Env) Commit(dir, file, content, msg string) string {
	te.T.Helper()
	p := filepath.Join(dir, file)
	Ok(te.T, os.MkdirAll(filepath.Dir(p), 0o755))
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		te.T.Fatal(err)
	}
	te.Git(dir, "add", "-A")
	te.Git(dir, "commit", "-q", "-m", msg)
	return te.Git(dir, "rev-parse", "HEAD")
}

// URL is the clone URL of project at an endpoint's base URL, for token.
func URL(base, project, token string) string {
	return strings.Replace(base, "http://", "http://"+token+":x@", 1) + "/" + project + ".git"
}

// ReadJSONLines reads a file of JSON lines (the gate's audit log) as Ts.
func ReadJSONLines[T any](t testing.TB, path string) []T {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []T
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var v T
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}
