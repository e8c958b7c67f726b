package session

import (
	"reflect"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/vault"
)

func TestVaultRoutes(t *testing.T) {
	// Without providers in config.toml: the built-in routes, unchanged.
	g := config.DefaultGlobal()
	r, err := VaultRoutes(g)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r, vault.DefaultRoutes()) {
		t.Fatalf("routes without overrides differ from the defaults:\n%v", r)
	}

	// An override of a built-in provider keeps what it does not name; a
	// new provider gets what it names; every field is carried over.
	empty := ""
	g.Vault.Providers = map[string]config.VaultProvider{
		"anthropic": {Upstream: "http://127.0.0.1:8080"},
		"gateway": {
			Upstream:      "https://llm.example.org/base",
			OAuthUpstream: "https://oauth.example.org",
			TokenURL:      "https://auth.example.org/token",
			ClientID:      "client-1",
			APIKeyHeader:  "api-key",
			APIKeyPrefix:  &empty,
			Paths:         []string{"/v1/"},
			ErrorShape:    "mistral",
		},
		"openai": {APIKeyHeader: "x-key", APIKeyPrefix: &empty},
	}
	r, err = VaultRoutes(g)
	if err != nil {
		t.Fatal(err)
	}
	def := vault.DefaultRoutes()
	a := r["anthropic"]
	if a.Upstream != "http://127.0.0.1:8080" || a.APIKeyHeader != def["anthropic"].APIKeyHeader ||
		a.TokenURL != def["anthropic"].TokenURL || !reflect.DeepEqual(a.Agents, def["anthropic"].Agents) {
		t.Fatalf("anthropic override: %+v", a)
	}
	o := r["openai"]
	if o.APIKeyHeader != "x-key" || o.APIKeyPrefix != "" || o.Upstream != def["openai"].Upstream {
		t.Fatalf("openai override: %+v", o)
	}
	want := vault.Route{Provider: "gateway", Upstream: "https://llm.example.org/base",
		OAuthUpstream: "https://oauth.example.org", TokenURL: "https://auth.example.org/token",
		ClientID: "client-1", APIKeyHeader: "api-key", Paths: []string{"/v1/"}, ErrorShape: "mistral"}
	if !reflect.DeepEqual(r["gateway"], want) {
		t.Fatalf("gateway:\n got %+v\nwant %+v", r["gateway"], want)
	}
	if !reflect.DeepEqual(r["mistral"], def["mistral"]) {
		t.Fatalf("mistral changed: %+v", r["mistral"])
	}

	// A new provider without an upstream is not a route: the error names
	// config.toml's table and the provider.
	g.Vault.Providers = map[string]config.VaultProvider{"local": {APIKeyHeader: "x-api-key"}}
	if _, err := VaultRoutes(g); err == nil || !strings.Contains(err.Error(), "[vault.providers]") ||
		!strings.Contains(err.Error(), "local") {
		t.Fatalf("provider without upstream: %v", err)
	}
}
