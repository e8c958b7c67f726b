package gate

import (
	"bytes"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/testenv"
)

// testEnv is a private terok tree and a private HOME for the real git.
type testEnv struct {
	t     testing.TB
	root  string
	paths config.Paths
	home  string
}

func newTestEnv(t testing.TB) *testEnv {
	testenv.Tool(t, "git", "git")
	root := t.TempDir()
	te := &testEnv{t: t, root: root, home: filepath.Join(root, "home")}
	te.paths = config.Paths{Config: filepath.Join(root, "config"), State: filepath.Join(root, "state"),
		Data: filepath.Join(root, "data"), Runtime: filepath.Join(root, "run")}
	ok(t, os.MkdirAll(te.home, 0o700))
	return te
}

// ok fails the test on a set-up step's error, which would otherwise show
// later as a puzzling failure.
func ok(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (te *testEnv) getenv(k string) string {
	switch k {
	case "HOME":
		return te.home
	case "GIT_CONFIG_NOSYSTEM":
		return "1"
	}
	return os.Getenv(k)
}

// mirror describes project name with the given upstream.
func (te *testEnv) mirror(name, upstream string, edit ...func(*config.Project, *config.Global)) *Mirror {
	p := config.DefaultProject()
	p.Upstream = upstream
	g := config.DefaultGlobal()
	for _, e := range edit {
		e(&p, &g)
	}
	m, err := New(te.paths, name, p, g, te.getenv)
	if err != nil {
		te.t.Fatal(err)
	}
	return m
}

// gitEnv is the environment of the git a test runs as a client.
func (te *testEnv) gitEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + te.home, "GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0", "GIT_AUTHOR_NAME=Agent", "GIT_AUTHOR_EMAIL=agent@example.com",
		"GIT_COMMITTER_NAME=Agent", "GIT_COMMITTER_EMAIL=agent@example.com", "LC_ALL=C"}
}

// git runs the real git in dir and returns its combined output; it fails
// the test unless the exit status is what wantOK says.
func (te *testEnv) gitMay(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = te.gitEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (te *testEnv) git(dir string, args ...string) string {
	te.t.Helper()
	out, err := te.gitMay(dir, args...)
	if err != nil {
		te.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// upstream makes a non-bare repository with one commit on main.
func (te *testEnv) upstream(name string) string {
	dir := filepath.Join(te.root, name)
	te.git(te.root, "init", "-q", "-b", "main", dir)
	te.commit(dir, "README", "hello\n", "first")
	return dir
}

// commit writes a file and commits it.
func (te *testEnv) commit(dir, file, content, msg string) string {
	te.t.Helper()
	p := filepath.Join(dir, file)
	ok(te.t, os.MkdirAll(filepath.Dir(p), 0o755))
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		te.t.Fatal(err)
	}
	te.git(dir, "add", "-A")
	te.git(dir, "commit", "-q", "-m", msg)
	return te.git(dir, "rev-parse", "HEAD")
}

// serve runs m's endpoint on loopback with the given tokens and returns
// the base URL.
func (te *testEnv) serve(m *Mirror, tokens ...Token) (*Endpoint, string) {
	e := &Endpoint{Mirror: m, Tokens: tokens}
	srv := httptest.NewServer(e)
	te.t.Cleanup(srv.Close)
	return e, srv.URL
}

// url is the clone URL of m at base for token.
func url(base, project, token string) string {
	return strings.Replace(base, "http://", "http://"+token+":x@", 1) + "/" + project + ".git"
}
