package clearancecmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/clearance"
	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/warden"
	"github.com/terok-ai/terok-go/lib/warden/clearsvc"
)

// fakeShield stands in for a task's shield service (a real one needs a
// task's network namespace; the end-to-end tests in cmd/terok use real
// tasks): it records the changes asked of it.
type fakeShield struct {
	mu      sync.Mutex
	changes []string
}

func (f *fakeShield) Change(op warden.Op, ts []config.Target, _ string, d time.Duration) (warden.Rules, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range ts {
		c := string(op) + " " + t.String()
		if d > 0 {
			c += " " + d.String()
		}
		f.changes = append(f.changes, c)
	}
	return warden.Rules{}, nil
}

func (f *fakeShield) AuditClearance(clearance.AuditRecord) {}

func (f *fakeShield) got() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.changes, ";")
}

type fixture struct {
	vars   map[string]string
	svc    *clearsvc.Service
	shield *fakeShield
	proj   string // the project's project.toml
}

const taskID = "aaaa2345"

// newFixture is terok's directories with one running task's clearance
// service (the real one, behind the real control socket) and its
// project's project.toml.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir, err := os.MkdirTemp("", "clr") // short: a socket path is at most 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	f := &fixture{vars: map[string]string{"HOME": dir}}
	for _, k := range []string{"CONFIG", "STATE", "DATA", "RUNTIME", "CACHE"} {
		d := filepath.Join(dir, strings.ToLower(k))
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		f.vars["TEROK_"+k+"_DIR"] = d
	}
	f.vars["XDG_RUNTIME_DIR"] = f.vars["TEROK_RUNTIME_DIR"]
	f.proj = filepath.Join(f.vars["TEROK_CONFIG_DIR"], "projects", "proj", "project.toml")
	if err := os.MkdirAll(filepath.Dir(f.proj), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.proj, []byte("# mine\n[shield]\nprofiles = [\"base\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.shield = &fakeShield{}
	f.svc = clearsvc.New(clearsvc.Config{Project: "proj", Shield: f.shield})
	if err := f.svc.Start(context.Background(), &warden.Task{ID: taskID}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { _ = f.svc.Close(); cancel() })
	if _, err := warden.ServeControl(ctx, warden.ControlPath(f.vars["TEROK_RUNTIME_DIR"], taskID), f.svc.Handle); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) attempt(dest string) clearance.Request {
	f.svc.Attempt(clearance.Attempt{Dest: dest, Port: 443, Proto: clearance.ProtoTCP, Kind: clearance.KindBlocked})
	c := warden.NewClient(f.vars["TEROK_RUNTIME_DIR"], taskID)
	rs, _ := c.Pending(context.Background())
	for _, r := range rs {
		if r.Dest == dest {
			return r
		}
	}
	panic("no request for " + dest)
}

// run runs terok-clearance with args, stdin and no terminal.
func (f *fixture) run(ctx context.Context, stdin io.Reader, args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	env := &cli.Env{Ctx: ctx, Prog: "terok-clearance", Stdin: stdin, Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return f.vars[k] }}
	code := cli.Run(Command, args, env)
	return out.String(), errb.String(), code
}

func decodeEvents(t *testing.T, out string) []clearance.Event {
	t.Helper()
	var evs []clearance.Event
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var ev clearance.Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// ls lists, allow by id applies once, a second verdict on it is refused as
// not pending (exit 4), a garbage id is a usage error.
func TestAllowByID(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := f.attempt("api.example")
	out, _, code := f.run(ctx, nil, "ls")
	if code != 0 || len(decodeEvents(t, out)) != 1 || !strings.Contains(out, r.ID) {
		t.Fatalf("ls %d: %s", code, out)
	}
	out, errs, code := f.run(ctx, nil, "allow", r.ID)
	evs := decodeEvents(t, out)
	if code != 0 || len(evs) != 1 || evs[0].Type != clearance.EventDecided || evs[0].Surface != clearance.SurfaceCLI || evs[0].Scope != clearance.ScopeOnce {
		t.Fatalf("allow %d: %s %s", code, out, errs)
	}
	if got := f.shield.got(); got != "allow api.example" {
		t.Fatalf("changes %q", got)
	}
	_, errs, code = f.run(ctx, nil, "deny", r.ID)
	if code != cli.ExitNotFound || !strings.Contains(errs, "not pending") || strings.Count(errs, "\n") > 1 {
		t.Fatalf("stale deny %d: %s", code, errs)
	}
	_, _, code = f.run(ctx, nil, "allow", "nonsense")
	if code != cli.ExitUsage {
		t.Fatalf("garbage id: %d", code)
	}
	if got := f.shield.got(); got != "allow api.example" {
		t.Fatalf("a refused verdict changed %q", got)
	}
	// A temporary allow.
	r2 := f.attempt("tmp.example")
	if _, errs, code := f.run(ctx, nil, "allow", "--for", "90s", r2.ID); code != 0 {
		t.Fatalf("allow --for %d: %s", code, errs)
	}
	if got := f.shield.got(); got != "allow api.example;allow tmp.example 1m30s" {
		t.Fatalf("changes %q", got)
	}
	if _, _, code := f.run(ctx, nil, "allow", "--for", "25h", r2.ID); code != cli.ExitUsage {
		t.Fatalf("--for 25h: %d", code)
	}
}

// allow - takes id, task and dest from each line as it comes; a line whose
// dest is not its request's and a stale id are refused with a one-line
// error each and change nothing; decided lines and repeats are skipped.
func TestAllowLines(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.attempt("a.example")
	b := f.attempt("b.example")
	line := func(r clearance.Request, typ clearance.EventType, dest string) string {
		r.Dest = dest
		bs, _ := json.Marshal(clearance.Event{Type: typ, Request: r})
		return string(bs) + "\n"
	}
	in := line(a, clearance.EventPending, "evil.example") + // mismatched destination
		line(b, clearance.EventDecided, "b.example") + // a decided line: skipped
		line(b, clearance.EventPending, "b.example") +
		line(b, clearance.EventUpdated, "b.example") + // a repeat: skipped
		line(b, clearance.EventPending, "b.example") + // likewise
		"\n"
	out, errs, code := f.run(ctx, strings.NewReader(in), "allow", "-")
	evs := decodeEvents(t, out)
	if code != 1 || len(evs) != 1 || evs[0].ID != b.ID || evs[0].Surface != clearance.SurfaceJSON {
		t.Fatalf("allow - %d: %s\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "destination does not match") || !strings.Contains(errs, "nothing changed") || !strings.Contains(errs, "1 of 2 verdicts") {
		t.Fatalf("stderr: %s", errs)
	}
	if got := f.shield.got(); got != "allow b.example" {
		t.Fatalf("changes %q", got)
	}
	// b again, now stale: refused.
	_, errs, code = f.run(ctx, strings.NewReader(line(b, clearance.EventPending, "b.example")), "deny", "-")
	if code != 1 || !strings.Contains(errs, "already decided") {
		t.Fatalf("stale %d: %s", code, errs)
	}
	if got := f.shield.got(); got != "allow b.example" {
		t.Fatalf("changes %q", got)
	}
}

// --project writes the project's rule: refused without a terminal and
// without --yes (nothing changes), done with --yes.
func TestAllowProject(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := f.attempt("api.example")
	_, errs, code := f.run(ctx, nil, "allow", "--project", r.ID)
	if code != cli.ExitUsage || !strings.Contains(errs, "--yes") {
		t.Fatalf("--project without --yes %d: %s", code, errs)
	}
	if got := f.shield.got(); got != "" {
		t.Fatalf("changes %q", got)
	}
	if _, _, code := f.run(ctx, nil, "allow", "--project", "--for", "1m", r.ID); code != cli.ExitUsage {
		t.Fatalf("--project --for: %d", code)
	}
	out, errs, code := f.run(ctx, nil, "allow", "--project", "--yes", r.ID)
	if code != 0 || !strings.Contains(out, `"scope":"project"`) {
		t.Fatalf("--project --yes %d: %s %s", code, out, errs)
	}
	b, _ := os.ReadFile(f.proj)
	if string(b) != "# mine\n[shield]\nallow = [\"api.example\"]\nprofiles = [\"base\"]\n" {
		t.Fatalf("project.toml:\n%s", b)
	}
	// deny --project through stdin takes it off allow and onto deny.
	r2 := f.attempt("api.example")
	in, _ := json.Marshal(r2)
	if _, errs, code := f.run(ctx, bytes.NewReader(in), "deny", "--project", "--yes", "-"); code != 0 {
		t.Fatalf("deny --project - %d: %s", code, errs)
	}
	b, _ = os.ReadFile(f.proj)
	if string(b) != "# mine\n[shield]\ndeny = [\"api.example\"]\nallow = []\nprofiles = [\"base\"]\n" {
		t.Fatalf("project.toml:\n%s", b)
	}
}

// watch prints the pending requests, then each event, as JSON lines; its
// lines piped into allow - decide them.
func TestWatchIntoAllow(t *testing.T) {
	f := newFixture(t)
	early := f.attempt("early.example")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	watchOut := &lockedBuf{}
	watchDone := make(chan int, 1)
	go func() {
		env := &cli.Env{Ctx: ctx, Prog: "terok-clearance", Stdin: strings.NewReader(""), Stdout: io.MultiWriter(pw, watchOut), Stderr: io.Discard,
			Getenv: func(k string) string { return f.vars[k] }}
		watchDone <- cli.Run(Command, []string{"watch"}, env)
		_ = pw.Close()
	}()
	// The Go form of `watch | jq -c 'select(.dest == "late.example")' | allow -`.
	sel, sw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"dest":"late.example"`) {
				_, _ = sw.Write(append(sc.Bytes(), '\n'))
			}
		}
		_ = sw.Close()
	}()
	allowDone := make(chan string, 1)
	go func() {
		out, _, _ := f.run(ctx, sel, "allow", "-")
		allowDone <- out
	}()
	// Not f.attempt: the pipeline may decide the request before a Pending
	// after it could list it. Its id is read from what watch printed.
	f.svc.Attempt(clearance.Attempt{Dest: "late.example", Port: 443, Proto: clearance.ProtoTCP, Kind: clearance.KindBlocked})
	deadline := time.Now().Add(5 * time.Second)
	for f.shield.got() == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := f.shield.got(); got != "allow late.example" {
		t.Fatalf("changes %q; watch printed:\n%s", got, watchOut.String())
	}
	for !strings.Contains(watchOut.String(), `"type":"decided"`) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-watchDone
	<-allowDone
	evs := decodeEvents(t, watchOut.String())
	if len(evs) != 3 || evs[0].ID != early.ID || evs[1].Dest != "late.example" || evs[1].Type != clearance.EventPending ||
		evs[2].ID != evs[1].ID || evs[2].Type != clearance.EventDecided {
		t.Fatalf("watch printed %+v", evs)
	}
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Bare, without a terminal: the usage, exit 2.
func TestBareWithoutTerminal(t *testing.T) {
	f := newFixture(t)
	_, errs, code := f.run(context.Background(), nil)
	if code != cli.ExitUsage || !strings.Contains(errs, "usage: terok-clearance") {
		t.Fatalf("bare %d: %s", code, errs)
	}
}

// What a task chose is shown sanitised in the table.
func TestTableSanitises(t *testing.T) {
	var out bytes.Buffer
	env := &cli.Env{Stdout: &out, StdoutTTY: true}
	s := eventStream(env)
	_ = s.Print(clearance.Event{Type: clearance.EventPending, Request: clearance.Request{Task: taskID, Dest: "\x1b[31mred<b>.example\u202e", Port: 443, Proto: "tcp"}})
	if strings.ContainsAny(out.String(), "\x1b\u202e") || !strings.Contains(out.String(), `\x1b\x5b31mred<b>.example\u202e:443/tcp`) {
		t.Fatalf("table:\n%q", out.String())
	}
}
