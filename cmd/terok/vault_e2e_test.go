package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/testenv"
	"github.com/terok-ai/terok-go/lib/testenv/scriptedapi"
	"github.com/terok-ai/terok-go/lib/vault"
)

// agentsE2E is the shared state of TestAgentsThroughVault's subtests: one
// terok tree, one vault, one project whose image (with Claude Code and
// Codex from their npm packages) is built once.
type agentsE2E struct {
	*taskEnv
	project  string
	passfile string
	seen     map[string]bool // the tasks earlier subtests made
}

// The proof (issue 12, "Tests", first point): Claude Code, the real
// CLI from npm, in a real task, does real work through the vault. A
// scripted Anthropic Messages API on the host stands in for the provider;
// its first answer is a Bash tool call that edits a file and commits, its
// second ends the turn. The real key is stored with terok-vault; the task
// gets a phantom. Afterwards: the commit is in the gate on task/ID; the
// scripted API received the real key and never the phantom; the real key is
// nowhere in the container (its config, its file system, its processes'
// environments, searched while Claude Code runs); terok-vault audit has one
// line per request; the token dies with the task. Then the same with an
// OAuth credential imported from a Claude .credentials.json; Claude Code
// with its non-essential traffic on (stopped by the vault and the
// shield); and Codex against a scripted OpenAI Responses API.
func TestAgentsThroughVault(t *testing.T) {
	// One image for every subtest: both agents in one agent layer (npm
	// installs each in about 10 s; the layer is shared by every project
	// with the same agents, and cached once built).
	c := newAgentsE2E(t, "cc", "claude,codex")
	t.Run("claude api key", func(t *testing.T) { c.in(t).apiKey(t) })
	t.Run("claude oauth", func(t *testing.T) { c.in(t).oauth(t) })
	t.Run("claude nonessential traffic", func(t *testing.T) { c.in(t).nonessential(t) })
	t.Run("codex api key", func(t *testing.T) { c.in(t).codex(t) })
}

// OpenCode, the real CLI from npm, in a real task, through the vault
// against the scripted Anthropic API: a test of its own, with a project of
// its own, so that TestAgentsThroughVault's image is not rebuilt with a
// third agent (OpenCode's agent layer alone builds in about 25 s).
func TestOpenCodeThroughVault(t *testing.T) {
	c := newAgentsE2E(t, "oc", "opencode")
	c.opencode(t)
}

// newAgentsE2E makes the shared state of a test of real agents: a terok
// tree, a vault that a passphrase_command opens, and a project of the
// given agents (its upstream a repository made here), its image built.
func newAgentsE2E(t *testing.T, project, agents string) *agentsE2E {
	e := newTaskEnv(t)
	testenv.Need(t, shield.HookRegistered(shield.HooksDirDistribution, []string{shield.HooksDirDistribution}) &&
		fileExists(filepath.Join(shield.HooksDirDistribution, shield.HookFile)),
		"the shield's OCI hook is not registered (terok setup; scripts/test does)")
	git := testenv.Tool(t, "git", "git")
	e.removeAllTasks()
	c := &agentsE2E{taskEnv: e, project: project, seen: map[string]bool{}}

	// The vault, opened without a terminal by a passphrase_command.
	c.passfile = filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(c.passfile, []byte("e2e vault passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := e.mustIn("e2e vault passphrase\n", "terok-vault", "init", "--passphrase-stdin")
	var ini struct{ Type, Recovery string }
	decodeJSON(t, out, &ini)
	if ini.Type != "initialized" || ini.Recovery == "" {
		t.Fatalf("terok-vault init: %s", out)
	}

	// The project: an upstream repository made here.
	upstream := filepath.Join(t.TempDir(), "upstream")
	for _, args := range [][]string{
		{"init", "-q", "-b", "main", upstream},
		{"-C", upstream, "-c", "user.name=Test", "-c", "user.email=test@example.com", "commit", "-q", "--allow-empty", "-m", "initial commit"},
	} {
		if b, err := exec.Command(git, args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, b)
		}
	}
	e.must("terok-project", "new", c.project, "--upstream", upstream, "--agents", agents)
	start := time.Now()
	e.must("terok-image", "build", c.project)
	t.Logf("terok-image build of a project with %s: %s", agents, time.Since(start).Round(time.Millisecond))
	return c
}

// in is the shared state for a subtest: its own test, the same tree.
func (c *agentsE2E) in(t *testing.T) *agentsE2E {
	sub := *c
	sub.taskEnv = &taskEnv{t: t, env: c.env}
	return &sub
}

// mustIn runs a command with stdin and fails the test unless it exits 0.
func (e *taskEnv) mustIn(stdin string, args ...string) string {
	e.t.Helper()
	out, errs, code := e.run(stdin, args...)
	if code != 0 {
		e.t.Fatalf("%v exited %d:\n%s%s", args, code, out, errs)
	}
	return out
}

// secret makes a credential of the given shape whose middle is random: a
// half of it (its search key) can be searched for without the whole ever
// being written anywhere by the test.
func secret(t *testing.T, prefix string) (whole, half string) {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	h := hex.EncodeToString(b)
	return prefix + h + "-e2e", h[:16]
}

// useProvider points the vault's anthropic route at the scripted API. Its
// token endpoint is the scripted API too, so that a refresh, if one were
// tried, would be seen there and not go out.
func (c *agentsE2E) useProvider(api *scriptedapi.Server) {
	c.t.Helper()
	conf := fmt.Sprintf("[vault]\npassphrase_command = [\"cat\", %q]\n\n[vault.providers.anthropic]\nupstream = %q\ntoken_url = %q\n",
		c.passfile, api.URL, api.URL+"/v1/oauth/token")
	dir := c.getenv("TEROK_CONFIG_DIR")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(conf), 0o600); err != nil {
		c.t.Fatal(err)
	}
}

// runResult is a finished terok-task run.
type runResult struct {
	out, errs string
	code      int
}

// startRun starts `terok-task run PROJECT --agent claude PROMPT`, headless
// and in the foreground as a person runs it, and returns its task's id
// once the task exists, and a channel that gets the run's result.
func (c *agentsE2E) startRun(prompt string) (string, <-chan runResult) {
	return c.startAgent("claude", prompt)
}

// startAgent is startRun with another agent.
func (c *agentsE2E) startAgent(agent, prompt string) (string, <-chan runResult) {
	c.t.Helper()
	done := make(chan runResult, 1)
	cmd := exec.Command("terok-task", "run", c.project, "--agent", agent, "--timeout", "5m", prompt)
	cmd.Env = c.env
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() {
		err := cmd.Wait()
		r := runResult{out.String(), errs.String(), 0}
		var xe *exec.ExitError
		if errors.As(err, &xe) {
			r.code = xe.ExitCode()
		} else if err != nil {
			r.code, r.errs = -1, r.errs+err.Error()
		}
		done <- r
	}()
	for range 600 {
		for _, id := range strings.Fields(c.must("terok-task", "ls", "-q", "--project", c.project)) {
			if !c.seen[id] {
				c.seen[id] = true
				return id, done
			}
		}
		select {
		case r := <-done:
			c.t.Fatalf("terok-task run ended (%d) before its task was listed:\n%s%s", r.code, r.out, r.errs)
		case <-time.After(100 * time.Millisecond):
		}
	}
	c.t.Fatal("terok-task run made no task in a minute")
	return "", nil
}

// finish waits for a run and checks that it, and Claude Code in it, ended
// well.
func (c *agentsE2E) finish(id string, done <-chan runResult) string {
	c.t.Helper()
	out := c.finishAgent(id, done)
	// Claude Code's own last word (stream-json): a result without error.
	if !strings.Contains(out, `\"type\":\"result\"`) || !strings.Contains(out, `\"is_error\":false`) {
		c.t.Fatalf("Claude Code reported no successful result")
	}
	return out
}

// finishAgent waits for a run and checks that it ended with exit 0.
func (c *agentsE2E) finishAgent(id string, done <-chan runResult) string {
	c.t.Helper()
	var r runResult
	select {
	case r = <-done:
	case <-time.After(6 * time.Minute):
		c.t.Fatalf("terok-task run of %s did not end", id)
	}
	c.t.Logf("terok-task run %s: exit %d\n%s%s", id, r.code, r.out, r.errs)
	if r.code != 0 {
		c.t.Fatalf("terok-task run exited %d", r.code)
	}
	if got, status, code := exitLine(c.t, r.out); got != id || status != "exited" || code != 0 {
		c.t.Fatalf("exit line: %s %s %d", got, status, code)
	}
	return r.out
}

// container is a task's container name.
func (c *agentsE2E) container(id string) string {
	c.t.Helper()
	var v struct{ Container string }
	decodeJSON(c.t, c.must("terok-task", "show", id), &v)
	if v.Container == "" {
		c.t.Fatalf("no container for %s", id)
	}
	return v.Container
}

// inspect checks what Podman keeps of a task's container: the phantom in
// tokenEnv, the proxy as the base URL, and no trace of the real
// credential anywhere in the inspect JSON.
func (c *agentsE2E) inspect(id, tokenEnv, absentEnv, realHalf string) {
	c.t.Helper()
	c.inspectEnv(id, tokenEnv, absentEnv, "ANTHROPIC_BASE_URL", "http://127.0.0.1:9419", realHalf)
}

// inspectEnv is inspect for any agent's variables.
func (c *agentsE2E) inspectEnv(id, tokenEnv, absentEnv, baseEnv, baseURL, realHalf string) {
	c.t.Helper()
	raw, err := exec.Command("podman", "inspect", c.container(id)).Output()
	if err != nil {
		c.t.Fatal(err)
	}
	var insp []struct{ Config struct{ Env []string } }
	if err := json.Unmarshal(raw, &insp); err != nil || len(insp) != 1 {
		c.t.Fatalf("podman inspect: %v", err)
	}
	env := insp[0].Config.Env
	if v := envValue(env, tokenEnv); !strings.HasPrefix(v, vault.PhantomPrefix) {
		c.t.Errorf("the container's %s is %q, want a phantom", tokenEnv, v)
	}
	if v := envValue(env, absentEnv); absentEnv != "" && v != "" {
		c.t.Errorf("the container has %s=%q", absentEnv, v)
	}
	if v := envValue(env, baseEnv); v != baseURL {
		c.t.Errorf("the container's %s is %q, want the task's vault proxy %s", baseEnv, v, baseURL)
	}
	if bytes.Contains(raw, []byte(realHalf)) {
		c.t.Errorf("the real credential is in podman inspect of %s", id)
	}
}

// auditOK waits for the vault's audit lines of a task and checks that
// there is one per request the provider received, each ok.
func (c *agentsE2E) auditOK(id string, requests int) {
	c.t.Helper()
	c.auditOKFor(id, "anthropic", "/v1/messages", requests)
}

// auditOKFor is auditOK for any provider and model path.
func (c *agentsE2E) auditOKFor(id, provider, path string, requests int) {
	c.t.Helper()
	var lines []vault.AuditEntry
	for i := 0; ; i++ {
		lines = lines[:0]
		for _, l := range strings.Split(strings.TrimSpace(c.must("terok-vault", "audit", id)), "\n") {
			if l == "" {
				continue
			}
			var a vault.AuditEntry
			decodeJSON(c.t, l, &a)
			lines = append(lines, a)
		}
		if len(lines) >= requests || i == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	messages := 0
	for _, a := range lines {
		// An agent may hang up once it has read the answer's last event,
		// before the upstream's end of the stream (Codex does): its answer
		// was whole.
		whole := a.Outcome == vault.OutcomeOK || (a.Outcome == vault.OutcomeClientGone && a.BytesOut > 0)
		if a.Task != id || a.Provider != provider || !whole || a.Status != http.StatusOK {
			c.t.Errorf("audit line %+v", a)
		}
		if a.Method == "POST" && a.Path == path {
			messages++
		}
	}
	if len(lines) != requests || messages < 2 {
		c.t.Errorf("terok-vault audit %s has %d lines (%d POST %s), the provider had %d requests", id, len(lines), messages, path, requests)
	}
}

// tokensGone checks that a finished task holds no live phantom.
func (c *agentsE2E) tokensGone(id string) {
	c.t.Helper()
	for i := 0; ; i++ {
		out := c.must("terok-vault", "tokens", id)
		if strings.TrimSpace(out) == "" {
			return
		}
		if i == 50 {
			c.t.Errorf("the finished task %s still has tokens:\n%s", id, out)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// shieldAttempts are the connections and names the task's shield blocked
// or refused, as "event target" strings.
func (c *agentsE2E) shieldAttempts(id string) []string {
	c.t.Helper()
	logs := c.must("terok-shield", "logs", id)
	c.t.Logf("terok-shield logs %s:\n%s", id, logs)
	var out []string
	for _, ev := range jsonLines(c.t, logs) {
		switch ev["event"] {
		case "blocked", "refused":
			target := ev["name"]
			if target == nil {
				target = fmt.Sprintf("%v:%v", ev["dst"], ev["port"])
			}
			out = append(out, fmt.Sprintf("%v %v", ev["event"], target))
		}
	}
	return out
}

// checkUpstream checks what the scripted API received: Claude Code's
// messages, the second carrying the tool's result, every request with
// the real credential and no phantom anywhere.
func checkUpstream(t *testing.T, api *scriptedapi.Server, resultMark string, credOK func(http.Header) bool) int {
	t.Helper()
	t.Logf("the scripted API received:\n%s", api.Summary())
	all, msgs := api.Requests(), api.Find("POST", "/v1/messages")
	if len(msgs) < 2 {
		t.Fatalf("%d POST /v1/messages, want the tool call's and the result's", len(msgs))
	}
	if !bytes.Contains(msgs[len(msgs)-1].Body, []byte(`"tool_result"`)) || !bytes.Contains(msgs[len(msgs)-1].Body, []byte(resultMark)) {
		t.Errorf("the last request lacks the tool's result %q", resultMark)
	}
	for _, r := range all {
		if !credOK(r.Header) {
			t.Errorf("%s %s reached the provider without the real credential", r.Method, r.Path)
		}
	}
	if api.Seen(vault.PhantomPrefix) {
		t.Error("a phantom token reached the provider")
	}
	return len(all)
}

// The API key: stored with terok-vault set; searched for in the container
// while Claude Code runs.
func (c *agentsE2E) apiKey(t *testing.T) {
	realKey, realHalf := secret(t, "sk-ant-api03-")
	_, marker := secret(t, "") // the prompt carries it into Claude Code's own session files
	subject := "claude: add notes.txt"
	// The tool call commits, says so, then waits for the test to have
	// searched the container while Claude Code (and the phantom in its
	// environment) is alive.
	bash := `printf 'made by Claude Code\n' > notes.txt && git add notes.txt && git commit -qm '` + subject + `' && touch /tmp/e2e-committed && ` +
		`i=0; while [ ! -e /tmp/e2e-release ] && [ $i -lt 900 ]; do sleep 0.1; i=$((i+1)); done; git log --format=%s -1`
	api := scriptedapi.NewAnthropic(scriptedapi.Script{
		Turns:      []scriptedapi.Turn{{Text: "I will add the notes and commit.", Bash: bash}, {Text: "Committed the notes."}},
		Authorized: func(h http.Header) bool { return h.Get("x-api-key") == realKey },
	})
	defer api.Close()
	c.useProvider(api)
	if out := c.mustIn(realKey+"\n", "terok-vault", "set", "anthropic"); strings.Contains(out, realHalf) {
		t.Fatalf("terok-vault set printed the key: %s", out)
	}

	id, done := c.startRun("Add notes.txt and commit it. Marker " + marker + ".")
	for i := 0; ; i++ {
		if _, _, code := c.run("", "terok-task", "exec", id, "--", "test", "-e", "/tmp/e2e-committed"); code == 0 {
			break
		}
		select {
		case r := <-done:
			t.Fatalf("the run ended (%d) before the tool call had committed:\n%s%s\nthe scripted API received:\n%s", r.code, r.out, r.errs, api.Summary())
		case <-time.After(200 * time.Millisecond):
		}
		if i == 900 {
			t.Fatalf("the tool call did not commit in three minutes; the scripted API received:\n%s", api.Summary())
		}
	}

	// Claude Code is running, blocked in its tool call. Search the
	// container as a root that may read everything (the task's own root
	// has no capabilities, so it cannot read the agent's private files):
	// every file but /proc, /sys and /dev for half the key (the test never
	// writes the whole key into the container), and every process's
	// environment, read out to the host and searched here. The prompt's
	// marker (in Claude Code's session files) and the phantom (in its
	// environment) must be found: a search that finds them looks where a
	// leak would be.
	ctr := c.container(id)
	search := func(needle string) string {
		b, _ := exec.Command("podman", "exec", "--privileged", "-u", "0", ctr, "grep", "-rlsF", "--exclude-dir=proc", "--exclude-dir=sys", "--exclude-dir=dev",
			needle, "/").Output() // grep exits 1 when nothing is found
		return strings.TrimSpace(string(b))
	}
	if files := search(realHalf); files != "" {
		t.Errorf("the real key is in the container's files:\n%s", files)
	}
	if files := search(marker); !strings.Contains(files, "/home/") {
		t.Errorf("the prompt's marker is not in Claude Code's files under /home (found: %q): the search does not look where a leak would be", files)
	}
	envs, err := exec.Command("podman", "exec", "--privileged", "-u", "0", ctr, "sh", "-c", `for f in /proc/[0-9]*/environ; do cat "$f"; echo; done 2>/dev/null`).Output()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(envs, []byte(realHalf)) {
		t.Error("the real key is in a process's environment in the container")
	}
	if !bytes.Contains(envs, []byte("ANTHROPIC_API_KEY="+vault.PhantomPrefix)) {
		t.Error("no process in the container has the phantom in ANTHROPIC_API_KEY: the search does not see Claude Code's environment")
	}
	// The agent's own view: what it can read as itself, through terok.
	if out, _, _ := c.run("", "terok-task", "exec", id, "--", "sh", "-c", `cat /proc/[0-9]*/environ 2>/dev/null | tr '\0' '\n' | grep -c '^ANTHROPIC_API_KEY=`+vault.PhantomPrefix+`'`); strings.TrimSpace(out) == "0" {
		t.Error("the agent does not see its own phantom")
	}
	c.inspect(id, "ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", realHalf)

	c.mustIn("", "terok-task", "exec", id, "--", "touch", "/tmp/e2e-release")
	c.finish(id, done)

	if log := c.must("terok-gate", "log", c.project+"/task/"+id); !strings.Contains(log, `"subject":"`+subject+`"`) {
		t.Fatalf("the gate's task/%s lacks the tool call's commit:\n%s", id, log)
	}
	n := checkUpstream(t, api, subject, func(h http.Header) bool {
		return h.Get("x-api-key") == realKey && h.Get("Authorization") == ""
	})
	c.inspect(id, "ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", realHalf)
	c.auditOK(id, n)
	c.tokensGone(id)
	// With the roster's CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC, Claude
	// Code tries nothing but the model's API.
	if tried := c.shieldAttempts(id); len(tried) != 0 {
		t.Errorf("Claude Code tried connections the shield stopped: %v", tried)
	}
}

// An OAuth credential, imported from a Claude Code .credentials.json:
// Claude Code gets the phantom in CLAUDE_CODE_OAUTH_TOKEN and the provider
// the real token as a bearer, with the OAuth beta.
func (c *agentsE2E) oauth(t *testing.T) {
	realToken, realHalf := secret(t, "sk-ant-oat01-")
	refresh, _ := secret(t, "sk-ant-ort01-")
	subject := "claude: add oauth.txt"
	api := scriptedapi.NewAnthropic(scriptedapi.Script{
		Turns: []scriptedapi.Turn{
			{Bash: `printf 'subscription\n' > oauth.txt && git add oauth.txt && git commit -qm '` + subject + `' && git log --format=%s -1`},
			{Text: "Committed."},
		},
		Authorized: func(h http.Header) bool { return h.Get("Authorization") == "Bearer "+realToken },
	})
	defer api.Close()
	c.useProvider(api)
	creds := filepath.Join(t.TempDir(), ".credentials.json")
	file, err := json.Marshal(map[string]any{"claudeAiOauth": map[string]any{
		"accessToken": realToken, "refreshToken": refresh, "expiresAt": time.Now().Add(24 * time.Hour).UnixMilli(),
		"scopes": []string{"user:inference", "user:profile", "user:sessions:claude_code"}, "subscriptionType": "max",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(creds, file, 0o600); err != nil {
		t.Fatal(err)
	}
	var imp struct{ Type, Kind string }
	decodeJSON(t, c.must("terok-vault", "import", "anthropic", creds), &imp)
	if imp.Type != "imported" || imp.Kind != "oauth" {
		t.Fatalf("terok-vault import: %+v", imp)
	}

	id, done := c.startRun("Add oauth.txt and commit it.")
	c.finish(id, done)
	if log := c.must("terok-gate", "log", c.project+"/task/"+id); !strings.Contains(log, `"subject":"`+subject+`"`) {
		t.Fatalf("the gate's task/%s lacks the tool call's commit:\n%s", id, log)
	}
	n := checkUpstream(t, api, subject, func(h http.Header) bool {
		return h.Get("Authorization") == "Bearer "+realToken && h.Get("x-api-key") == "" &&
			slices.Contains(strings.Split(h.Get("anthropic-beta"), ","), "oauth-2025-04-20")
	})
	if len(api.Find("POST", "/v1/oauth/token")) != 0 {
		t.Error("the vault tried to refresh a token a day from its expiry")
	}
	c.inspect(id, "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_API_KEY", realHalf)
	c.auditOK(id, n)
	c.tokensGone(id)
	if tried := c.shieldAttempts(id); len(tried) != 0 {
		t.Errorf("Claude Code tried connections the shield stopped: %v", tried)
	}
}

// Claude Code's non-essential traffic (telemetry, error reports, update
// checks), which the roster switches off: switched on by a user's roster
// file, it is blocked by the task's shield and shows in terok-shield logs,
// and Claude Code still does its work through the vault.
func (c *agentsE2E) nonessential(t *testing.T) {
	realKey, _ := secret(t, "sk-ant-api03-")
	api := scriptedapi.NewAnthropic(scriptedapi.Script{
		Turns:      []scriptedapi.Turn{{Bash: "printf 'chatty\\n' > chatty.txt && git add chatty.txt && git commit -qm 'claude: add chatty.txt' && git log --format=%s -1"}, {Text: "Committed."}},
		Authorized: func(h http.Header) bool { return h.Get("x-api-key") == realKey },
	})
	defer api.Close()
	c.useProvider(api)
	c.mustIn(realKey+"\n", "terok-vault", "set", "anthropic")
	agents := filepath.Join(c.getenv("TEROK_CONFIG_DIR"), "agents")
	if err := os.MkdirAll(agents, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(agents, "claude.toml"), []byte("[env]\nCLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC = \"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(filepath.Join(agents, "claude.toml"))

	id, done := c.startRun("Add chatty.txt and commit it.")
	c.finish(id, done)
	if log := c.must("terok-gate", "log", c.project+"/task/"+id); !strings.Contains(log, `"subject":"claude: add chatty.txt"`) {
		t.Fatalf("the gate's task/%s lacks the tool call's commit:\n%s", id, log)
	}
	// Only the model's requests reached the provider: Claude Code's
	// preconnect (HEAD /api/hello, without a key) was answered by the
	// vault itself, and its telemetry to the provider's real host was
	// refused by the shield, which denies the providers' hosts in every
	// task.
	t.Logf("the scripted API received:\n%s", api.Summary())
	for _, r := range api.Requests() {
		if r.Method != "POST" || r.Path != "/v1/messages" || r.Header.Get("x-api-key") != realKey {
			t.Errorf("the provider received %s %s", r.Method, r.Path)
		}
	}
	audit := c.must("terok-vault", "audit", id)
	t.Logf("terok-vault audit %s:\n%s", id, audit)
	ok := 0
	for _, a := range jsonLines(t, audit) {
		switch {
		case a["outcome"] == "ok":
			ok++
		case a["status"] == 200.0 || a["provider"] != nil:
			t.Errorf("an audit line that is neither ok nor a refusal: %v", a)
		}
	}
	if ok != len(api.Requests()) {
		t.Errorf("%d ok audit lines, %d requests upstream", ok, len(api.Requests()))
	}
	tried := c.shieldAttempts(id)
	if !slices.Contains(tried, "refused api.anthropic.com") {
		t.Errorf("the shield did not refuse Claude Code's non-essential traffic to api.anthropic.com (it stopped %v)", tried)
	}
}

// Codex, the real CLI from npm, in a real task, through the vault against
// a scripted OpenAI Responses API, with the built-in roster entry (see its
// comment and docs/decisions.md, "Claude Code end to end through the
// vault", for why it gives Codex a provider of its own).
func (c *agentsE2E) codex(t *testing.T) {
	realKey, realHalf := secret(t, "sk-proj-")
	subject := "codex: add codex.txt"
	api := scriptedapi.NewOpenAI(scriptedapi.Script{
		Turns: []scriptedapi.Turn{
			{Text: "I will commit.", Bash: `printf 'made by Codex\n' > codex.txt && git add codex.txt && git commit -qm '` + subject + `' && git log --format=%s -1`},
			{Text: "Committed."},
		},
		Authorized: func(h http.Header) bool { return h.Get("Authorization") == "Bearer "+realKey },
	})
	defer api.Close()
	conf := c.getenv("TEROK_CONFIG_DIR")
	if err := os.WriteFile(filepath.Join(conf, "config.toml"), []byte(fmt.Sprintf(
		"[vault]\npassphrase_command = [\"cat\", %q]\n\n[vault.providers.openai]\nupstream = %q\ntoken_url = %q\n",
		c.passfile, api.URL, api.URL+"/oauth/token")), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := c.mustIn(realKey+"\n", "terok-vault", "set", "openai"); strings.Contains(out, realHalf) {
		t.Fatalf("terok-vault set printed the key: %s", out)
	}
	// The built-in roster entry, as a user gets it: it points Codex at
	// the vault with -c (Codex ignores OPENAI_BASE_URL) and its home is
	// the agent's own (L1 installs with HOME=/root).
	id, done := c.startAgent("codex", "Add codex.txt and commit it.")
	c.finishAgent(id, done)
	if log := c.must("terok-gate", "log", c.project+"/task/"+id); !strings.Contains(log, `"subject":"`+subject+`"`) {
		t.Fatalf("the gate's task/%s lacks the tool call's commit:\n%s", id, log)
	}
	t.Logf("the scripted API received:\n%s", api.Summary())
	all, calls := api.Requests(), api.Find("POST", "/v1/responses")
	if len(calls) < 2 || len(all) != len(calls) {
		t.Fatalf("%d requests, %d POST /v1/responses: want the tool call's and the result's, and nothing else", len(all), len(calls))
	}
	if last := calls[len(calls)-1].Body; !bytes.Contains(last, []byte(`_call_output"`)) || !bytes.Contains(last, []byte(subject)) {
		t.Errorf("the last request lacks the tool's output %q", subject)
	}
	for _, r := range all {
		if r.Header.Get("Authorization") != "Bearer "+realKey {
			t.Errorf("%s %s reached the provider without the real key", r.Method, r.Path)
		}
	}
	if api.Seen(vault.PhantomPrefix) {
		t.Error("a phantom token reached the provider")
	}
	c.inspectEnv(id, "OPENAI_API_KEY", "", "OPENAI_BASE_URL", "http://127.0.0.1:9419/v1", realHalf)
	c.auditOKFor(id, "openai", "/v1/responses", len(all))
	c.tokensGone(id)
	// Codex's own traffic (its telemetry, plugin and update hosts) is
	// stopped by the shield; only what is seen is reported.
	t.Logf("the shield stopped: %v", c.shieldAttempts(id))
}

// OpenCode with an API key: its built-in roster entry points the AI SDK's
// Anthropic provider at the vault (ANTHROPIC_BASE_URL ending with /v1,
// the phantom in ANTHROPIC_API_KEY); the scripted API's tool call is
// OpenCode's bash tool.
func (c *agentsE2E) opencode(t *testing.T) {
	realKey, realHalf := secret(t, "sk-ant-api03-")
	subject := "opencode: add opencode.txt"
	api := scriptedapi.NewAnthropic(scriptedapi.Script{
		Turns: []scriptedapi.Turn{
			{Text: "I will commit.", Bash: `printf 'made by OpenCode\n' > opencode.txt && git add opencode.txt && git commit -qm '` + subject + `' && git log --format=%s -1`},
			{Text: "Committed."},
		},
		Authorized: func(h http.Header) bool { return h.Get("x-api-key") == realKey },
	})
	defer api.Close()
	c.useProvider(api)
	if out := c.mustIn(realKey+"\n", "terok-vault", "set", "anthropic"); strings.Contains(out, realHalf) {
		t.Fatalf("terok-vault set printed the key: %s", out)
	}
	id, done := c.startAgent("opencode", "Add opencode.txt and commit it.")
	c.finishAgent(id, done)
	if log := c.must("terok-gate", "log", c.project+"/task/"+id); !strings.Contains(log, `"subject":"`+subject+`"`) {
		t.Fatalf("the gate's task/%s lacks the tool call's commit:\n%s", id, log)
	}
	n := checkUpstream(t, api, subject, func(h http.Header) bool {
		return h.Get("x-api-key") == realKey && h.Get("Authorization") == ""
	})
	c.inspectEnv(id, "ANTHROPIC_API_KEY", "", "ANTHROPIC_BASE_URL", "http://127.0.0.1:9419/v1", realHalf)
	c.auditOK(id, n)
	c.tokensGone(id)
	// OpenCode's own traffic (its catalogue of models) is stopped by the
	// shield; only what is seen is reported.
	t.Logf("the shield stopped: %v", c.shieldAttempts(id))
}
