package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// The agents' own credential files, as their sources and users' reports
// show them:
//
// Claude Code, ~/.claude/.credentials.json (Linux; CLAUDE_CONFIG_DIR moves
// it), mode 0600:
//
//	{"claudeAiOauth": {"accessToken": "sk-ant-oat01-...", "refreshToken": "sk-ant-ort01-...",
//	  "expiresAt": 1785956423181, "refreshTokenExpiresAt": ..., "scopes": ["user:inference", ...],
//	  "subscriptionType": "max", "rateLimitTier": "...", "clientId": "..." (non-default clients only)}}
//
// expiresAt is in milliseconds. A failed refresh leaves the tokens empty.
// An API key login lives in ~/.claude.json instead, as "primaryApiKey".
//
// Codex, ~/.codex/auth.json (openai/codex codex-rs/login, AuthDotJson):
//
//	{"auth_mode": "apikey"|"chatgpt"|..., "OPENAI_API_KEY": "sk-..."|null,
//	 "tokens": {"id_token": JWT, "access_token": JWT, "refresh_token": "...", "account_id": "..."},
//	 "last_refresh": RFC 3339}
//
// Without auth_mode, a present OPENAI_API_KEY means an API key login (as
// Codex itself resolves it); the access token's expiry is its JWT's exp.

// maxCredentialFile bounds what ReadCredentialFile reads.
const maxCredentialFile = 1 << 20

// ReadCredentialFile reads an agent's credential file (see
// ParseCredentialFile).
func ReadCredentialFile(path string) (provider string, c Credential, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", Credential{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCredentialFile+1))
	if err != nil {
		return "", Credential{}, err
	}
	if len(data) > maxCredentialFile {
		return "", Credential{}, fmt.Errorf("%s is larger than a credential file", path)
	}
	provider, c, err = ParseCredentialFile(data)
	if err != nil {
		return "", Credential{}, fmt.Errorf("%s: %w", path, err)
	}
	return provider, c, nil
}

// ParseCredentialFile recognises Claude Code's .credentials.json (or its
// .claude.json API key) and Codex's auth.json, and returns the provider it
// is for and the credential, checked. The caller stores it (Store.Set)
// after comparing the provider with the one the user named.
func ParseCredentialFile(data []byte) (provider string, c Credential, err error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return "", Credential{}, errors.New("not JSON: not an agent's credential file")
	}
	switch {
	case top["claudeAiOauth"] != nil || top["primaryApiKey"] != nil:
		provider = "anthropic"
		c, err = claudeCredential(top)
	case top["OPENAI_API_KEY"] != nil || top["tokens"] != nil || top["auth_mode"] != nil:
		provider = "openai"
		c, err = codexCredential(top)
	default:
		return "", Credential{}, errors.New("not a credential file terok knows (Claude Code's .credentials.json, Codex's auth.json)")
	}
	if err != nil {
		return "", Credential{}, err
	}
	for _, s := range []string{c.APIKey, c.AccessToken, c.RefreshToken} {
		if strings.HasPrefix(s, PhantomPrefix) {
			return "", Credential{}, errors.New("it holds a terok phantom token, not a real credential (a task's file?)")
		}
	}
	if err := c.Check(); err != nil {
		return "", Credential{}, err
	}
	return provider, c, nil
}

func claudeCredential(top map[string]json.RawMessage) (Credential, error) {
	if raw := top["claudeAiOauth"]; raw != nil {
		var o struct {
			AccessToken  string   `json:"accessToken"`
			RefreshToken string   `json:"refreshToken"`
			ExpiresAt    *float64 `json:"expiresAt"`
			Scopes       []string `json:"scopes"`
			ClientID     string   `json:"clientId"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return Credential{}, fmt.Errorf("claudeAiOauth: %v", err)
		}
		if o.AccessToken == "" && o.RefreshToken == "" {
			return Credential{}, errors.New("claudeAiOauth holds no tokens (logged out, or a failed refresh): log in to Claude Code again")
		}
		c := Credential{Kind: OAuth, AccessToken: o.AccessToken, RefreshToken: o.RefreshToken, Scopes: o.Scopes, ClientID: o.ClientID, Source: "import:claude"}
		if o.ExpiresAt != nil && *o.ExpiresAt > 0 {
			c.Expiry = time.UnixMilli(int64(*o.ExpiresAt)).UTC()
		}
		return c, nil
	}
	var key string
	if err := json.Unmarshal(top["primaryApiKey"], &key); err != nil || key == "" {
		return Credential{}, errors.New("primaryApiKey is not a key")
	}
	return Credential{Kind: APIKey, APIKey: key, Source: "import:claude"}, nil
}

func codexCredential(top map[string]json.RawMessage) (Credential, error) {
	var f struct {
		AuthMode string  `json:"auth_mode"`
		APIKey   *string `json:"OPENAI_API_KEY"`
		Tokens   *struct {
			IDToken      string `json:"id_token"`
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
			AccountID    string `json:"account_id"`
		} `json:"tokens"`
	}
	raw, _ := json.Marshal(top)
	if err := json.Unmarshal(raw, &f); err != nil {
		return Credential{}, fmt.Errorf("auth.json: %v", err)
	}
	key := ""
	if f.APIKey != nil {
		key = *f.APIKey
	}
	mode := strings.ToLower(f.AuthMode)
	if mode == "" {
		if key != "" {
			mode = "apikey"
		} else {
			mode = "chatgpt"
		}
	}
	switch mode {
	case "apikey":
		if key == "" {
			return Credential{}, errors.New("auth.json says API key but holds none")
		}
		return Credential{Kind: APIKey, APIKey: key, Source: "import:codex"}, nil
	case "chatgpt":
		if f.Tokens == nil || f.Tokens.AccessToken == "" && f.Tokens.RefreshToken == "" {
			return Credential{}, errors.New("auth.json holds neither an API key nor ChatGPT tokens")
		}
		c := Credential{Kind: OAuth, AccessToken: f.Tokens.AccessToken, RefreshToken: f.Tokens.RefreshToken,
			Expiry: jwtExpiry(f.Tokens.AccessToken), AccountID: f.Tokens.AccountID, Source: "import:codex"}
		if c.AccountID == "" {
			c.AccountID = chatgptAccountID(f.Tokens.IDToken)
		}
		return c, nil
	default:
		return Credential{}, fmt.Errorf("auth.json's auth_mode %q is not one terok can carry (apikey or chatgpt)", f.AuthMode)
	}
}

// ClaudeCredentialsFile is the .credentials.json a task's Claude Code gets
// when the vault holds an OAuth credential for anthropic: the phantom as
// its access token, an expiry far ahead and no refresh token (so Claude
// Code never tries to renew it; the vault renews the real one), and the
// scopes Claude Code requires to count itself logged in.
func ClaudeCredentialsFile(phantom string, scopes []string) []byte {
	if len(scopes) == 0 {
		scopes = []string{"user:inference"}
	}
	b, _ := json.MarshalIndent(map[string]any{"claudeAiOauth": map[string]any{
		"accessToken": phantom,
		"expiresAt":   time.Now().Add(365 * 24 * time.Hour).UnixMilli(),
		"scopes":      scopes,
	}}, "", "  ")
	return append(b, '\n')
}
