package vault

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// Route is how one provider's requests leave the host: where they go and
// how the real credential is presented. The proxy picks the route by the
// phantom token's provider, never by the request's path or Host.
type Route struct {
	Provider string `json:"provider"`
	// Upstream is the base URL requests go to: scheme, host, optional
	// port and path prefix. The request's path is appended to it.
	Upstream string `json:"upstream"`
	// APIKeyHeader and APIKeyPrefix present an API key: "x-api-key" with
	// no prefix, or "Authorization" with "Bearer ".
	APIKeyHeader string `json:"api_key_header"`
	APIKeyPrefix string `json:"api_key_prefix,omitempty"`
	// OAuthHeaders are added to a request made with an OAuth credential
	// (which goes as Authorization: Bearer); a header the agent sent
	// already gets the value appended to its comma list. With an API key
	// they are taken out of the agent's headers instead.
	OAuthHeaders map[string]string `json:"oauth_headers,omitempty"`
	// OAuthUpstream, if set, is where requests with an OAuth credential go
	// instead (ChatGPT's Codex backend), after OAuthStripPrefix is taken
	// off the path.
	OAuthUpstream    string `json:"oauth_upstream,omitempty"`
	OAuthStripPrefix string `json:"oauth_strip_prefix,omitempty"`
	// AccountHeader carries an OAuth credential's AccountID.
	AccountHeader string `json:"account_header,omitempty"`
	// TokenURL and ClientID refresh OAuth credentials that name none;
	// RefreshForm sends the refresh as a form (RFC 6749) instead of JSON.
	TokenURL    string `json:"token_url,omitempty"`
	ClientID    string `json:"client_id,omitempty"`
	RefreshForm bool   `json:"refresh_form,omitempty"`
	// Paths, if not empty, are the only path prefixes requests may have.
	Paths []string `json:"paths,omitempty"`
	// ErrorShape is the JSON error form the provider's clients print:
	// "anthropic", "openai" or "mistral".
	ErrorShape string `json:"error_shape"`
	// BasePath is what an agent's base URL must end with for its SDK to
	// reach this route's paths ("/v1" for OpenAI's SDKs).
	BasePath string `json:"base_path,omitempty"`
	// Agents are the roster's agents that use this provider (for
	// `terok-vault routes`).
	Agents []string `json:"agents,omitempty"`
}

// Routes are the routes by provider.
type Routes map[string]Route

// DefaultRoutes are the real providers, over TLS. The OAuth client ids and
// token endpoints are the agents' own (Claude Code's, Codex's): the vault
// refreshes the credentials those agents' logins made.
func DefaultRoutes() Routes {
	return Routes{
		"anthropic": {
			Provider:     "anthropic",
			Upstream:     "https://api.anthropic.com",
			APIKeyHeader: "x-api-key",
			OAuthHeaders: map[string]string{"anthropic-beta": "oauth-2025-04-20"},
			TokenURL:     "https://platform.claude.com/v1/oauth/token",
			ClientID:     "9d1c250a-e61b-44d9-88ed-5944d1962f5e",
			ErrorShape:   "anthropic",
			Agents:       []string{"claude", "opencode"},
		},
		"openai": {
			Provider:         "openai",
			Upstream:         "https://api.openai.com",
			APIKeyHeader:     "Authorization",
			APIKeyPrefix:     "Bearer ",
			OAuthUpstream:    "https://chatgpt.com/backend-api/codex",
			OAuthStripPrefix: "/v1",
			AccountHeader:    "chatgpt-account-id",
			TokenURL:         "https://auth.openai.com/oauth/token",
			ClientID:         "app_EMoamEEZ73f0CkXaXp7hrann",
			ErrorShape:       "openai",
			BasePath:         "/v1",
			Agents:           []string{"codex"},
		},
		"mistral": {
			Provider:     "mistral",
			Upstream:     "https://api.mistral.ai",
			APIKeyHeader: "Authorization",
			APIKeyPrefix: "Bearer ",
			ErrorShape:   "mistral",
			BasePath:     "/v1",
			Agents:       []string{"vibe"},
		},
	}
}

// RouteConfig is one provider's settings from config.toml
// ([vault.providers.NAME]); an empty field keeps the default. A provider
// with no default route needs Upstream and APIKeyHeader.
type RouteConfig struct {
	Upstream      string
	OAuthUpstream string
	TokenURL      string
	ClientID      string
	APIKeyHeader  string
	APIKeyPrefix  *string
	Paths         []string
	ErrorShape    string
}

// With returns r with the overrides applied, each route checked.
func (r Routes) With(over map[string]RouteConfig) (Routes, error) {
	out := Routes{}
	for p, rt := range r {
		out[p] = rt
	}
	names := make([]string, 0, len(over))
	for p := range over {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		o := over[p]
		rt, ok := out[p]
		if !ok {
			rt = Route{Provider: p, ErrorShape: "openai"}
		}
		set := func(dst *string, v string) {
			if v != "" {
				*dst = v
			}
		}
		set(&rt.Upstream, o.Upstream)
		set(&rt.OAuthUpstream, o.OAuthUpstream)
		set(&rt.TokenURL, o.TokenURL)
		set(&rt.ClientID, o.ClientID)
		set(&rt.APIKeyHeader, o.APIKeyHeader)
		set(&rt.ErrorShape, o.ErrorShape)
		if o.APIKeyPrefix != nil {
			rt.APIKeyPrefix = *o.APIKeyPrefix
		}
		if o.Paths != nil {
			rt.Paths = o.Paths
		}
		out[p] = rt
	}
	for _, p := range names {
		if err := out[p].Check(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Check validates a route.
func (rt Route) Check() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("vault route %s: %s", rt.Provider, fmt.Sprintf(format, a...))
	}
	if err := ValidProvider(rt.Provider); err != nil {
		return bad("%v", err)
	}
	if _, err := baseURL(rt.Upstream); err != nil {
		return bad("upstream: %v", err)
	}
	if rt.OAuthUpstream != "" {
		if _, err := baseURL(rt.OAuthUpstream); err != nil {
			return bad("oauth upstream: %v", err)
		}
	}
	if rt.TokenURL != "" {
		if _, err := baseURL(rt.TokenURL); err != nil {
			return bad("token url: %v", err)
		}
	}
	h := http.CanonicalHeaderKey(rt.APIKeyHeader)
	if h == "" || !validHeaderName(h) || hopByHop[h] {
		return bad("api key header %q is not a header name", rt.APIKeyHeader)
	}
	if !headerValueSafe(rt.APIKeyPrefix) {
		return bad("api key prefix holds control characters")
	}
	for k, v := range rt.OAuthHeaders {
		if !validHeaderName(k) || !headerValueSafe(v) {
			return bad("oauth header %q is not a header", k)
		}
	}
	if rt.AccountHeader != "" && !validHeaderName(rt.AccountHeader) {
		return bad("account header %q is not a header name", rt.AccountHeader)
	}
	for _, p := range rt.Paths {
		if !strings.HasPrefix(p, "/") {
			return bad("path %q does not start with /", p)
		}
	}
	switch rt.ErrorShape {
	case "anthropic", "openai", "mistral":
	default:
		return bad("error shape %q is not anthropic, openai or mistral", rt.ErrorShape)
	}
	return nil
}

// baseURL parses an upstream: absolute http(s), a host, no user, query or
// fragment. Plain http is allowed (a gateway on the host, the tests'
// scripted server) because config.toml must name it explicitly.
func baseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("%q is not an http(s) URL", s)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return nil, fmt.Errorf("%q must be scheme://host[:port][/path], nothing more", s)
	}
	return u, nil
}
