package session

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/engine"
)

// testEnv is a command's Env whose terok roots are under a fresh directory.
func testEnv(t *testing.T) (*cli.Env, string) {
	t.Helper()
	root := t.TempDir()
	vars := map[string]string{}
	for _, k := range []string{"CONFIG", "STATE", "DATA", "RUNTIME", "CACHE"} {
		vars["TEROK_"+k+"_DIR"] = filepath.Join(root, strings.ToLower(k))
	}
	return &cli.Env{Ctx: context.Background(), Getenv: func(k string) string { return vars[k] }}, root
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// errNoPodman stands in for engine.Connect: the tests reach no Podman.
var errNoPodman = errors.New("no podman here")

// fakeConnect records the options it was called with.
func fakeConnect(calls *[]engine.Options) func(context.Context, engine.Options) (*engine.Engine, error) {
	return func(_ context.Context, o engine.Options) (*engine.Engine, error) {
		*calls = append(*calls, o)
		return nil, errNoPodman
	}
}

func TestOpenLoadsConfigOnce(t *testing.T) {
	env, root := testEnv(t)
	cfg := filepath.Join(root, "config", "config.toml")
	write(t, cfg, "[podman]\nsocket = \"unix:///first.sock\"\n")
	s, err := Open(env)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Paths.Config != filepath.Join(root, "config") || s.Global.Podman.Socket != "unix:///first.sock" {
		t.Fatalf("paths %+v, global %+v", s.Paths, s.Global.Podman)
	}
	// Read once: a change to the file afterwards is not seen by this
	// session's engine.
	write(t, cfg, "[podman]\nsocket = \"unix:///second.sock\"\n")
	var calls []engine.Options
	s.connect = fakeConnect(&calls)
	if _, err := s.Engine(env.Ctx); !errors.Is(err, errNoPodman) {
		t.Fatalf("engine: %v", err)
	}
	if len(calls) != 1 || calls[0].Socket != "unix:///first.sock" || calls[0].ServiceSocket != s.Paths.PodmanSocket() {
		t.Fatalf("connect options %+v", calls)
	}
	// A runner needs the engine: its error comes back, nothing half made.
	if r, err := s.Runner(env.Ctx); r != nil || !errors.Is(err, errNoPodman) {
		t.Fatalf("runner %v, %v", r, err)
	}
}

func TestConfigErrorCarriesHint(t *testing.T) {
	env, root := testEnv(t)
	write(t, filepath.Join(root, "config", "config.toml"), "[podman]\nsockett = 1\n")
	_, err := Open(env)
	if cli.CodeOf(err) != cli.ExitFailure || !strings.Contains(err.Error(), "config.toml:2") || cli.HintOf(err) == "" {
		t.Fatalf("got %v (code %d, hint %q)", err, cli.CodeOf(err), cli.HintOf(err))
	}
	// Paths alone do not read the file; the engine does, and fails the same way.
	s, err := OpenPaths(env)
	if err != nil {
		t.Fatal(err)
	}
	var calls []engine.Options
	s.connect = fakeConnect(&calls)
	_, err = s.Engine(env.Ctx)
	if cli.CodeOf(err) != cli.ExitFailure || cli.HintOf(err) == "" || len(calls) != 0 {
		t.Fatalf("engine: %v, %d connects", err, len(calls))
	}
	// Other errors pass through unchanged.
	plain := errors.New("plain")
	if ConfigError(plain) != plain {
		t.Fatal("ConfigError changed a plain error")
	}
	fe := &config.FileError{Path: "/x/project.toml", Line: 3, Key: "k", Msg: "bad", Hint: "fix k"}
	if e := ConfigError(fe); e.Error() != "/x/project.toml:3: k: bad" || cli.HintOf(e) != "fix k" {
		t.Fatalf("got %v, hint %q", e, cli.HintOf(e))
	}
}

func TestPathsNotSetUp(t *testing.T) {
	env := &cli.Env{Ctx: context.Background(), Getenv: func(k string) string {
		if k == "TEROK_CONFIG_DIR" {
			return "relative/dir"
		}
		return ""
	}}
	if _, err := Open(env); cli.CodeOf(err) != cli.ExitNotSetUp {
		t.Fatalf("got %v (code %d)", err, cli.CodeOf(err))
	}
}

func TestRosterOnce(t *testing.T) {
	env, _ := testEnv(t)
	s, err := Open(env)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := s.Roster()
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := s.Roster()
	if r1 != r2 || len(r1.Names()) == 0 {
		t.Fatal("the roster is loaded once and holds the built-in agents")
	}
	// A broken agent file is a config error with its hint.
	write(t, filepath.Join(s.Paths.AgentsDir(), "x.toml"), "nonsense = [\n")
	s2, _ := Open(env)
	if _, err := s2.Roster(); cli.CodeOf(err) != cli.ExitFailure || !strings.Contains(err.Error(), "x.toml") {
		t.Fatalf("got %v", err)
	}
}

func TestResolveTask(t *testing.T) {
	env, _ := testEnv(t)
	s, err := OpenPaths(env)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(s.Paths.State, "tasks")
	for _, id := range []string{"22222222", "22222223", "3456789a"} {
		write(t, filepath.Join(dir, id+".json"), `{"project":"demo"}`)
	}
	if id, err := s.ResolveTask("345"); err != nil || id != "3456789a" {
		t.Fatalf("got %q, %v", id, err)
	}
	for ref, code := range map[string]int{"zzzz": cli.ExitNotFound, "2222": cli.ExitUsage, "x/../y": cli.ExitUsage} {
		_, err := s.ResolveTask(ref)
		if cli.CodeOf(err) != code {
			t.Errorf("%s: got %v (code %d), want %d", ref, err, cli.CodeOf(err), code)
		}
	}
	if _, err := s.ResolveTask("zzzz"); cli.HintOf(err) != "'terok-task ls' lists tasks" {
		t.Errorf("hint %q", cli.HintOf(err))
	}
	r := s.RunnerWithoutEngine()
	if r.Engine != nil || r.Paths.State != s.Paths.State {
		t.Fatalf("runner without engine: %+v", r)
	}
	s.Close()
	s.Close() // closing twice, or with nothing opened, is fine
}

// The vault's routes are the built-in ones with config.toml's providers
// applied; a runner (with or without the engine) takes the same.
func TestVaultRoutesOfRunners(t *testing.T) {
	env, root := testEnv(t)
	write(t, filepath.Join(root, "config", "config.toml"),
		"[vault.providers.anthropic]\nupstream = \"http://127.0.0.1:8080\"\n\n[vault.providers.gateway]\nupstream = \"https://llm.example\"\napi_key_header = \"Authorization\"\napi_key_prefix = \"Bearer \"\n")
	s, err := Open(env)
	if err != nil {
		t.Fatal(err)
	}
	routes, err := s.RunnerWithoutEngine().VaultRoutes()
	if err != nil {
		t.Fatal(err)
	}
	if a := routes["anthropic"]; a.Upstream != "http://127.0.0.1:8080" || a.APIKeyHeader != "x-api-key" {
		t.Errorf("anthropic: %+v", a)
	}
	if g := routes["gateway"]; g.Upstream != "https://llm.example" || g.APIKeyPrefix != "Bearer " {
		t.Errorf("gateway: %+v", g)
	}
	if routes["openai"].Upstream != "https://api.openai.com" {
		t.Errorf("openai: %+v", routes["openai"])
	}
	// A provider of its own needs its key's header.
	g := config.DefaultGlobal()
	g.Vault.Providers = map[string]config.VaultProvider{"bare": {Upstream: "https://x.example"}}
	if _, err := VaultRoutes(g); err == nil || !strings.Contains(err.Error(), "api key header") {
		t.Errorf("a route without its key's header: %v", err)
	}
}
