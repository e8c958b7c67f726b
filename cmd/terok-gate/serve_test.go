package gatecmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/gate"
	"github.com/terok-ai/terok-go/lib/project"
	"github.com/terok-ai/terok-go/lib/testenv"
)

// TestServeWithRealGit runs `terok-gate serve` on loopback and clones from
// and pushes to it with the stock git client: what a task does.
func TestServeWithRealGit(t *testing.T) {
	testenv.Tool(t, "git", "git")
	root := t.TempDir()
	vars := map[string]string{
		"TEROK_CONFIG_DIR": root + "/config", "TEROK_STATE_DIR": root + "/state",
		"TEROK_DATA_DIR": root + "/data", "TEROK_RUNTIME_DIR": root + "/run",
		"HOME": root + "/home", "PATH": os.Getenv("PATH"), "GIT_CONFIG_NOSYSTEM": "1",
		"GIT_TERMINAL_PROMPT": "0", "GIT_AUTHOR_NAME": "Agent", "GIT_AUTHOR_EMAIL": "agent@example.com",
		"GIT_COMMITTER_NAME": "Agent", "GIT_COMMITTER_EMAIL": "agent@example.com",
	}
	var environ []string
	for k, v := range vars {
		environ = append(environ, k+"="+v)
	}
	git := func(dir string, ok bool, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir, cmd.Env = dir, environ
		out, err := cmd.CombinedOutput()
		if (err == nil) != ok {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	up := filepath.Join(root, "up")
	git(root, true, "init", "-q", "-b", "main", up)
	git(up, true, "commit", "-q", "--allow-empty", "-m", "first")
	paths, _ := config.ResolvePaths(func(k string) string { return vars[k] }, os.Getuid())
	p := config.DefaultProject()
	p.Upstream = up
	if err := (project.Store{Paths: paths}).Create("demo", p); err != nil {
		t.Fatal(err)
	}
	run := func(ctx context.Context, stdout io.Writer, args ...string) (int, string) {
		var errb bytes.Buffer
		env := &cli.Env{Ctx: ctx, Prog: "terok-gate", Stdin: strings.NewReader(""), Stdout: stdout, Stderr: &errb,
			Getenv: func(k string) string { return vars[k] }}
		return cli.Run(Command, args, env), errb.String()
	}
	if code, errs := run(context.Background(), io.Discard, "sync", "demo"); code != 0 {
		t.Fatalf("sync: %d %s", code, errs)
	}
	token := "3f9a0c1e7b2d4a6f8e0c2b4d"
	tf := filepath.Join(root, "token")
	if err := os.WriteFile(tf, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	var serveErr string
	go func() {
		code, errs := run(ctx, pw, "serve", "demo", "--listen", "127.0.0.1:0", "--token-file", tf, "--task", "t1")
		serveErr = errs
		_ = pw.Close() // a PipeWriter's Close returns nil
		done <- code
	}()
	events := bufio.NewScanner(pr)
	if !events.Scan() {
		t.Fatalf("serve printed nothing: %s", serveErr)
	}
	var l Listening
	if err := json.Unmarshal(events.Bytes(), &l); err != nil || l.Type != "listening" || l.Task != "t1" ||
		!strings.HasPrefix(l.URL, "http://127.0.0.1:") || !strings.HasSuffix(l.URL, "/demo.git") {
		t.Fatalf("%v %s", err, events.Text())
	}
	lines := make(chan gate.AuditEntry, 100)
	go func() {
		for events.Scan() {
			var e gate.AuditEntry
			_ = json.Unmarshal(events.Bytes(), &e) // a line that is not an entry arrives empty and fails the checks
			lines <- e
		}
		close(lines)
	}()
	next := func() gate.AuditEntry {
		t.Helper()
		select {
		case e := <-lines:
			return e
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
		}
		return gate.AuditEntry{}
	}

	// The token as the user name (empty password), and as the password.
	asUser := strings.Replace(l.URL, "http://", "http://"+token+":@", 1)
	asPass := strings.Replace(l.URL, "http://", "http://task:"+token+"@", 1)
	w := filepath.Join(root, "w")
	git(root, true, "clone", "-q", asUser, w)
	git(w, true, "checkout", "-q", "-b", "work")
	git(w, true, "commit", "-q", "--allow-empty", "-m", "work")
	git(w, true, "push", "-q", asPass, "work")
	if e := next(); e.Type != "push" || !e.Accepted || e.Ref != "refs/heads/work" || e.Task != "t1" || e.Project != "demo" {
		t.Fatalf("%+v", e)
	}
	out := git(w, false, "push", asUser, "HEAD:main")
	if !strings.Contains(out, "! [remote rejected] HEAD -> main (protected branch") {
		t.Fatalf("push to main:\n%s", out)
	}
	if e := next(); e.Accepted || !strings.Contains(e.Reason, "protected") {
		t.Fatalf("%+v", e)
	}
	out = git(w, false, "ls-remote", strings.Replace(l.URL, "http://", "http://wrong-token-000000000:@", 1))
	if !strings.Contains(out, "Authentication failed") {
		t.Fatalf("wrong token:\n%s", out)
	}
	if e := next(); e.Type != "auth" || e.Accepted {
		t.Fatalf("%+v", e)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d: %s", code, serveErr)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
}
