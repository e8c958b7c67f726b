package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/terok-ai/terok-go/lib/web/webtest"
)

// webServing is a `terok-task run --web` or `web` that serves, and the
// URL it printed.
type webServing struct {
	cmd    *exec.Cmd
	URL    string
	ID     string
	origin string
	stderr *syncBuffer
	done   chan int
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// serveWeb starts args (a web command) and reads the line with its URL.
func (e *taskEnv) serveWeb(args ...string) *webServing {
	e.t.Helper()
	w := &webServing{cmd: exec.Command(args[0], args[1:]...), stderr: &syncBuffer{}, done: make(chan int, 1)}
	w.cmd.Env = e.env
	w.cmd.Stderr = w.stderr
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		_ = w.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-w.done:
		case <-time.After(20 * time.Second):
			_ = w.cmd.Process.Kill()
		}
	})
	lines := bufio.NewReader(out)
	line, err := lines.ReadString('\n')
	if err != nil {
		e.t.Fatalf("%v printed no line: %v\n%s", args, err, w.stderr.String())
	}
	var ev struct{ Type, ID, URL string }
	if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Type != "web" || ev.URL == "" {
		e.t.Fatalf("%v printed %q (%v)", args, line, err)
	}
	u, err := url.Parse(ev.URL)
	if err != nil || u.Hostname() != "127.0.0.1" || u.Query().Get("token") == "" {
		e.t.Fatalf("the URL %q is not on 127.0.0.1 with a token", ev.URL)
	}
	w.URL, w.ID, w.origin = ev.URL, ev.ID, "http://"+u.Host
	go func() {
		_, _ = io.Copy(io.Discard, lines)
		_ = w.cmd.Wait()
		w.done <- w.cmd.ProcessState.ExitCode()
	}()
	return w
}

func (w *webServing) wait(t *testing.T) int {
	t.Helper()
	select {
	case c := <-w.done:
		return c
	case <-time.After(60 * time.Second):
		t.Fatalf("%v does not end:\n%s", w.cmd.Args, w.stderr.String())
		return -1
	}
}

// clientSizes lists the sizes of the tmux clients of the task's session.
func (e *taskEnv) clientSizes(id string) string {
	out, _, _ := e.run("", "terok-task", "exec", id, "--", "tmux", "list-clients", "-t", "=terok", "-F", "#{client_width}x#{client_height}")
	return out
}

// Web mode in a real browser with a real task: run --web serves the
// session of an interactive task (the command agent's bash); chromium
// opens the URL, types a commit, reads it back, and the window's size
// reaches the session; a view-only page of another `web` types nothing;
// exit ends the task and run --web with it, and the commit is in the gate.
func TestTaskWebSession(t *testing.T) {
	e := newTaskEnv(t)
	e.must("terok-project", "new", "tw", "--agents", "command")
	e.must("terok-image", "build", "tw")
	t.Cleanup(func() {
		if ids := e.must("terok-task", "ls", "-q"); ids != "" {
			e.run(ids, "terok-task", "rm", "--force", "--yes", "-")
		}
	})

	w := e.serveWeb("terok-task", "run", "--web", "tw")
	b := webtest.Start(t, w.origin)
	tab := b.Tab()
	if err := chromedp.Do(tab, chromedp.Navigate(w.URL)); err != nil {
		t.Fatal(err)
	}
	webtest.WaitScreen(t, tab, "C-b d detaches", 60*time.Second) // the session's status line
	webtest.WaitScreen(t, tab, "$ ", 20*time.Second)             // bash's prompt
	if err := webtest.Type(tab, "echo hi > web.txt && git add web.txt && git commit -qm web\r"); err != nil {
		t.Fatal(err)
	}
	if err := webtest.Type(tab, "git log -1 --format=%s:%h | sed s/^/logged-/\r"); err != nil {
		t.Fatal(err)
	}
	webtest.WaitScreen(t, tab, "logged-web:", 20*time.Second)
	webtest.Screenshot(t, tab, "web-task.png")

	// The window's size reaches the session's tmux client.
	if err := chromedp.Do(tab, chromedp.EmulateViewport(700, 420)); err != nil {
		t.Fatal(err)
	}
	var want, got string
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c, r, err := webtest.TermSize(tab)
		if err != nil {
			t.Fatal(err)
		}
		want = fmt.Sprintf("%dx%d", c, r)
		if got = e.clientSizes(w.ID); strings.Contains(got, want) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(got, want) {
		t.Fatalf("the session's clients are %q; the page's terminal is %s", got, want)
	}

	// A second server, view-only, in another browser profile: it shows the
	// session and types nothing into it.
	v := e.serveWeb("terok-task", "web", w.ID[:5], "--view-only")
	vb := webtest.Start(t, v.origin)
	vtab := vb.Tab()
	if err := chromedp.Do(vtab, chromedp.Navigate(v.URL)); err != nil {
		t.Fatal(err)
	}
	webtest.WaitScreen(t, vtab, "logged-web:", 30*time.Second)
	if err := webtest.Type(vtab, "touch owned\r"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if _, _, code := e.run("", "terok-task", "exec", w.ID, "--", "test", "-e", "owned"); code == 0 {
		t.Fatal("a view-only page typed into the session")
	}
	// Ctrl-C ends the serving, exit 130, and leaves the task running.
	_ = v.cmd.Process.Signal(syscall.SIGINT)
	if code := v.wait(t); code != 130 || !strings.Contains(v.stderr.String(), "runs on") {
		t.Errorf("web interrupted: exit %d:\n%s", code, v.stderr.String())
	}
	if got := e.show(w.ID); got.Status != "running" {
		t.Fatalf("after the view-only server ended, the task is %s", got.Status)
	}

	// exit ends the session and the task; run --web ends with it.
	if err := webtest.Type(tab, "exit\r"); err != nil {
		t.Fatal(err)
	}
	if code := w.wait(t); code != 0 {
		t.Fatalf("run --web exited %d after exit:\n%s", code, w.stderr.String())
	}
	if !strings.Contains(w.stderr.String(), "ended: exited, exit code 0") {
		t.Errorf("run --web does not say how the task ended:\n%s", w.stderr.String())
	}
	if log := e.must("terok-gate", "log", "tw/task/"+w.ID); !strings.Contains(log, "web") {
		t.Fatalf("the gate's task/%s lacks the commit:\n%s", w.ID, log)
	}
	if out := append(b.Outside(), vb.Outside()...); len(out) > 0 {
		t.Errorf("the pages asked for things elsewhere: %v", out)
	}
	// The ended task's session is served no more.
	if _, errs, code := e.run("", "terok-task", "web", w.ID); code != 1 || !strings.Contains(errs, "not running") {
		t.Errorf("web of an ended task: exit %d, %s", code, errs)
	}
}

// --detach leaves the serving to the task's warden: run --web --detach
// returns at once with the URL, which works while the task runs; web
// --detach adds another; stopping the task tells the pages it is over.
func TestTaskWebDetached(t *testing.T) {
	e := newTaskEnv(t)
	e.must("terok-project", "new", "twd", "--agents", "command")
	e.must("terok-image", "build", "twd")
	t.Cleanup(func() {
		if ids := e.must("terok-task", "ls", "-q"); ids != "" {
			e.run(ids, "terok-task", "rm", "--force", "--yes", "-")
		}
	})
	var ev struct{ Type, ID, URL string }
	out := e.must("terok-task", "run", "--web", "--detach", "--shell", "twd")
	if err := json.Unmarshal([]byte(out), &ev); err != nil || ev.Type != "web" || ev.URL == "" {
		t.Fatalf("run --web --detach printed %q (%v)", out, err)
	}
	u, err := url.Parse(ev.URL)
	if err != nil || u.Hostname() != "127.0.0.1" {
		t.Fatalf("the URL %q is not on 127.0.0.1", ev.URL)
	}
	b := webtest.Start(t, "http://"+u.Host)
	tab := b.Tab()
	if err := chromedp.Do(tab, chromedp.Navigate(ev.URL)); err != nil {
		t.Fatal(err)
	}
	webtest.WaitScreen(t, tab, "C-b d detaches", 60*time.Second)
	webtest.WaitScreen(t, tab, "$ ", 20*time.Second)
	if err := webtest.Type(tab, "echo detached-$((6*7))\r"); err != nil {
		t.Fatal(err)
	}
	webtest.WaitScreen(t, tab, "detached-42", 20*time.Second)

	// Another URL from the warden, view-only, in another browser.
	var ev2 struct{ URL string }
	if err := json.Unmarshal([]byte(e.must("terok-task", "web", ev.ID, "--detach", "--view-only")), &ev2); err != nil || ev2.URL == ev.URL {
		t.Fatalf("web --detach: %q (%v)", ev2.URL, err)
	}
	u2, _ := url.Parse(ev2.URL)
	b2 := webtest.Start(t, "http://"+u2.Host)
	tab2 := b2.Tab()
	if err := chromedp.Do(tab2, chromedp.Navigate(ev2.URL)); err != nil {
		t.Fatal(err)
	}
	webtest.WaitScreen(t, tab2, "detached-42", 30*time.Second)

	e.must("terok-task", "stop", ev.ID)
	deadline := time.Now().Add(30 * time.Second)
	var state string
	for time.Now().Before(deadline) {
		if state, err = chromedp.Run(tab, chromedp.Evaluate[string]("document.getElementById('state').textContent")); err == nil &&
			strings.Contains(state, "over") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(state, "over") {
		logs, _ := filepath.Glob(filepath.Join(envValue(e.env, "TEROK_STATE_DIR"), "*", "*.warden.log"))
		logs2, _ := filepath.Glob(filepath.Join(envValue(e.env, "TEROK_STATE_DIR"), "*", "*", "*.warden.log"))
		for _, l := range append(logs, logs2...) {
			b, _ := os.ReadFile(l)
			t.Logf("%s:\n%s", l, b)
		}
		t.Fatalf("after stop, the page says %q", state)
	}
	if out := append(b.Outside(), b2.Outside()...); len(out) > 0 {
		t.Errorf("the pages asked for things elsewhere: %v", out)
	}
}
