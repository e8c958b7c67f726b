package vault

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseCredentialFile(t *testing.T) {
	exp := time.Date(2026, 8, 5, 12, 0, 0, 0, time.UTC)
	access := jwt(map[string]any{"exp": exp.Unix()})
	idTok := jwt(map[string]any{"https://api.openai.com/auth": map[string]any{"chatgpt_account_id": "acct-from-jwt"}})
	for _, tc := range []struct {
		name, file string
		provider   string
		want       Credential
		err        string
	}{
		{
			name: "claude oauth login",
			file: `{"claudeAiOauth":{"accessToken":"sk-ant-oat01-A","refreshToken":"sk-ant-ort01-R","expiresAt":` +
				itoa(exp.UnixMilli()) + `,"refreshTokenExpiresAt":1788322307181,"scopes":["user:inference","user:profile"],"subscriptionType":"max","rateLimitTier":"default_claude_max_20x"}}`,
			provider: "anthropic",
			want:     Credential{Kind: OAuth, AccessToken: "sk-ant-oat01-A", RefreshToken: "sk-ant-ort01-R", Expiry: exp, Scopes: []string{"user:inference", "user:profile"}, Source: "import:claude"},
		},
		{
			name:     "claude with a client id, and an mcpOAuth sibling",
			file:     `{"mcpOAuth":{},"claudeAiOauth":{"accessToken":"a","expiresAt":1,"scopes":[],"clientId":"cid"}}`,
			provider: "anthropic",
			want:     Credential{Kind: OAuth, AccessToken: "a", Expiry: time.UnixMilli(1).UTC(), Scopes: []string{}, ClientID: "cid", Source: "import:claude"},
		},
		{name: "claude logged out", file: `{"claudeAiOauth":{"accessToken":"","refreshToken":"","expiresAt":0}}`, err: "no tokens"},
		{name: "claude api key (.claude.json)", file: `{"numStartups":3,"primaryApiKey":"sk-ant-api03-K"}`, provider: "anthropic",
			want: Credential{Kind: APIKey, APIKey: "sk-ant-api03-K", Source: "import:claude"}},
		{name: "claude phantom", file: `{"claudeAiOauth":{"accessToken":"` + PhantomPrefix + `00","expiresAt":1}}`, err: "phantom"},
		{name: "codex api key", file: `{"OPENAI_API_KEY":"sk-proj-K","tokens":null,"last_refresh":null}`, provider: "openai",
			want: Credential{Kind: APIKey, APIKey: "sk-proj-K", Source: "import:codex"}},
		{name: "codex api key with auth_mode", file: `{"auth_mode":"apikey","OPENAI_API_KEY":"sk-proj-K"}`, provider: "openai",
			want: Credential{Kind: APIKey, APIKey: "sk-proj-K", Source: "import:codex"}},
		{
			name:     "codex chatgpt login",
			file:     `{"OPENAI_API_KEY":null,"tokens":{"id_token":"` + idTok + `","access_token":"` + access + `","refresh_token":"rt_1","account_id":"acct-1"},"last_refresh":"2026-07-26T10:00:00Z"}`,
			provider: "openai",
			want:     Credential{Kind: OAuth, AccessToken: access, RefreshToken: "rt_1", Expiry: exp, AccountID: "acct-1", Source: "import:codex"},
		},
		{
			name:     "codex chatgpt login, account from the id token",
			file:     `{"auth_mode":"chatgpt","OPENAI_API_KEY":"","tokens":{"id_token":"` + idTok + `","access_token":"opaque","refresh_token":"rt_1"}}`,
			provider: "openai",
			want:     Credential{Kind: OAuth, AccessToken: "opaque", RefreshToken: "rt_1", AccountID: "acct-from-jwt", Source: "import:codex"},
		},
		{name: "codex empty", file: `{"OPENAI_API_KEY":null}`, err: "neither"},
		{name: "codex agent identity", file: `{"auth_mode":"agentIdentity","agent_identity":"x"}`, err: "auth_mode"},
		{name: "codex key with a newline", file: `{"OPENAI_API_KEY":"sk\nX-Evil: 1"}`, err: "control"},
		{name: "not json", file: `OPENAI_API_KEY=sk`, err: "not JSON"},
		{name: "unknown json", file: `{"token":"x"}`, err: "not a credential file"},
		{name: "array", file: `[1]`, err: "not JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, c, err := ParseCredentialFile([]byte(tc.file))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p != tc.provider || c.Kind != tc.want.Kind || c.APIKey != tc.want.APIKey || c.AccessToken != tc.want.AccessToken ||
				c.RefreshToken != tc.want.RefreshToken || !c.Expiry.Equal(tc.want.Expiry) || c.AccountID != tc.want.AccountID ||
				c.ClientID != tc.want.ClientID || strings.Join(c.Scopes, ",") != strings.Join(tc.want.Scopes, ",") || c.Source != tc.want.Source {
				t.Fatalf("got %s %#v\n%+v", p, c, struct {
					A, R, Acc string
					E         time.Time
				}{c.AccessToken, c.RefreshToken, c.AccountID, c.Expiry})
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestReadCredentialFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "auth.json")
	if err := os.WriteFile(p, []byte(`{"OPENAI_API_KEY":"sk-x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if prov, c, err := ReadCredentialFile(p); err != nil || prov != "openai" || c.APIKey != "sk-x" {
		t.Fatalf("%s %v %v", prov, c, err)
	}
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, make([]byte, maxCredentialFile+10), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadCredentialFile(big); err == nil || !strings.Contains(err.Error(), "larger") {
		t.Fatalf("%v", err)
	}
	if _, _, err := ReadCredentialFile(filepath.Join(dir, "none")); err == nil {
		t.Fatal("a missing file")
	}
}

func TestClaudeCredentialsFile(t *testing.T) {
	tok := PhantomPrefix + strings.Repeat("a", 48)
	b := ClaudeCredentialsFile(tok, nil)
	// Imported back, it is refused: it holds a phantom.
	if _, _, err := ParseCredentialFile(b); err == nil || !strings.Contains(err.Error(), "phantom") {
		t.Fatalf("%v", err)
	}
	if !strings.Contains(string(b), `"user:inference"`) || strings.Contains(string(b), "refreshToken") {
		t.Fatalf("%s", b)
	}
}
