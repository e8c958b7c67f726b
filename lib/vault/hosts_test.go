package vault

import (
	"reflect"
	"testing"
)

// A provider's hosts are its route's (upstream, OAuth upstream, token
// endpoint, as configured) and its other known ones; the host's loopback
// is never one.
func TestRoutesHosts(t *testing.T) {
	r := DefaultRoutes()
	if got := r.Providers(); !reflect.DeepEqual(got, []string{"anthropic", "mistral", "openai"}) {
		t.Fatalf("providers: %v", got)
	}
	for p, want := range map[string][]string{
		"anthropic": {"api.anthropic.com", "claude.ai", "console.anthropic.com", "platform.claude.com", "statsig.anthropic.com"},
		"openai":    {"api.openai.com", "auth.openai.com", "chatgpt.com", "platform.openai.com"},
		"mistral":   {"api.mistral.ai", "codestral.mistral.ai", "console.mistral.ai"},
		"nobody":    {},
	} {
		if got := r.Hosts(p); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v, want %v", p, got, want)
		}
	}
	over, err := r.With(map[string]RouteConfig{
		"anthropic": {Upstream: "http://127.0.0.1:8080", TokenURL: "https://Auth.Example.COM/token"},
		"gateway":   {Upstream: "https://llm.corp.example:8443/v1", APIKeyHeader: "Authorization"},
		"local":     {Upstream: "http://localhost:9000", APIKeyHeader: "x-api-key"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string][]string{
		// The built-in hosts stay: configuring a gateway does not make the
		// real API any less worth denying.
		"anthropic": {"api.anthropic.com", "auth.example.com", "claude.ai", "console.anthropic.com", "platform.claude.com", "statsig.anthropic.com"},
		"gateway":   {"llm.corp.example"},
		"local":     {},
	} {
		if got := over.Hosts(p); !reflect.DeepEqual(got, want) {
			t.Errorf("configured %s: %v, want %v", p, got, want)
		}
	}
}
