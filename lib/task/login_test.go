package task

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/agent"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/policy"
	"github.com/terok-ai/terok-go/lib/vault"
)

// A login's policy allows its agent's sign-in hosts and its provider's
// token endpoint, nothing else; every provider's hosts stay denied but
// for exactly those.
func TestLoginPolicy(t *testing.T) {
	roster, err := agent.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	texts := func(es []policy.Entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Text)
		}
		return out
	}
	for _, tc := range []struct {
		name, agent string
		routes      func() (vault.Routes, error)
		allow       string
		denied      []string // must be denied
		lifted      []string // must not be
	}{
		{name: "claude, the built-in routes", agent: "claude",
			allow:  "[platform.claude.com api.anthropic.com claude.ai]",
			denied: []string{"console.anthropic.com", "statsig.anthropic.com", "api.openai.com", "auth.openai.com", "chatgpt.com", "api.mistral.ai"},
			lifted: []string{"platform.claude.com", "api.anthropic.com", "claude.ai"}},
		{name: "codex", agent: "codex",
			allow:  "[auth.openai.com chatgpt.com]",
			denied: []string{"api.openai.com", "platform.openai.com", "api.anthropic.com", "claude.ai"},
			lifted: []string{"auth.openai.com", "chatgpt.com"}},
		{name: "a configured token endpoint is allowed too", agent: "claude",
			routes: func() (vault.Routes, error) {
				return vault.DefaultRoutes().With(map[string]vault.RouteConfig{"anthropic": {TokenURL: "https://login.example.com/token"}})
			},
			allow:  "[platform.claude.com api.anthropic.com claude.ai login.example.com]",
			denied: []string{"console.anthropic.com"}, lifted: []string{"login.example.com"}},
		{name: "one on the host's loopback is no host to allow", agent: "claude",
			routes: func() (vault.Routes, error) {
				return vault.DefaultRoutes().With(map[string]vault.RouteConfig{"anthropic": {TokenURL: "http://127.0.0.1:9/token"}})
			},
			allow: "[platform.claude.com api.anthropic.com claude.ai]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ag, _ := roster.Get(tc.agent)
			r := &Runner{Routes: tc.routes}
			st, err := r.loginPolicy(ag)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(texts(st.Allow)); got != tc.allow {
				t.Errorf("allow %s, want %s", got, tc.allow)
			}
			for _, e := range st.Allow {
				if e.From != LoginFrom+tc.agent {
					t.Errorf("allow entry %+v", e)
				}
			}
			if len(st.Deny) != 0 || st.Posture != policy.PostureUp {
				t.Errorf("deny %v, posture %s", st.Deny, st.Posture)
			}
			denied := texts(st.VaultDeny)
			for _, h := range tc.denied {
				if !slices.Contains(denied, h) {
					t.Errorf("%s is not denied: %v", h, denied)
				}
			}
			for _, h := range tc.lifted {
				if slices.Contains(denied, h) {
					t.Errorf("%s is denied: %v", h, denied)
				}
			}
			// What the shield and the resolver enforce: the allowed hosts
			// are not denied by the policy as a whole.
			pol := st.Policy()
			for _, a := range pol.Allow {
				for _, d := range pol.Deny {
					if d.Text == a.Text {
						t.Errorf("%s is both allowed and denied", a.Text)
					}
				}
			}
		})
	}
	// A wildcard login host lifts every provider host under it.
	ag, _ := roster.Get("claude")
	c := *ag
	c.Login.Hosts = []string{"*.anthropic.com"}
	st, err := (&Runner{}).loginPolicy(&c)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range texts(st.VaultDeny) {
		if t2, _ := config.ParseTarget("*.anthropic.com"); t2.Matches(h) {
			t.Errorf("%s is denied under an allowed *.anthropic.com", h)
		}
	}
	if !slices.Contains(texts(st.VaultDeny), "claude.ai") {
		t.Errorf("claude.ai is not denied: %v", texts(st.VaultDeny))
	}
}

// The agents' vault variables: the phantom, the base URL with the route's
// base path or the roster's own (OpenCode's /v1), and Vibe's providers as
// JSON with the base URL in them.
func TestVaultEnv(t *testing.T) {
	roster, err := agent.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := &Runner{Paths: config.Paths{State: dir + "/state", Data: dir + "/data"}, Roster: roster}
	if _, err := vault.Init(r.Paths.VaultDir(), "vault passphrase", vault.InitOptions{WorkFactor: 10}); err != nil {
		t.Fatal(err)
	}
	st, err := vault.Open(context.Background(), r.Paths.VaultDir(), vault.KeySource{Prompt: func(context.Context) (string, error) { return "vault passphrase", nil }})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"anthropic", "mistral"} {
		if err := st.Set(p, vault.Credential{Kind: vault.APIKey, APIKey: "real-" + p}); err != nil {
			t.Fatal(err)
		}
	}
	r.Vault = func(context.Context) (*vault.Store, error) { return st, nil }
	for _, tc := range []struct{ agent, provider, token, baseEnv, base string }{
		{"claude", "anthropic", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "http://127.0.0.1:9419"},
		{"opencode", "anthropic", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "http://127.0.0.1:9419/v1"},
		{"vibe", "mistral", "MISTRAL_API_KEY", "", ""},
	} {
		env, err := r.vaultEnv(context.Background(), Record{ID: "t" + tc.agent, Project: "p", Agent: tc.agent, Vault: tc.provider}, map[string]string{"KEPT": "1"})
		if err != nil {
			t.Fatalf("%s: %v", tc.agent, err)
		}
		if !strings.HasPrefix(env[tc.token], vault.PhantomPrefix) || env["KEPT"] != "1" || (tc.baseEnv != "" && env[tc.baseEnv] != tc.base) {
			t.Errorf("%s: %v", tc.agent, env)
		}
		if strings.Contains(fmt.Sprint(env), "real-") {
			t.Errorf("%s: the real key in %v", tc.agent, env)
		}
	}
	env, _ := r.vaultEnv(context.Background(), Record{ID: "tvibe2", Project: "p", Agent: "vibe", Vault: "mistral"}, nil)
	var providers []struct {
		Name    string
		APIBase string `json:"api_base"`
		Key     string `json:"api_key_env_var"`
		Backend string
	}
	if err := json.Unmarshal([]byte(env["VIBE_PROVIDERS"]), &providers); err != nil {
		t.Fatalf("VIBE_PROVIDERS: %v in %q", err, env["VIBE_PROVIDERS"])
	}
	if len(providers) == 0 || providers[0].Name != "mistral" || providers[0].APIBase != "http://127.0.0.1:9419/v1" ||
		providers[0].Key != "MISTRAL_API_KEY" || providers[0].Backend != "mistral" {
		t.Errorf("Vibe's providers: %+v", providers)
	}
}
