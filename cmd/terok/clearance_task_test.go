package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/clearance"
	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/testenv"
)

// clearTask is a running task (sleep 300) of the end-to-end tests of the
// clearance and of name-bound egress.
type clearTask struct {
	ID, Container string
}

func (c clearTask) in(cmd string) (string, bool) {
	b, err := exec.Command("podman", "exec", c.Container, "sh", "-c", cmd).CombinedOutput()
	return strings.TrimSpace(string(b)), err == nil
}

func (c clearTask) bash(cmd string) (string, bool) {
	b, err := exec.Command("podman", "exec", c.Container, "bash", "-c", cmd).CombinedOutput()
	return strings.TrimSpace(string(b)), err == nil
}

// startClearTask starts one in project proj, removed when the test ends,
// and waits until its entry point is done.
func startClearTask(t *testing.T, e *taskEnv, proj string) clearTask {
	t.Helper()
	var task clearTask
	decodeJSON(t, e.must("terok-task", "run", "--detach", proj, "--agent", "command", "sleep 300"), &task)
	t.Cleanup(func() { e.run("", "terok-task", "rm", "--force", "--yes", task.ID) })
	waitEntry(t, task.in)
	return task
}

// eventLines follows a command's JSON lines of clearance events.
func eventLines(t *testing.T, e *taskEnv, args ...string) <-chan clearance.Event {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = e.env
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ch := make(chan clearance.Event, 100)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var ev clearance.Event
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				ch <- ev
			}
		}
	}()
	return ch
}

// next is the first event from ch that ok takes, within d.
func next(t *testing.T, ch <-chan clearance.Event, d time.Duration, what string, ok func(clearance.Event) bool) clearance.Event {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev, open := <-ch:
			if !open {
				t.Fatalf("the stream ended before %s", what)
			}
			if ok(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s within %s", what, d)
		}
	}
}

// retry runs cmd in the task until it succeeds, for up to d.
func retry(task clearTask, cmd string, d time.Duration) (string, bool) {
	deadline := time.Now().Add(d)
	for {
		o, ok := task.in(cmd)
		if ok || time.Now().After(deadline) {
			return o, ok
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// terok-clearance end to end with real tasks and a real shield: a blocked
// connection is a request in watch; a verdict for another destination and
// a stale id are refused and change nothing; `watch | jq | allow -`
// approves it and the task's next attempt goes through; `allow --project
// --yes` writes the project's rule and a new task of the project reaches
// the destination at once; the picker on a real terminal (tmux, gum)
// shows a refused name and Allow once lets the task resolve it; nothing of
// the wardens' control sockets is reachable from inside the task.
func TestClearanceEndToEnd(t *testing.T) {
	e := newTaskEnv(t)
	testenv.Need(t, fileExists(filepath.Join(shield.HooksDirDistribution, shield.HookFile)),
		"the shield's OCI hook is not registered (terok setup; scripts/test does)")
	testenv.Tool(t, "jq", "jq")
	inet := newInternet(t) // 198.51.100.3 and .4 serve HTTP; a task reaches neither by default
	conf := envValue(e.env, "TEROK_CONFIG_DIR")
	writeShieldConfig(t, conf)
	e.must("terok-project", "new", "tcl", "--agents", "command")
	projFile := filepath.Join(conf, "projects", "tcl", "project.toml")
	e.must("terok-image", "build", "tcl")
	a := startClearTask(t, e, "tcl")

	watch := eventLines(t, e, "terok-clearance", "watch", "--task", a.ID)
	time.Sleep(500 * time.Millisecond)
	get := func(addr string) string {
		return "curl -sS -m 5 -o /dev/null -w '%{http_code}' http://" + addr + "/"
	}
	if o, ok := a.in(get(inetOther)); ok {
		t.Fatalf("the task reached %s before any verdict: %s", inetOther, o)
	}
	req := next(t, watch, 10*time.Second, "pending request for "+inetOther, func(ev clearance.Event) bool {
		return ev.Type == clearance.EventPending && ev.Dest == inetOther
	})
	if req.Task != a.ID || req.Project != "tcl" || req.Port != 80 || req.Proto != "tcp" || req.Kind != clearance.KindBlocked || !clearance.ValidID(req.ID) {
		t.Fatalf("request %+v", req)
	}
	if ls := e.must("terok-clearance", "ls"); !strings.Contains(ls, `"id":"`+req.ID+`"`) {
		t.Fatalf("ls lacks the request: %s", ls)
	}

	// A verdict for another destination is refused, with one line, and
	// changes nothing.
	forged := req
	forged.Dest = inetDown
	line, _ := json.Marshal(clearance.Event{Type: clearance.EventPending, Request: forged.Request})
	_, errs, code := e.run(string(line)+"\n", "terok-clearance", "allow", "-")
	if code == 0 || !strings.Contains(errs, "destination does not match") {
		t.Fatalf("a mismatched verdict: exit %d: %s", code, errs)
	}
	if o, ok := a.in(get(inetOther)); ok {
		t.Fatalf("a refused verdict opened %s: %s", inetOther, o)
	}
	if o, ok := a.in(get(inetDown)); ok {
		t.Fatalf("a refused verdict opened %s: %s", inetDown, o)
	}

	// The pipeline: watch | jq | allow -, as a person would type it.
	pipe := exec.Command("sh", "-c", `terok-clearance watch | jq -c --unbuffered 'select(.type == "pending" and .dest == "`+inetOther+`")' | terok-clearance allow -`)
	pipe.Env = e.env
	pipe.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := pipe.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(-pipe.Process.Pid, syscall.SIGTERM); _ = pipe.Wait() }()
	dec := next(t, watch, 15*time.Second, "verdict", func(ev clearance.Event) bool {
		return ev.Type == clearance.EventDecided && ev.ID == req.ID
	})
	if dec.Action != clearance.Allow || dec.Scope != clearance.ScopeOnce || dec.Surface != clearance.SurfaceJSON || dec.Who == nil || dec.Error != "" {
		t.Fatalf("verdict %+v", dec)
	}
	hits := inet.httpHits.Load()
	if o, ok := a.in(get(inetOther)); !ok || o != "200" {
		t.Fatalf("after the allow: %q", o)
	}
	if inet.httpHits.Load() == hits {
		t.Fatal("the allowed request never reached the server")
	}
	_ = syscall.Kill(-pipe.Process.Pid, syscall.SIGTERM)

	// The same id again: stale, refused, exit 4.
	if _, errs, code := e.run("", "terok-clearance", "deny", req.ID); code != 4 || !strings.Contains(errs, "not pending") {
		t.Fatalf("a stale id: exit %d: %s", code, errs)
	}
	if o, ok := a.in(get(inetOther)); !ok || o != "200" {
		t.Fatalf("a refused stale verdict changed the task: %q", o)
	}

	// allow --project: refused without a terminal and without --yes; with
	// --yes the project's file gets the rule, and a new task has it.
	if o, ok := a.in(get(inetDown)); ok {
		t.Fatalf("the task reached %s: %s", inetDown, o)
	}
	// Its request came with the refused verdict's check above; ls has it.
	var down clearance.Request
	for _, l := range strings.Split(strings.TrimSpace(e.must("terok-clearance", "ls", "--task", a.ID)), "\n") {
		var r clearance.Request
		if json.Unmarshal([]byte(l), &r) == nil && r.Dest == inetDown {
			down = r
		}
	}
	if down.ID == "" {
		t.Fatalf("no pending request for %s", inetDown)
	}
	before, _ := os.ReadFile(projFile)
	if _, errs, code := e.run("", "terok-clearance", "allow", "--project", down.ID); code != 2 || !strings.Contains(errs, "--yes") {
		t.Fatalf("--project without --yes: exit %d: %s", code, errs)
	}
	if b, _ := os.ReadFile(projFile); string(b) != string(before) {
		t.Fatal("a refused --project changed project.toml")
	}
	out := e.must("terok-clearance", "allow", "--project", "--yes", down.ID)
	if !strings.Contains(out, `"scope":"project"`) || !strings.Contains(out, `"surface":"cli"`) {
		t.Fatalf("allow --project: %s", out)
	}
	after, _ := os.ReadFile(projFile)
	if !strings.Contains(string(after), `"`+inetDown+`"`) || !strings.HasPrefix(string(after), strings.SplitN(string(before), "[shield]", 2)[0]) {
		t.Fatalf("project.toml after allow --project:\n%s\nbefore:\n%s", after, before)
	}
	if o, ok := a.in(get(inetDown)); !ok || o != "200" {
		t.Fatalf("the task after allow --project: %q", o)
	}
	b := startClearTask(t, e, "tcl")
	if o, ok := b.in(get(inetDown)); !ok || o != "200" {
		t.Fatalf("a new task of the project, first attempt: %q", o)
	}

	// Nothing of the clearance is reachable from inside a task: the
	// wardens' directory is not there, no unix socket of the task's
	// network namespace is a warden's, and no listening TCP port on the
	// task's loopback answers a clearance operation.
	sock := filepath.Join(envValue(e.env, "TEROK_RUNTIME_DIR"), "wardens", a.ID+".sock")
	if o, ok := a.in("test -e " + sock + " || test -e " + filepath.Dir(sock)); ok {
		t.Errorf("the task sees the wardens' directory: %s", o)
	}
	if o, ok := a.in("curl -sS -m 3 --unix-socket " + sock + " http://x/"); ok {
		t.Errorf("the task reached the control socket: %s", o)
	}
	if o, _ := a.in("cat /proc/net/unix"); strings.Contains(o, "wardens/") {
		t.Errorf("a warden's unix socket (named or abstract) is in the task's namespace:\n%s", o)
	}
	if o, _ := a.in("find / -xdev -type s 2>/dev/null"); strings.Contains(o, "warden") {
		t.Errorf("a warden's socket file inside the task:\n%s", o)
	}
	a.in("getent hosts probe.test.example") // a refused name: a pending request to look for
	probe := next(t, watch, 10*time.Second, "pending request for the probe", func(ev clearance.Event) bool {
		return ev.Type == clearance.EventPending && ev.Dest == "probe.test.example"
	})
	ports, _ := a.in(`awk 'NR > 1 && $4 == "0A" { split($2, a, ":"); print a[2] }' /proc/net/tcp /proc/net/tcp6`)
	t.Logf("listening TCP ports in the task: %q", ports)
	for _, hex := range slices.Compact(strings.Fields(ports)) {
		o, _ := a.bash(`port=$((0x` + hex + `)); exec 3<>/dev/tcp/127.0.0.1/$port 2>/dev/null || exit 0; ` +
			`printf '{"op":"clearance-pending"}\n{"op":"clearance-decide","id":"` + probe.ID + `","dest":"probe.test.example","action":"allow","scope":"once","surface":"cli"}\n' >&3; timeout 2 cat <&3; true`)
		if strings.Contains(o, probe.ID) || strings.Contains(o, `"result"`) {
			t.Errorf("port 0x%s of the task's loopback answered a clearance operation: %s", hex, o)
		}
	}
	if rs := e.must("terok-clearance", "ls", "--task", a.ID); !strings.Contains(rs, probe.ID) {
		t.Errorf("the probe's request is no longer pending: %s", rs)
	}

	// The picker on a real terminal: the pending request is shown, Allow
	// once allows it, and the task resolves the name.
	var tenv []string
	for _, kv := range e.env {
		if !strings.HasPrefix(kv, "TEROK_NO_GUM=") {
			tenv = append(tenv, kv)
		}
	}
	s := newTmux(t, append(tenv, "TERM=xterm-256color"), "terok-clearance; sleep 600")
	s.waitFor("Pending requests (1)")
	s.waitFor("probe.test.example (name)")
	s.send("Enter")
	s.waitFor("Allow once (this task)")
	s.send("Enter")
	dec = next(t, watch, 15*time.Second, "the picker's verdict", func(ev clearance.Event) bool {
		return ev.Type == clearance.EventDecided && ev.ID == probe.ID
	})
	if dec.Action != clearance.Allow || dec.Scope != clearance.ScopeOnce || dec.Surface != clearance.SurfaceTerminal {
		t.Fatalf("the picker's verdict %+v", dec)
	}
	s.waitFor("allow once via terminal")
	if o, ok := retry(a, "getent hosts probe.test.example", 5*time.Second); !ok || !strings.Contains(o, inetDNS) {
		t.Fatalf("the name after the picker's allow: %q", o)
	}
	// A new request while the picker waits shows up in it.
	s.waitFor("No pending requests")
	a.in("getent hosts second.test.example")
	s.waitFor("second.test.example (name)")
}
