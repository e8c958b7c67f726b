package vault

import (
	"net/netip"
	"net/url"
	"sort"
	"strings"
)

// knownHosts are each built-in provider's hosts where its credentials
// work besides those its route names (upstream, OAuth upstream, token
// endpoint): its consoles, its agents' sign-in and feature-flag hosts. A
// task's shield denies them all (lib/task), so that a real key smuggled
// into a task is worth nothing there; a project lifts that per provider
// with project.toml [vault] direct.
var knownHosts = map[string][]string{
	// Claude Code's API, its sign-in (claude.ai, the consoles) and its
	// feature flags (statsig).
	"anthropic": {"api.anthropic.com", "console.anthropic.com", "platform.claude.com", "claude.ai", "statsig.anthropic.com"},
	// The API, its console, and Codex's ChatGPT sign-in and backend.
	"openai": {"api.openai.com", "platform.openai.com", "auth.openai.com", "chatgpt.com"},
	// The API, its console and Codestral's own endpoint.
	"mistral": {"api.mistral.ai", "console.mistral.ai", "codestral.mistral.ai"},
}

// Providers are the routes' providers, sorted.
func (r Routes) Providers() []string {
	out := make([]string, 0, len(r))
	for p := range r {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Hosts are provider's real API and auth hosts: the hosts of its route's
// upstream, OAuth upstream and token endpoint, and the provider's other
// known hosts; sorted, without duplicates. Loopback addresses and
// localhost are left out (a task's loopback is its own: an upstream on
// the host's loopback, a gateway or a test's server, is no host a task
// could reach anyway).
func (r Routes) Hosts(provider string) []string {
	seen := map[string]bool{}
	add := func(h string) {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if h == "" || h == "localhost" {
			return
		}
		if a, err := netip.ParseAddr(h); err == nil && a.IsLoopback() {
			return
		}
		seen[h] = true
	}
	rt, ok := r[provider]
	if ok {
		for _, s := range []string{rt.Upstream, rt.OAuthUpstream, rt.TokenURL} {
			if u, err := url.Parse(s); err == nil && s != "" {
				add(u.Hostname())
			}
		}
	}
	for _, h := range knownHosts[provider] {
		add(h)
	}
	out := make([]string, 0, len(seen))
	for h := range seen {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}
