package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/testenv"
	"github.com/terok-ai/terok-go/lib/vault"
)

// A scripted provider on the host: it records the credential headers of
// every request and answers like Anthropic's Messages API.
type scriptedProvider struct {
	*httptest.Server
	mu      sync.Mutex
	headers []http.Header
}

func newScriptedProvider(t *testing.T) *scriptedProvider {
	p := &scriptedProvider{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.headers = append(p.headers, r.Header.Clone())
		p.mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body) // the body is not what this provider checks
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"type":"message","content":[{"type":"text","text":"hello from the scripted provider"}]}`) // the client may be gone
	}))
	t.Cleanup(p.Close)
	return p
}

// seen is every credential header value the provider received, and how
// many requests it had.
func (p *scriptedProvider) seen() ([]string, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, h := range p.headers {
		for _, k := range []string{"X-Api-Key", "Authorization"} {
			out = append(out, h.Values(k)...)
		}
	}
	return out, len(p.headers)
}

// A test-only agent that needs no install: the command agent's shell, with
// Anthropic's vault variables.
const fakeVaultAgent = `label = "Fake vault agent"
binary = "sh"
[install]
deb = []
rpm = []
[headless]
args = ["-c", "{prompt}"]
[interactive]
binary = "bash"
args = ["-l"]
[vault]
provider = "anthropic"
token_env = "ANTHROPIC_API_KEY"
oauth_token_env = "CLAUDE_CODE_OAUTH_TOKEN"
base_url_env = "ANTHROPIC_BASE_URL"
`

const (
	vaultRealKey   = "sk-ant-api03-REALKEY-never-in-a-task-0123456789"
	vaultRealOAuth = "sk-ant-oat01-REALOAUTH-never-in-a-task-0123456789"
)

// The vault in real tasks, hostile: a task of an agent with a vault
// provider reaches the scripted provider on the host through its warden's
// proxy with a phantom token, and the provider gets the real key and never
// the phantom; the real key is nowhere in the container, its config, its
// processes' environments or terok's records. The provider's real hosts
// are denied though the project allows them; another task's token gets 401
// at this task's proxy; a stopped task's token is dead, a started one gets
// a new container and token (the old one gets 401 at the new proxy), and
// terok panic revokes every token. A locked vault, a missing credential and
// an agent that cannot run behind the vault stop a run before anything is
// made.
func TestTaskVault(t *testing.T) {
	e := newTaskEnv(t)
	testenv.Need(t, shield.HookRegistered(shield.HooksDirDistribution, []string{shield.HooksDirDistribution}) &&
		fileExists(filepath.Join(shield.HooksDirDistribution, shield.HookFile)),
		"the shield's OCI hook is not registered (terok setup; scripts/test does)")
	inet := newInternet(t)
	e.removeAllTasks()
	provider := newScriptedProvider(t)
	conf, state, data := e.getenv("TEROK_CONFIG_DIR"), e.getenv("TEROK_STATE_DIR"), e.getenv("TEROK_DATA_DIR")
	if err := os.MkdirAll(filepath.Join(conf, "agents"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, "agents", "fake.toml"), []byte(fakeVaultAgent), 0o600); err != nil {
		t.Fatal(err)
	}
	passfile := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(passfile, []byte("vault passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The provider's token endpoint is a name of the test's internet, so
	// that its denial can be seen to beat the project's allow.
	config := func(unlocked bool) {
		t.Helper()
		c := fmt.Sprintf("[shield]\nresolvers = [%q]\n\n[vault]\n", inetDNS)
		if unlocked {
			c += fmt.Sprintf("passphrase_command = [\"cat\", %q]\n", passfile)
		}
		c += fmt.Sprintf("\n[vault.providers.anthropic]\nupstream = %q\ntoken_url = \"http://auth.test.example/token\"\n", provider.URL)
		if err := os.WriteFile(filepath.Join(conf, "config.toml"), []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	config(false)
	if _, err := vault.Init(filepath.Join(data, "vault"), "vault passphrase", vault.InitOptions{WorkFactor: 10}); err != nil {
		t.Fatal(err)
	}
	store, err := vault.Open(context.Background(), filepath.Join(data, "vault"), vault.KeySource{
		Prompt: func(context.Context) (string, error) { return "vault passphrase", nil }})
	if err != nil {
		t.Fatal(err)
	}
	e.must("terok-project", "new", "tv", "--agents", "command,fake")
	e.must("terok-project", "new", "tc", "--agents", "copilot") // never built
	appendFile(t, filepath.Join(conf, "projects", "tv", "project.toml"),
		"\n[shield]\nallow = [\"*.test.example\", \"api.anthropic.com\"]\n")

	// Refused before anything is made: an agent that cannot run behind the
	// vault (usage error), a locked vault without a terminal (exit 3, at
	// once), a vault without the provider's credential (exit 3). No image
	// is needed for any of them.
	nothingMade := func(what string) {
		t.Helper()
		if out := e.must("terok-task", "ls", "-q"); strings.TrimSpace(out) != "" {
			t.Fatalf("%s: a task was made: %s", what, out)
		}
		if fileExists(filepath.Join(state, "vault", "tokens.json")) {
			t.Fatalf("%s: a token was minted", what)
		}
		if out, _ := exec.Command("podman", "ps", "-aq", "--filter", "label=terok.project=tv").Output(); strings.TrimSpace(string(out)) != "" {
			t.Fatalf("%s: a container was made: %s", what, out)
		}
	}
	out, errs, code := e.run("", "terok-task", "run", "tc", "hello")
	if code != 2 || !strings.Contains(errs, "agent copilot cannot run behind the vault") ||
		!strings.Contains(errs, `[vault] unvaulted = ["copilot"]`) || strings.Count(strings.TrimSpace(errs), "\n") != 1 {
		t.Fatalf("copilot: exit %d\n%s%s", code, out, errs)
	}
	nothingMade("copilot")
	start := time.Now()
	out, errs, code = e.run("", "terok-task", "run", "tv", "--agent", "fake", "true")
	took := time.Since(start)
	if code != 3 || !strings.Contains(errs, "locked") || !strings.Contains(errs, "terok-vault unlock") {
		t.Fatalf("a locked vault: exit %d\n%s%s", code, out, errs)
	}
	if took > time.Second {
		t.Errorf("a locked vault took %s to refuse a run", took)
	}
	t.Logf("a locked vault refused the run in %s", took)
	nothingMade("locked")
	config(true)
	out, errs, code = e.run("", "terok-task", "run", "tv", "--agent", "fake", "true")
	if code != 3 || !strings.Contains(errs, "holds no credential for anthropic") || !strings.Contains(errs, "hint: store one: terok-vault set anthropic") {
		t.Fatalf("no credential: exit %d\n%s%s", code, out, errs)
	}
	nothingMade("no credential")
	if err := store.Set("anthropic", vault.Credential{Kind: vault.APIKey, APIKey: vaultRealKey}); err != nil {
		t.Fatal(err)
	}

	e.must("terok-image", "build", "tv")
	type task struct{ ID, Container string }
	run := func() task {
		t.Helper()
		var x task
		decodeJSON(t, e.must("terok-task", "run", "--detach", "tv", "--agent", "fake", "sleep 300"), &x)
		return x
	}
	in := func(x task, cmd string) (string, bool) {
		out, err := exec.Command("podman", "exec", x.Container, "sh", "-c", cmd).CombinedOutput()
		return strings.TrimSpace(string(out)), err == nil
	}
	ask := `curl -sS -m 10 -o /dev/null -w '%{http_code}' -H 'anthropic-version: 2023-06-01' -H "x-api-key: ` // + token + `" URL`
	askWith := func(x task, token string) string {
		t.Helper()
		o, _ := in(x, ask+token+`" -d '{}' "$ANTHROPIC_BASE_URL/v1/messages"`)
		return o
	}
	a := run()
	waitEntry(t, func(cmd string) (string, bool) { return in(a, cmd) })
	tokA, _ := in(a, `echo "$ANTHROPIC_API_KEY"`)
	if base, _ := in(a, `echo "$ANTHROPIC_BASE_URL"`); !strings.HasPrefix(tokA, vault.PhantomPrefix) || base != "http://127.0.0.1:9419" {
		t.Fatalf("the task's vault variables: %q %q", tokA, base)
	}
	// The agent's request reaches the provider with the real key, never
	// the phantom.
	o, ok := in(a, `curl -sS -m 10 -H 'anthropic-version: 2023-06-01' -H "x-api-key: $ANTHROPIC_API_KEY" -d '{}' "$ANTHROPIC_BASE_URL/v1/messages"`)
	if !ok || !strings.Contains(o, "hello from the scripted provider") {
		t.Fatalf("through the vault: %v %s", ok, o)
	}
	seen, n := provider.seen()
	if n != 1 || len(seen) != 1 || seen[0] != vaultRealKey {
		t.Fatalf("the provider saw %d requests with %q", n, seen)
	}

	// The phantom sent to the provider's real hosts goes nowhere: they are
	// denied though the project allows them; a name the project allows
	// that no provider has resolves.
	if o, ok := in(a, `curl -sS -m 5 -o /dev/null -H "x-api-key: $ANTHROPIC_API_KEY" https://api.anthropic.com/v1/messages`); ok || !strings.Contains(o, "(6)") {
		t.Errorf("the real API host from the task: %v %s (want curl's exit 6, not resolved)", ok, o)
	}
	if o, ok := in(a, `curl -sS -m 5 -o /dev/null -H "x-api-key: $ANTHROPIC_API_KEY" http://auth.test.example/token`); ok || !strings.Contains(o, "(6)") {
		t.Errorf("the provider's token host from the task: %v %s", ok, o)
	}
	if o, ok := in(a, "curl -sS -m 5 -o /dev/null -w '%{http_code}' http://ok.test.example/"); !ok || o != "200" {
		t.Errorf("an allowed name of the test's internet: %v %s", ok, o)
	}
	if inet.asked("auth.test.example") {
		t.Error("the denied name reached the internet's DNS")
	}
	if logs := e.must("terok-shield", "logs", a.ID); !strings.Contains(logs, `"event":"refused","name":"api.anthropic.com"`) ||
		!strings.Contains(logs, `"event":"refused","name":"auth.test.example"`) {
		t.Errorf("the shield's log lacks the refusals:\n%s", logs)
	}
	if rules := e.must("terok-shield", "rules", a.ID); !strings.Contains(rules, `{"action":"deny","target":"api.anthropic.com","from":"vault: anthropic"}`) {
		t.Errorf("the rules lack the provider's deny:\n%s", rules)
	}
	if _, errs, code := e.run("", "terok-shield", "allow", a.ID, "api.anthropic.com"); code == 0 || !strings.Contains(errs, `[vault] direct = ["anthropic"]`) {
		t.Errorf("a live allow of a provider's host: exit %d %s", code, errs)
	}

	// A second task, with an OAuth credential now: its phantom is in
	// Claude Code's OAuth variable, goes upstream as the real bearer token,
	// and is refused at the first task's proxy.
	if err := store.Set("anthropic", vault.Credential{Kind: vault.OAuth, AccessToken: vaultRealOAuth, Expiry: time.Now().Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	b := run()
	waitEntry(t, func(cmd string) (string, bool) { return in(b, cmd) })
	tokB, _ := in(b, `echo "$CLAUDE_CODE_OAUTH_TOKEN"`)
	if key, _ := in(b, `echo "${ANTHROPIC_API_KEY:-unset}"`); !strings.HasPrefix(tokB, vault.PhantomPrefix) || key != "unset" || tokB == tokA {
		t.Fatalf("the OAuth task's variables: %q, ANTHROPIC_API_KEY %q", tokB, key)
	}
	if o, ok := in(b, `curl -sS -m 10 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $CLAUDE_CODE_OAUTH_TOKEN" -d '{}' "$ANTHROPIC_BASE_URL/v1/messages"`); !ok || o != "200" {
		t.Fatalf("the OAuth task through the vault: %v %s", ok, o)
	}
	if seen, _ := provider.seen(); seen[len(seen)-1] != "Bearer "+vaultRealOAuth {
		t.Fatalf("the provider saw %q", seen)
	}
	if s := askWith(a, tokB); s != "401" {
		t.Errorf("another task's token at this task's proxy: %s", s)
	}
	if s := askWith(a, tokA); s != "200" {
		t.Errorf("the task's own token after the other's refusal: %s", s)
	}

	// The real credentials are nowhere: not in the containers' config (env,
	// labels, annotations, command), not in their processes' environments
	// or files, not in terok's records and logs; the phantom is, where it
	// belongs.
	for _, x := range []task{a, b} {
		insp, err := exec.Command("podman", "inspect", x.Container).Output()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(insp), "REALKEY") || strings.Contains(string(insp), "REALOAUTH") {
			t.Errorf("the real credential is in podman inspect of %s", x.ID)
		}
		if !strings.Contains(string(insp), vault.PhantomPrefix) {
			t.Errorf("no phantom in podman inspect of %s: the search looks in the wrong place", x.ID)
		}
		envs, err := exec.Command("podman", "exec", "-u", "0", x.Container, "sh", "-c",
			`cat /proc/[0-9]*/environ 2>/dev/null | tr '\0' '\n'; grep -rs -e REALKEY -e REALOAUTH /home /workspace /tmp /run /etc /root; true`).Output()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(envs), "REALKEY") || strings.Contains(string(envs), "REALOAUTH") {
			t.Errorf("the real credential is inside %s", x.ID)
		}
		if !strings.Contains(string(envs), vault.PhantomPrefix) {
			t.Errorf("no phantom in %s's processes' environments: the search looks in the wrong place", x.ID)
		}
	}
	for _, root := range []string{state, conf, e.getenv("TEROK_RUNTIME_DIR")} {
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error { // a walk error leaves a file unsearched; the test says which
			if err != nil || d.IsDir() || d.Type()&os.ModeSocket != 0 {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Errorf("reading %s: %v", p, err)
			} else if strings.Contains(string(b), "REALKEY") || strings.Contains(string(b), "REALOAUTH") {
				t.Errorf("the real credential is in %s", p)
			}
			return nil
		})
	}

	// show: the task's vault use and the providers denied.
	var shown struct {
		Vault struct {
			Provider string
			Tokens   []string
			Requests int
			Denied   []string
			Lifted   []string
		}
	}
	// Three requests reached its proxy (one refused); the last one's audit
	// line may be a moment behind its answer.
	for i := 0; ; i++ {
		decodeJSON(t, e.must("terok-task", "show", a.ID), &shown)
		if shown.Vault.Requests == 3 || i == 20 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if v := shown.Vault; v.Provider != "anthropic" || len(v.Tokens) != 1 || !strings.HasPrefix(v.Tokens[0], vault.PhantomPrefix) ||
		strings.Contains(v.Tokens[0], tokA) || v.Requests != 3 || fmt.Sprint(v.Denied) != "[anthropic mistral openai]" || len(v.Lifted) != 0 {
		t.Errorf("show's vault: %+v", v)
	}
	if tty := (&taskEnv{t: t, env: append(append([]string{}, e.env...), "TEROK_FORCE_TTY=1")}).must("terok-task", "show", a.ID); !strings.Contains(tty, "anthropic; token terok-phantom-") ||
		!strings.Contains(tty, "3 request(s)") || !strings.Contains(tty, "real hosts denied: anthropic,mistral,openai; lifted (project.toml [vault] direct): none") {
		t.Errorf("show on a terminal:\n%s", tty)
	}

	// Stopped: its token is dead, even when its warden died without
	// revoking it. Started again: a new container with a new token; the
	// old one gets 401 at the new proxy.
	tokens := vault.OpenTokens(filepath.Join(state, "vault", "tokens.json"))
	killWarden(t, e, a.ID)
	if _, err := tokens.Check(tokA); err != nil {
		t.Fatalf("the token of a task whose warden was killed: %v", err)
	}
	e.must("terok-task", "stop", "--time", "1s", a.ID)
	if _, err := tokens.Check(tokA); !errors.Is(err, vault.ErrUnknownToken) {
		t.Errorf("the token of a stopped task: %v", err)
	}
	var again task
	decodeJSON(t, e.must("terok-task", "start", a.ID), &again)
	waitEntry(t, func(cmd string) (string, bool) { return in(a, cmd) })
	tokA2, _ := in(a, `echo "$ANTHROPIC_BASE_URL $CLAUDE_CODE_OAUTH_TOKEN"`)
	tokA2 = strings.TrimPrefix(tokA2, "http://127.0.0.1:9419 ")
	if !strings.HasPrefix(tokA2, vault.PhantomPrefix) || tokA2 == tokA {
		t.Fatalf("the started task's token: %q (was %q)", tokA2, tokA)
	}
	if s := askWith(a, tokA); s != "401" {
		t.Errorf("the stopped task's old token at its new proxy: %s", s)
	}
	if o, ok := in(a, `curl -sS -m 10 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $CLAUDE_CODE_OAUTH_TOKEN" -d '{}' "$ANTHROPIC_BASE_URL/v1/messages"`); !ok || o != "200" {
		t.Errorf("the started task's new token: %v %s", ok, o)
	}

	// restart too: a new token, the last one dead.
	e.must("terok-task", "restart", "--time", "1s", a.ID)
	waitEntry(t, func(cmd string) (string, bool) { return in(a, cmd) })
	if tokA3, _ := in(a, `echo "$CLAUDE_CODE_OAUTH_TOKEN"`); !strings.HasPrefix(tokA3, vault.PhantomPrefix) || tokA3 == tokA2 {
		t.Fatalf("the restarted task's token: %q (was %q)", tokA3, tokA2)
	} else {
		if _, err := tokens.Check(tokA2); !errors.Is(err, vault.ErrUnknownToken) {
			t.Errorf("the token before a restart: %v", err)
		}
		tokA2 = tokA3
	}
	if o, _ := in(a, `curl -sS -m 10 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer `+tokA2+`" -d '{}' "$ANTHROPIC_BASE_URL/v1/messages"`); o != "200" {
		t.Errorf("the restarted task's token: %s", o)
	}

	// terok panic: every token dead, at once.
	if out := e.must("terok", "panic"); !strings.Contains(out, a.ID) || !strings.Contains(out, b.ID) {
		t.Errorf("panic: %s", out)
	}
	for _, tok := range []string{tokA2, tokB} {
		if _, err := tokens.Check(tok); !errors.Is(err, vault.ErrUnknownToken) {
			t.Errorf("a token after the panic: %v", err)
		}
	}
	if o, ok := in(a, `curl -sS -m 10 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $CLAUDE_CODE_OAUTH_TOKEN" -d '{}' "$ANTHROPIC_BASE_URL/v1/messages"`); o != "401" {
		t.Errorf("a token after the panic, at its quarantined task's proxy: %v %s", ok, o)
	}
	if _, n2 := provider.seen(); n2 != 5 {
		t.Errorf("the provider had %d requests, want 5", n2)
	}

	// A project that lifts the provider: its new tasks may reach its hosts.
	appendFile(t, filepath.Join(conf, "projects", "tv", "project.toml"), "\n[vault]\ndirect = [\"anthropic\"]\n")
	c := run()
	decodeJSON(t, e.must("terok-task", "show", c.ID), &shown)
	if fmt.Sprint(shown.Vault.Denied) != "[mistral openai]" || fmt.Sprint(shown.Vault.Lifted) != "[anthropic]" {
		t.Errorf("show of a task whose project lifts anthropic: %+v", shown.Vault)
	}
	waitEntry(t, func(cmd string) (string, bool) { return in(c, cmd) })
	if o, ok := in(c, "curl -sS -m 5 -o /dev/null -w '%{http_code}' http://auth.test.example/token"); !ok || o != "200" {
		t.Errorf("a lifted provider's host: %v %s", ok, o)
	}

	// The warden revokes the token when the task ends, whoever stopped it.
	tokC, _ := in(c, `echo "$CLAUDE_CODE_OAUTH_TOKEN"`)
	if _, err := tokens.Check(tokC); err != nil {
		t.Fatalf("the new task's token: %v", err)
	}
	if out, err := exec.Command("podman", "stop", "-t", "1", c.Container).CombinedOutput(); err != nil {
		t.Fatalf("podman stop: %v\n%s", err, out)
	}
	for i := 0; ; i++ {
		if _, err := tokens.Check(tokC); errors.Is(err, vault.ErrUnknownToken) {
			break
		}
		if i == 50 {
			t.Fatal("the warden of a task that ended left its token alive")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// rm revokes too, the warden dead or not.
	e.must("terok-task", "start", c.ID)
	tokC, _ = in(c, `echo "$CLAUDE_CODE_OAUTH_TOKEN"`)
	killWarden(t, e, c.ID)
	if _, err := tokens.Check(tokC); err != nil {
		t.Fatalf("the token of a task started again, whose warden was killed: %v", err)
	}
	e.must("terok-task", "rm", "--force", "--yes", c.ID)
	if _, err := tokens.Check(tokC); !errors.Is(err, vault.ErrUnknownToken) {
		t.Errorf("the token of a removed task: %v", err)
	}
}

// killWarden kills a task's warden (its process group: it runs in a
// session of its own) and waits until it is gone, as a warden that dies
// without closing its services would.
func killWarden(t *testing.T, e *taskEnv, id string) {
	t.Helper()
	var show struct{ Warden struct{ PID int } }
	decodeJSON(t, e.must("terok-task", "show", id), &show)
	pid := show.Warden.PID
	if pid <= 0 {
		t.Fatalf("no warden pid for %s", id)
	}
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		t.Fatalf("killing %s's warden: %v", id, err)
	}
	for i := 0; syscall.Kill(pid, 0) == nil; i++ {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && strings.Contains(string(b), ") Z ") {
			return
		}
		if i == 500 {
			t.Fatalf("%s's warden %d did not die", id, pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
