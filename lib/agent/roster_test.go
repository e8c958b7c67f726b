package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/config"
)

func TestBuiltinRoster(t *testing.T) {
	r, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"claude", "codex", "command", "copilot", "opencode", "vibe"}
	if got := r.Names(); !reflect.DeepEqual(got, want) {
		t.Fatalf("names %v, want %v", got, want)
	}
	for _, a := range r.All() {
		if a.Source != BuiltinSource || a.Label == "" || a.Description == "" {
			t.Errorf("%s: %+v", a.Name, a)
		}
		if got := a.Families(); !reflect.DeepEqual(got, []string{"deb", "rpm"}) {
			t.Errorf("%s installs on %v", a.Name, got)
		}
	}
	// The npm agents install their package and prove it by running it.
	for name, pkg := range map[string]string{"claude": "@anthropic-ai/claude-code", "codex": "@openai/codex",
		"copilot": "@github/copilot", "opencode": "opencode-ai"} {
		a, _ := r.Get(name)
		for _, f := range config.Families {
			lines, _ := a.Lines(f)
			if len(lines) < 2 || !strings.HasPrefix(lines[0], "npm install -g ") || !strings.HasSuffix(lines[0], " "+pkg) ||
				lines[len(lines)-1] != a.Binary+" --version" {
				t.Errorf("%s on %s: %q", name, f, lines)
			}
		}
	}
	// glibc bases do not need Claude's musl binary.
	c, _ := r.Get("claude")
	if l, _ := c.Lines("deb"); len(l) != 3 || !strings.Contains(l[1], `rm -rf "$(npm root -g)"/@anthropic-ai/claude-code/node_modules/@anthropic-ai/claude-code-linux-*-musl`) {
		t.Errorf("claude: %q", l)
	}
	// Nor Copilot's; OpenCode keeps only the binary its install script put
	// in its bin (a hard link), not the platform packages.
	for name, rm := range map[string]string{"copilot": `rm -rf "$(npm root -g)"/@github/copilot/node_modules/@github/copilot-linuxmusl-*`,
		"opencode": `rm -rf "$(npm root -g)"/opencode-ai/node_modules/opencode-linux-*`} {
		a, _ := r.Get(name)
		for _, f := range config.Families {
			if l, _ := a.Lines(f); len(l) != 3 || l[1] != rm {
				t.Errorf("%s on %s: %q", name, f, l)
			}
		}
	}
	// What each needs: npm to install the npm agents; Node.js at run time
	// only where the program is a Node.js script (Codex's and Copilot's
	// loaders); Claude Code and OpenCode run their native binaries.
	for name, want := range map[string][]string{"claude": {"npm"}, "codex": {"node", "npm"}, "command": nil,
		"copilot": {"node", "npm"}, "opencode": {"npm"}, "vibe": nil} {
		if a, _ := r.Get(name); !reflect.DeepEqual(a.Needs, want) || a.Need(NeedNode) != slices.Contains(want, "node") {
			t.Errorf("%s needs %q, want %q", name, a.Needs, want)
		}
	}
	cmd, _ := r.Get("command")
	if l, ok := cmd.Lines("deb"); !ok || len(l) != 0 {
		t.Errorf("command installs %q", l)
	}
	// Which agents resume their session in a followup.
	for name, want := range map[string]bool{"claude": true, "codex": true, "command": false, "copilot": false, "opencode": false, "vibe": false} {
		if a, _ := r.Get(name); a.CanResume() != want {
			t.Errorf("%s: CanResume %v", name, !want)
		}
	}
}

// Vibe installs from PyPI, which this project's machines cannot reach: its
// lines are checked for content instead.
func TestVibeInstallLines(t *testing.T) {
	r, _ := Builtin()
	v, _ := r.Get("vibe")
	deb, _ := v.Lines("deb")
	rpm, _ := v.Lines("rpm")
	all := strings.Join(deb, "\n")
	for _, want := range []string{"apt-get install -y --no-install-recommends python3-pip", "pip install --break-system-packages --no-cache-dir uv",
		"uv tool install --python 3.12 mistral-vibe", "UV_TOOL_BIN_DIR=/usr/local/bin", "rm -rf /var/lib/apt/lists/*", "vibe --version"} {
		if !strings.Contains(all, want) {
			t.Errorf("deb lines lack %q:\n%s", want, all)
		}
	}
	all = strings.Join(rpm, "\n")
	for _, want := range []string{"dnf install -y", "python3-pip", "uv tool install --python 3.12 mistral-vibe", "dnf clean all"} {
		if !strings.Contains(all, want) {
			t.Errorf("rpm lines lack %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "apt-get") {
		t.Error("rpm lines use apt-get")
	}
	if v.Permissions.Env["VIBE_BYPASS_TOOL_PERMISSIONS"] != "true" || v.Vault.TokenEnv != "MISTRAL_API_KEY" {
		t.Errorf("%+v", v)
	}
}

// The vault's keys: Claude Code takes an OAuth phantom in its own
// variable; Copilot cannot run behind the vault, and says why.
func TestRosterVault(t *testing.T) {
	r, _ := Builtin()
	c, _ := r.Get("claude")
	if !reflect.DeepEqual(c.Vault, Vault{Provider: "anthropic", TokenEnv: "ANTHROPIC_API_KEY", BaseURLEnv: "ANTHROPIC_BASE_URL", OAuthTokenEnv: "CLAUDE_CODE_OAUTH_TOKEN"}) {
		t.Errorf("claude: %+v", c.Vault)
	}
	for _, a := range r.All() {
		if (a.Vault.Provider == "") == (a.Vault.Unsupported == "") && a.Name != "command" {
			t.Errorf("%s: a model agent has a vault provider or says why it cannot: %+v", a.Name, a.Vault)
		}
	}
	// OpenCode's base URL (the AI SDK's) ends with /v1; Claude Code's
	// takes the route's.
	if o, _ := r.Get("opencode"); !reflect.DeepEqual(o.Vault, Vault{Provider: "anthropic", TokenEnv: "ANTHROPIC_API_KEY", BaseURLEnv: "ANTHROPIC_BASE_URL", BasePath: "/v1"}) {
		t.Errorf("opencode: %+v", o.Vault)
	}
	if cp, _ := r.Get("copilot"); !strings.Contains(cp.Vault.Unsupported, "base-URL") {
		t.Errorf("copilot: %+v", cp.Vault)
	}
	// Claude Code and Codex have a sign-in of their own for terok-vault
	// login; the others have none.
	for name, want := range map[string]string{"claude": "[claude auth login] .claude/.credentials.json [platform.claude.com api.anthropic.com claude.ai]",
		"codex": `[codex login --device-auth -c cli_auth_credentials_store="file"] .codex/auth.json [auth.openai.com chatgpt.com]`} {
		a, _ := r.Get(name)
		if got := fmt.Sprint(a.LoginArgv(), " ", a.Login.File, " ", a.Login.Hosts); !a.HasLogin() || got != want {
			t.Errorf("%s's login: %s", name, got)
		}
	}
	for _, name := range []string{"command", "copilot", "opencode", "vibe"} {
		if a, _ := r.Get(name); a.HasLogin() {
			t.Errorf("%s has a login: %+v", name, a.Login)
		}
	}
}

func TestCommands(t *testing.T) {
	r, _ := Builtin()
	for _, tc := range []struct {
		agent string
		l     Launch
		argv  string
		env   map[string]string
	}{
		{"claude", Launch{Headless: true, Prompt: "fix it", Model: "opus"},
			"claude --dangerously-skip-permissions --model opus -p|fix it|--output-format stream-json --verbose",
			map[string]string{"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1"}},
		{"claude", Launch{}, "claude --dangerously-skip-permissions", nil},
		{"claude", Launch{Prompt: "hello there"}, "claude --dangerously-skip-permissions|hello there|", nil},
		{"codex", Launch{Headless: true, Prompt: "p", Timeout: 90 * time.Second},
			"timeout --kill-after=10 90 codex exec --dangerously-bypass-approvals-and-sandbox -c model_provider=\"terok\" -c model_providers.terok.name=\"terok-vault\" -c model_providers.terok.base_url=\"http://127.0.0.1:9419/v1\" -c model_providers.terok.env_key=\"OPENAI_API_KEY\" -c model_providers.terok.wire_api=\"responses\" -c model_providers.terok.supports_websockets=false p", map[string]string{}},
		{"codex", Launch{Headless: true, Prompt: "p", Model: "o3"},
			"codex exec --dangerously-bypass-approvals-and-sandbox --model o3 -c model_provider=\"terok\" -c model_providers.terok.name=\"terok-vault\" -c model_providers.terok.base_url=\"http://127.0.0.1:9419/v1\" -c model_providers.terok.env_key=\"OPENAI_API_KEY\" -c model_providers.terok.wire_api=\"responses\" -c model_providers.terok.supports_websockets=false p", nil},
		{"copilot", Launch{Headless: true, Prompt: "p"}, "copilot --allow-all-tools -p p", nil},
		{"vibe", Launch{Headless: true, Prompt: "p", Model: "m"}, "vibe --agent m --prompt p",
			map[string]string{"VIBE_BYPASS_TOOL_PERMISSIONS": "true", "VIBE_ENABLE_TELEMETRY": "false"}},
		{"opencode", Launch{Headless: true, Prompt: "p", Timeout: 1500 * time.Millisecond},
			"timeout --kill-after=10 2 opencode run p", map[string]string{"OPENCODE_PERMISSION": `{"*":"allow"}`}},
		{"command", Launch{Headless: true, Prompt: "echo hi; exit 3"}, "sh -c|echo hi; exit 3|", map[string]string{}},
		// A followup resumes the agent's session where the agent can; the
		// others start afresh.
		{"claude", Launch{Headless: true, Prompt: "and now", Resume: true},
			"claude --dangerously-skip-permissions -p --continue|and now|--output-format stream-json --verbose", nil},
		{"codex", Launch{Headless: true, Prompt: "p", Model: "o3", Resume: true},
			"codex exec --dangerously-bypass-approvals-and-sandbox --model o3 -c model_provider=\"terok\" -c model_providers.terok.name=\"terok-vault\" -c model_providers.terok.base_url=\"http://127.0.0.1:9419/v1\" -c model_providers.terok.env_key=\"OPENAI_API_KEY\" -c model_providers.terok.wire_api=\"responses\" -c model_providers.terok.supports_websockets=false resume --last p", nil},
		{"command", Launch{Headless: true, Prompt: "true", Resume: true}, "sh -c true", nil},
		{"claude", Launch{Resume: true}, "claude --dangerously-skip-permissions", nil},
		{"command", Launch{}, "bash -l", nil},
	} {
		a, _ := r.Get(tc.agent)
		c, err := a.Command(tc.l)
		if err != nil {
			t.Errorf("%s %+v: %v", tc.agent, tc.l, err)
			continue
		}
		// Arguments with spaces are shown between bars.
		var b strings.Builder
		for i, arg := range c.Argv {
			switch {
			case strings.Contains(arg, " "):
				b.WriteString("|" + arg + "|")
			case i > 0 && !strings.HasSuffix(b.String(), "|"):
				b.WriteString(" " + arg)
			default:
				b.WriteString(arg)
			}
		}
		if got := b.String(); got != tc.argv {
			t.Errorf("%s %+v:\n got %s\nwant %s", tc.agent, tc.l, got, tc.argv)
		}
		if tc.env != nil && !reflect.DeepEqual(c.Env, tc.env) {
			t.Errorf("%s env %v, want %v", tc.agent, c.Env, tc.env)
		}
	}
	for _, tc := range []struct {
		agent, msg string
		l          Launch
	}{
		{"claude", "needs a prompt", Launch{Headless: true}},
		{"command", "takes no model", Launch{Headless: true, Prompt: "x", Model: "m"}},
		{"command", "takes no prompt interactively", Launch{Prompt: "x"}},
		{"claude", "headless runs only", Launch{Timeout: time.Second}},
	} {
		a, _ := r.Get(tc.agent)
		if _, err := a.Command(tc.l); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s %+v: got %v, want %q", tc.agent, tc.l, err, tc.msg)
		}
	}
}

func writeRoster(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for n, s := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestOverridesAndAdditions(t *testing.T) {
	dir := writeRoster(t, map[string]string{
		// Only the keys it sets change; the rest stays built in.
		"claude.toml": "[install]\ndeb = [\"npm install -g --no-fund @anthropic-ai/claude-code@1.0.0\"]\n\n[env]\nEXTRA = \"1\"\n",
		// A new agent.
		"aider.toml": "label = \"Aider\"\nbinary = \"aider\"\n[install]\ndeb = [\"pipx install aider-chat\"]\n[headless]\nargs = [\"--yes\", \"--message\", \"{prompt}\"]\n",
		"README.md":  "not a roster file",
		".#x.toml":   "editor leftovers are ignored",
	})
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := r.Get("claude")
	deb, _ := c.Lines("deb")
	rpm, _ := c.Lines("rpm")
	if len(deb) != 1 || !strings.HasSuffix(deb[0], "@1.0.0") || len(rpm) != 3 || c.Binary != "claude" ||
		c.Env["EXTRA"] != "1" || c.Env["DISABLE_AUTOUPDATER"] != "1" || c.Source != filepath.Join(dir, "claude.toml") {
		t.Fatalf("override: %+v", c)
	}
	a, ok := r.Get("aider")
	if !ok || !reflect.DeepEqual(a.Families(), []string{"deb"}) {
		t.Fatalf("addition: %+v", a)
	}
	if _, ok := a.Lines("rpm"); ok {
		t.Fatal("aider names no rpm lines, so it cannot install there")
	}
	// The built-in roster is untouched by a load with overrides.
	b, _ := Builtin()
	if c, _ := b.Get("claude"); c.Env["EXTRA"] != "" {
		t.Fatal("the override leaked into the built-in roster")
	}
	if len(r.Names()) != 7 {
		t.Fatalf("names %v", r.Names())
	}
}

func TestBadRosterFiles(t *testing.T) {
	for _, tc := range []struct {
		file, src, msg, key string
		line                int
	}{
		{"claude.toml", "label = \"x\"\n\n[headless]\npromt = \"-p\"\n", "unknown key", "headless.promt", 4},
		{"new.toml", "binary = \"x\"\n[install]\ndeb = []\n[headless]\nargs = [\"--go\"]\n", "no {prompt} argument", "headless.args", 5},
		{"new.toml", "binary = \"x\"\n[headless]\nargs = [\"{prompt}\"]\n", "no install lines", "install", 0},
		{"new.toml", "[install]\ndeb = []\n[headless]\nargs = [\"{prompt}\"]\n", "no binary", "binary", 0},
		{"new.toml", "binary = \"bin/x\"\n", "relative path", "binary", 1},
		{"new.toml", "binary = \"x\"\n[install]\ndeb = [\"a\\nb\"]\n[headless]\nargs = [\"{prompt}\"]\n", "spans lines", "install.deb", 3},
		{"new.toml", "binary = \"x\"\n[install]\nrpm = []\n[headless]\nargs = [\"--p={prompt}\"]\n", "whole argument", "headless.args", 5},
		{"new.toml", "binary = \"x\"\n[install]\nrpm = []\n[headless]\nargs = [\"{prompt}\", \"{promt}\"]\n", "unknown placeholder {promt}", "headless.args", 5},
		{"new.toml", "binary = \"x\"\n[install]\nrpm = []\n[headless]\nargs = [\"{prompt}\"]\nmodel = [\"--model\"]\n", "no {model}", "headless.model", 6},
		{"new.toml", "binary = \"x\"\n[install]\nrpm = []\n[headless]\nargs = [\"{prompt}\"]\n[env]\nTEROK_X = \"1\"\n", "may set", "env", 6},
		{"new.toml", "binary = \"x\"\n[install]\nrpm = []\n[headless]\nargs = [\"{prompt}\"]\n[vault]\nprovider = \"p\"\n", "needs the variable", "vault.token_env", 0},
		{"claude.toml", "binary = 3\n", "incompatible types", "binary", 1},
		{"claude.toml", "[vault]\nunsupported = \"no base URL\"\n", "unsupported is for agents without one", "vault.unsupported", 2},
		{"claude.toml", "[vault]\noauth_token_env = \"TEROK_GATE_TOKEN\"\n", "may set", "vault.oauth_token_env", 2},
		{"new.toml", "binary = \"x\"\n[install]\nrpm = []\n[headless]\nargs = [\"{prompt}\"]\n[vault]\noauth_token_env = \"X\"\n", "without a provider", "vault.provider", 0},
		{"new.toml", "binary = \"x\"\n[install]\nrpm = []\n[headless]\nargs = [\"{prompt}\"]\nresume = [\"{prompt}\"]\n", "unknown placeholder {prompt}", "headless.resume", 6},
		{"claude.toml", "[interactive]\nresume = [\"--continue\"]\n", "headless runs (followups) only", "interactive.resume", 2},
		{"claude.toml", "[vault]\nbase_path = \"v1\"\n", "a clean absolute path", "vault.base_path", 2},
		{"claude.toml", "[vault]\nbase_path = \"/v1/../v2\"\n", "a clean absolute path", "vault.base_path", 2},
		{"command.toml", "[vault]\nbase_path = \"/v1\"\n", "without a provider", "vault.provider", 0},
		{"claude.toml", "[vault.env]\nTEROK_GATE_URL = \"{base_url}\"\n", "may set", "vault.env", 1},
		{"command.toml", "[vault.env]\nX = \"{base_url}\"\n", "without a provider", "vault.provider", 0},
		{"claude.toml", "[login]\nfile = \"/home/agent/.claude/.credentials.json\"\n", "relative and clean", "login.file", 2},
		{"claude.toml", "[login]\nfile = \"../x\"\n", "relative and clean", "login.file", 2},
		{"claude.toml", "[login]\nhosts = [\"192.0.2.1\"]\n", "not an address", "login.hosts", 2},
		{"claude.toml", "[login]\nhosts = []\n", "no hosts", "login.hosts", 2},
		{"claude.toml", "[login]\nargs = [\"{prompt}\"]\n", "takes no placeholder", "login.args", 2},
		{"command.toml", "[login]\nargs = [\"x\"]\nfile = \"f\"\nhosts = [\"a.example\"]\n", "has none ([vault] provider)", "login", 1},
		{"claude.toml", "needs = [\"python\"]\n", `"python" is nothing an agent can need (known: node, npm)`, "needs", 1},
		{"claude.toml", "needs = [\"npm\", \"npm\"]\n", `"npm" is named twice`, "needs", 1},
		{"claude.toml", "[install\n", "", "", 2},
		{"Bad_Name.toml", "", "not an agent's name", "", 0},
	} {
		dir := writeRoster(t, map[string]string{tc.file: tc.src})
		_, err := Load(dir)
		var fe *config.FileError
		if !errors.As(err, &fe) {
			t.Errorf("%q: got %v, want a FileError", tc.src, err)
			continue
		}
		if fe.Path != filepath.Join(dir, tc.file) || fe.Line != tc.line || (tc.key != "" && fe.Key != tc.key) || !strings.Contains(fe.Msg, tc.msg) {
			t.Errorf("%q: got %+v (%v)", tc.src, fe, fe)
		}
	}
	// A "did you mean" hint for a near miss.
	_, err := Load(writeRoster(t, map[string]string{"claude.toml": "[headless]\nmodle = []\n"}))
	var fe *config.FileError
	if !errors.As(err, &fe) || !strings.Contains(fe.Hint, `"headless.model"`) {
		t.Fatalf("hint: %+v", err)
	}
}

func TestSelect(t *testing.T) {
	r, _ := Builtin()
	got, err := r.Select([]string{"command", "claude", "command"})
	if err != nil || !reflect.DeepEqual(got, []string{"claude", "command"}) {
		t.Fatalf("%v %v", got, err)
	}
	_, err = r.Select([]string{"claude", "nope"})
	var ue *UnknownError
	if !errors.As(err, &ue) || ue.Name != "nope" || !strings.Contains(ue.Hint(), "claude, codex, command") {
		t.Fatalf("got %v", err)
	}
	if got, _ := r.Select(nil); len(got) != 0 {
		t.Fatal("empty selection")
	}
}

// FuzzRosterFile: any file content either loads or fails with an error
// that names the file; never a panic.
func FuzzRosterFile(f *testing.F) {
	for _, s := range []string{"", "binary = \"x\"", "[install]\ndeb = []", "[headless]\nargs = [\"{prompt}\", \"{flags}\"]",
		"[env]\nA = \"b\"", "[permissions]\nflags = [\"{model}\"]", "[[install]]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "claude.toml"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := Load(dir)
		if err != nil {
			var fe *config.FileError
			if !errors.As(err, &fe) || fe.Path != filepath.Join(dir, "claude.toml") {
				t.Fatalf("error without the file: %v", err)
			}
			return
		}
		a, _ := r.Get("claude")
		if _, err := a.Command(Launch{Headless: true, Prompt: "p"}); err != nil {
			t.Fatalf("a valid entry cannot run headless: %v", err)
		}
	})
}
