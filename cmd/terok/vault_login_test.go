package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/store"
	"github.com/terok-ai/terok-go/lib/testenv"
	"github.com/terok-ai/terok-go/lib/vault"
)

// The credential the fake sign-in writes; it must never be printed.
const loginToken = "sk-ant-oat01-FAKELOGIN-never-printed-0123456789"

// A test-only agent whose sign-in is a shell script: it shows what its
// container can reach (its [login] host, the provider's token endpoint
// from config.toml; not another name of the test's internet, not another
// address there, not another provider's host), asks for a code as Claude
// Code does, and writes a Claude-shaped .credentials.json in the agent's
// home — unless the code says to fail, or to write nothing (the tokens
// are written in two parts, so that the test can look for them in
// terok's files, this one included). The real
// Claude Code and Codex sign-ins need their OAuth servers and a person
// in a browser, which a test cannot have; their roster entries' [login]
// tables run them the same way.
const fakeLoginAgent = `label = "Fake login"
binary = "sh"
[install]
deb = []
rpm = []
[headless]
args = ["-c", "{prompt}"]
[vault]
provider = "anthropic"
token_env = "ANTHROPIC_API_KEY"
[login]
file = ".claude/.credentials.json"
hosts = ["auth.test.example"]
args = ["-c", '''
echo "fake sign-in: open https://auth.test.example/authorize in a browser"
echo "login host: $(curl -sS -m 10 http://auth.test.example/ 2>&1)"
echo "token host: $(curl -sS -m 10 http://token.test.example/token 2>&1)"
curl -sS -m 5 -o /dev/null http://ok.test.example/ 2>/dev/null; echo "other name: exit $?"
curl -sS -m 5 -o /dev/null http://198.51.100.3/ 2>/dev/null; echo "other address: exit $?"
curl -sS -m 5 -o /dev/null https://api.openai.com/ 2>/dev/null; echo "other provider: exit $?"
printf "Paste code here > "
read -r code
case $code in
fail) echo "sign-in failed"; exit 3 ;;
nofile) exit 0 ;;
esac
mkdir -p "$HOME/.claude"
printf '{"claudeAiOauth":{"accessToken":"%s","refreshToken":"%s","expiresAt":%s000,"scopes":["user:inference","user:profile"],"subscriptionType":"pro"}}' \
  "sk-ant-oat01-FAKE""LOGIN-never-printed-0123456789" "sk-ant-ort01-FAKE""REFRESH" "$(($(date +%s) + 28800))" >"$HOME/.claude/.credentials.json"
echo "signed in"
''']
`

// terok-vault login, for real: the agent's sign-in runs in a throwaway
// task on a pseudo-terminal (tmux), its shield lets it reach its sign-in
// hosts and nothing else, the credential it wrote lands in the vault, and
// nothing of the task is left — after a success, a detach, a failed
// sign-in or one that wrote nothing. Without a terminal it refuses at
// once; an agent without a login is a usage error.
func TestVaultLogin(t *testing.T) {
	e := newTaskEnv(t)
	testenv.Need(t, shield.HookRegistered(shield.HooksDirDistribution, []string{shield.HooksDirDistribution}) &&
		fileExists(filepath.Join(shield.HooksDirDistribution, shield.HookFile)),
		"the shield's OCI hook is not registered (terok setup; scripts/test does)")
	testenv.Tool(t, "tmux", "tmux")
	newInternet(t)
	e.removeAllTasks()
	conf, state, data := e.getenv("TEROK_CONFIG_DIR"), e.getenv("TEROK_STATE_DIR"), e.getenv("TEROK_DATA_DIR")
	passfile := filepath.Join(t.TempDir(), "pass")
	writeFile(t, filepath.Join(conf, "agents", "fakelogin.toml"), fakeLoginAgent)
	writeFile(t, passfile, "vault passphrase\n")
	writeFile(t, filepath.Join(conf, "config.toml"), fmt.Sprintf("[shield]\nresolvers = [%q]\n\n[vault]\npassphrase_command = [\"cat\", %q]\n\n"+
		"[vault.providers.anthropic]\ntoken_url = \"http://token.test.example/token\"\n", inetDNS, passfile))
	if _, err := vault.Init(filepath.Join(data, "vault"), "vault passphrase", vault.InitOptions{WorkFactor: 10}); err != nil {
		t.Fatal(err)
	}
	e.must("terok-project", "new", "tl", "--agents", "command,fakelogin")

	// Without a terminal: a usage error at once, naming import and set.
	out, errs, code := e.run("", "terok-vault", "login", "fakelogin")
	if code != 2 || !strings.Contains(errs, "needs a person at a terminal") || !strings.Contains(errs, "terok-vault import PROVIDER FILE") ||
		!strings.Contains(errs, "terok-vault set PROVIDER") {
		t.Fatalf("login without a terminal: exit %d\n%s%s", code, out, errs)
	}
	e.must("terok-image", "build", "tl")

	env := append(e.env, "TERM=xterm-256color")
	work := t.TempDir()
	n := 0
	// login runs terok-vault login on a terminal of its own.
	login := func(args string) (*tmuxSession, string) {
		n++
		done := filepath.Join(work, fmt.Sprintf("login%d.done", n))
		return startTmux(t, env, "terok-vault login "+args+"; echo $? > "+done), done
	}
	screen := func(s *tmuxSession) string { return s.tmux("capture-pane", "-p", "-S", "-") }
	// prompted waits for the sign-in's prompt; the whole screen, scrolled
	// off lines too, says why it never came.
	prompted := func(s *tmuxSession) {
		t.Helper()
		for i := 0; !strings.Contains(s.tmux("capture-pane", "-p"), "Paste code here"); i++ {
			if i == 600 {
				t.Fatalf("the sign-in never asked for its code; screen:\n%s", screen(s))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// Nothing of the login's task is left, and no token was printed.
	nothingLeft := func(what string, s *tmuxSession) {
		t.Helper()
		if out := e.must("terok-task", "ls", "-q"); strings.TrimSpace(out) != "" {
			t.Errorf("%s: a task is left: %s", what, out)
		}
		for _, kind := range []string{"ps", "volume"} {
			args := []string{kind, "ls", "-q", "--filter", "label=terok.project=tl"}
			if kind == "ps" {
				args = []string{"ps", "-aq", "--filter", "label=terok.project=tl"}
			}
			if out, err := exec.Command("podman", args...).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "" {
				t.Errorf("%s: podman %s: %v %s", what, kind, err, out)
			}
		}
		for _, root := range []string{state, conf, data, e.getenv("TEROK_RUNTIME_DIR")} {
			_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error { // a walk error leaves a file unsearched; the test says which
				if err != nil || d.Type()&os.ModeSocket != 0 {
					return nil
				}
				rel, _ := filepath.Rel(state, p)
				if !d.IsDir() && d.Name() != store.LockName && root == state && (strings.HasPrefix(rel, "tasks/") || strings.HasPrefix(rel, "audit/shield/")) {
					t.Errorf("%s: %s is left", what, p)
				}
				if d.IsDir() {
					return nil
				}
				if b, err := os.ReadFile(p); err != nil {
					t.Errorf("reading %s: %v", p, err)
				} else if strings.Contains(string(b), "FAKELOGIN") || strings.Contains(string(b), "FAKEREFRESH") {
					t.Errorf("%s: the credential is in %s", what, p)
				}
				return nil
			})
		}
		if strings.Contains(screen(s), "FAKELOGIN") || strings.Contains(screen(s), "FAKEREFRESH") {
			t.Errorf("%s: the credential is on the screen:\n%s", what, screen(s))
		}
	}
	stored := func() string {
		t.Helper()
		return strings.TrimSpace(e.must("terok-vault", "ls"))
	}

	// An agent without a login: a usage error, nothing made.
	s, done := login("command")
	if code := waitFile(t, done); code != "2" || !strings.Contains(screen(s), "agent command has no login of its own") {
		t.Fatalf("login of the command agent exited %s:\n%s", code, screen(s))
	}

	// The sign-in, on the terminal: what its container reaches, then the
	// code it asks for.
	s, done = login("fakelogin --project tl")
	prompted(s)
	sc := screen(s)
	for _, want := range []string{"login host: hello from the internet", "token host: hello from the internet",
		"other name: exit 6", "other provider: exit 6"} {
		if !strings.Contains(sc, want) {
			t.Errorf("the sign-in's screen lacks %q:\n%s", want, sc)
		}
	}
	if m := regexp.MustCompile(`other address: exit (\d+)`).FindStringSubmatch(sc); m == nil || m[1] == "0" {
		t.Errorf("another address of the test's internet was reachable:\n%s", sc)
	}
	if list, err := exec.Command("podman", "ps", "-q", "--filter", "label=terok.login=fakelogin").Output(); err != nil || strings.TrimSpace(string(list)) == "" {
		t.Errorf("no running container labelled terok.login=fakelogin: %v %q", err, list)
	}
	s.send("4/0AbCdEf-code", "Enter")
	if code := waitFile(t, done); code != "0" {
		t.Fatalf("login exited %s:\n%s", code, screen(s))
	}
	sc = screen(s)
	if !strings.Contains(sc, "stored an OAuth credential for anthropic") || !regexp.MustCompile(`throwaway container \(task [a-z0-9]+ of project tl's image\)`).MatchString(sc) {
		t.Errorf("login's screen:\n%s", sc)
	}
	nothingLeft("a login", s)
	var ls struct{ Provider, Kind, Source string }
	decodeJSON(t, stored(), &ls)
	if ls.Provider != "anthropic" || ls.Kind != "oauth" || ls.Source != "login:fakelogin" {
		t.Errorf("terok-vault ls after the login: %+v", ls)
	}
	st, err := vault.Open(context.Background(), filepath.Join(data, "vault"), vault.KeySource{
		Prompt: func(context.Context) (string, error) { return "vault passphrase", nil }})
	if err != nil {
		t.Fatal(err)
	}
	if cred, err := st.Get("anthropic"); err != nil || cred.AccessToken != loginToken || cred.RefreshToken != "sk-ant-ort01-FAKEREFRESH" {
		t.Errorf("the stored credential is not the sign-in's: %v", err)
	}
	if err := st.Remove("anthropic"); err != nil {
		t.Fatal(err)
	}

	// Detached, failed, or without a file: nothing stored, nothing left.
	for _, tc := range []struct{ code, want string }{
		{"", "login was left (detached); nothing was stored"},
		{"fail", "login exited with code 3; nothing was stored"},
		{"nofile", "login ended without writing ~/.claude/.credentials.json; nothing was stored"},
	} {
		s, done := login("fakelogin")
		prompted(s)
		if tc.code == "" {
			s.send("C-b", "d")
		} else {
			s.send(tc.code, "Enter")
		}
		if code := waitFile(t, done); code != "1" || !strings.Contains(screen(s), tc.want) {
			t.Errorf("login (%q) exited %s:\n%s", tc.code, code, screen(s))
		}
		nothingLeft("login "+tc.code, s)
		if got := stored(); got != "" {
			t.Errorf("login (%q) stored %s", tc.code, got)
		}
	}
}

// writeFile writes a test's file, 0600, making its directory.
func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}
