package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/clearance"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/testenv"
	"github.com/terok-ai/terok-go/lib/warden"
)

// Hold until verdict (issue #13 item 5), end to end with real tasks: a
// project with shield.clearance = "hold" has its task's resolver hold a
// name outside the policy while its request is pending. The test decides
// through the task's warden, as terok-clearance does (warden.Client's
// Pending and Decide): an allow makes the agent's first curl succeed, a
// deny fails it at once, no verdict fails it at hold_timeout; a bare
// address is dropped, not rejected, so its connection succeeds once
// allowed. The same project in refuse mode fails at once, as before. The
// names are served by the test's internet (theInternet), which the task
// may not reach by default.
func TestTaskClearanceHold(t *testing.T) {
	e := newTaskEnv(t)
	testenv.Need(t, fileExists(filepath.Join(shield.HooksDirDistribution, shield.HookFile)),
		"the shield's OCI hook is not registered (terok setup; scripts/test does)")
	inet := newInternet(t)
	e.removeAllTasks()
	conf := envValue(e.env, "TEROK_CONFIG_DIR")
	writeShieldConfig(t, conf)
	e.must("terok-project", "new", "th", "--agents", "command")
	projectFile := filepath.Join(conf, "projects", "th", "project.toml")
	const holdTimeout = 4 * time.Second // under glibc's 5 s per try, so its first try sees the refusal
	appendFile(t, projectFile, "\n[shield]\nclearance = \"hold\"\nhold_timeout = \"4s\"\n")
	e.must("terok-image", "build", "th")
	paths, err := config.ResolvePaths(e.getenv, os.Getuid())
	if err != nil {
		t.Fatal(err)
	}

	start := func() (func(string) (string, bool), *warden.Client, string) {
		out := e.must("terok-task", "run", "--detach", "th", "--agent", "command", "sleep 300")
		var task struct{ ID, Container string }
		decodeJSON(t, out, &task)
		in := func(cmd string) (string, bool) {
			b, err := exec.Command("podman", "exec", task.Container, "sh", "-c", cmd).CombinedOutput()
			return strings.TrimSpace(string(b)), err == nil
		}
		waitEntry(t, in)
		return in, warden.NewClient(paths.Runtime, task.ID), task.ID
	}
	type result struct {
		out string
		ok  bool
		at  time.Time
	}
	background := func(in func(string) (string, bool), cmd string) <-chan result {
		c := make(chan result, 1)
		go func() { o, ok := in(cmd); c <- result{o, ok, time.Now()} }()
		return c
	}
	ctx := context.Background()
	// pending waits for the task's request for dest and returns it, and
	// checks that the attempt is still held (not failed) meanwhile.
	pending := func(cl *warden.Client, dest string, c <-chan result) clearance.Request {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			ps, err := cl.Pending(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range ps {
				if r.Dest == dest {
					select {
					case res := <-c:
						t.Fatalf("%s: the attempt ended while its request is pending: %q %v", dest, res.out, res.ok)
					default:
					}
					return r
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("no pending request for %s", dest)
		return clearance.Request{}
	}
	decide := func(cl *warden.Client, r clearance.Request, a clearance.Action) time.Time {
		t.Helper()
		if _, err := cl.Decide(ctx, r.ID, r.Dest, clearance.Verdict{Action: a, Scope: clearance.ScopeOnce, Surface: clearance.SurfaceCLI}); err != nil {
			t.Fatal(err)
		}
		return time.Now()
	}
	curl := func(target string) string {
		// One stream inside the task: podman exec's two streams were seen
		// interleaved mid-line ("Could not resolve000 host").
		return "curl -sS -m 25 -o /dev/null -w '\\n%{http_code}' http://" + target + "/ 2>&1"
	}

	in, cl, id := start()
	if v := e.must("terok-shield", "verify", id); !strings.Contains(v, `"ok":true,"alive":true`) {
		t.Errorf("verify of a task in hold mode: %s", v)
	}

	// Allow: the agent's first attempt succeeds.
	hits := inet.httpHits.Load()
	c := background(in, curl("held.test.example"))
	r := pending(cl, "held.test.example", c)
	if r.Kind != clearance.KindRefused {
		t.Errorf("request %+v", r)
	}
	decided := decide(cl, r, clearance.Allow)
	res := <-c
	if !res.ok || res.out != "200" {
		t.Fatalf("the held curl after allow: %q %v", res.out, res.ok)
	}
	t.Logf("allow to the held curl's end: %s", res.at.Sub(decided))
	if inet.httpHits.Load() != hits+1 {
		t.Errorf("%d requests reached the server, want 1", inet.httpHits.Load()-hits)
	}

	// Deny: the held curl fails at once, not at the timeout.
	c = background(in, curl("denied.test.example"))
	decided = decide(cl, pending(cl, "denied.test.example", c), clearance.Deny)
	res = <-c
	if res.ok || !strings.Contains(res.out, "Could not resolve host") {
		t.Fatalf("the held curl after deny: %q %v", res.out, res.ok)
	}
	if d := res.at.Sub(decided); d > 2*time.Second {
		t.Errorf("the held curl failed %s after the deny, want at once", d)
	}
	t.Logf("deny to the held curl's end: %s", res.at.Sub(decided))
	if inet.asked("denied") {
		t.Error("a denied name was forwarded")
	}

	// No verdict: it fails at hold_timeout.
	began := time.Now()
	c = background(in, curl("late.test.example"))
	pending(cl, "late.test.example", c)
	res = <-c
	if d := res.at.Sub(began); res.ok || !strings.Contains(res.out, "Could not resolve host") || d < holdTimeout-500*time.Millisecond || d > holdTimeout+3*time.Second {
		t.Fatalf("the held curl without a verdict: %q %v after %s, want a refusal after about %s", res.out, res.ok, d, holdTimeout)
	}
	t.Logf("the held curl without a verdict failed after %s", res.at.Sub(began))
	if inet.asked("late") {
		t.Error("a name never allowed was forwarded")
	}

	// A bare address: dropped while its request is pending, so TCP's
	// retry connects once it is allowed.
	hits = inet.httpHits.Load()
	c = background(in, curl(inetOther))
	r = pending(cl, inetOther, c)
	if r.Kind != clearance.KindBlocked || r.Port != 80 || r.Proto != clearance.ProtoTCP {
		t.Errorf("request %+v", r)
	}
	decided = decide(cl, r, clearance.Allow)
	res = <-c
	if !res.ok || res.out != "200" {
		t.Fatalf("the dropped connection after allow: %q %v", res.out, res.ok)
	}
	t.Logf("allow to the dropped connection's end: %s", res.at.Sub(decided))
	if inet.httpHits.Load() != hits+1 {
		t.Errorf("%d requests reached the server, want 1", inet.httpHits.Load()-hits)
	}
	logs := e.must("terok-shield", "logs", id)
	for _, want := range []string{`"event":"request"`, `"event":"verdict"`, `"name":"held.test.example"`, `"reason":"blocked","dst":"` + inetOther + `"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the audit log lacks %s:\n%s", want, logs)
		}
	}

	// Refuse mode, the same project: a name fails at once and so does a
	// bare address (a reset: curl's exit 7).
	b, err := os.ReadFile(projectFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(projectFile, []byte(strings.Replace(string(b), `clearance = "hold"`, `clearance = "refuse"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	in, cl, _ = start()
	began = time.Now()
	if o, ok := in(curl("refused.test.example")); ok || !strings.Contains(o, "Could not resolve host") || time.Since(began) > 2*time.Second {
		t.Errorf("refuse mode, a name: %q %v after %s", o, ok, time.Since(began))
	}
	began = time.Now()
	if o, ok := in("curl -sS -m 8 -o /dev/null http://" + inetDNS + "/"); ok || !strings.Contains(o, "(7)") || time.Since(began) > 2*time.Second {
		t.Errorf("refuse mode, an address: %q %v after %s (want a refusal at once)", o, ok, time.Since(began))
	}
	ps, err := cl.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, dest := range []string{"refused.test.example", inetDNS} {
		if !slices.ContainsFunc(ps, func(r clearance.Request) bool { return r.Dest == dest }) {
			t.Errorf("refuse mode: no request for %s in %+v", dest, ps)
		}
	}
}
