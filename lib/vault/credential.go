package vault

import (
	"fmt"
	"strings"
	"time"

	"github.com/terok-ai/terok-go/lib/config"
)

// Kind is what a credential is.
type Kind string

const (
	// APIKey is a long-lived key, sent as the route's API key header.
	APIKey Kind = "api_key"
	// OAuth is an access token with a refresh token and an expiry, sent as
	// Authorization: Bearer plus the route's OAuth headers.
	OAuth Kind = "oauth"
)

// Credential is one provider's real secret. Its String and GoString never
// show a secret, so that a stray %v in a log cannot leak one.
type Credential struct {
	Kind   Kind   `json:"kind"`
	APIKey string `json:"api_key,omitempty"`

	AccessToken  string    `json:"access_token,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	// TokenURL and ClientID are the provider's OAuth token endpoint and
	// client; empty: the route's.
	TokenURL string   `json:"token_url,omitempty"`
	ClientID string   `json:"client_id,omitempty"`
	Scopes   []string `json:"scopes,omitempty"`
	// AccountID is sent in the route's account header (ChatGPT's
	// chatgpt-account-id), if the route names one.
	AccountID string `json:"account_id,omitempty"`

	// Source says where it came from: "set", "import:claude", ...
	Source  string    `json:"source,omitempty"`
	Updated time.Time `json:"updated,omitzero"`
}

func (c Credential) String() string {
	s := fmt.Sprintf("%s credential", c.Kind)
	if c.Kind == OAuth && !c.Expiry.IsZero() {
		s += " expiring " + c.Expiry.UTC().Format(time.RFC3339)
	}
	return s
}

// GoString is String: %#v must not print the fields either.
func (c Credential) GoString() string { return "vault.Credential{" + c.String() + "}" }

// Secret is what is sent upstream: the API key or the access token.
func (c Credential) Secret() string {
	if c.Kind == OAuth {
		return c.AccessToken
	}
	return c.APIKey
}

// Check says whether the credential can be stored: a known kind, its
// secret present, and nothing in it that could not go in a header.
func (c Credential) Check() error {
	switch c.Kind {
	case APIKey:
		if c.APIKey == "" {
			return fmt.Errorf("the API key is empty")
		}
	case OAuth:
		if c.AccessToken == "" && c.RefreshToken == "" {
			return fmt.Errorf("the OAuth credential has neither an access nor a refresh token")
		}
	default:
		return fmt.Errorf("unknown credential kind %q (api_key or oauth)", c.Kind)
	}
	for name, v := range map[string]string{"API key": c.APIKey, "access token": c.AccessToken, "refresh token": c.RefreshToken, "account id": c.AccountID, "client id": c.ClientID} {
		if !headerSafe(v) {
			return fmt.Errorf("the %s holds spaces or control characters", name)
		}
	}
	if c.TokenURL != "" && !strings.HasPrefix(c.TokenURL, "https://") && !strings.HasPrefix(c.TokenURL, "http://") {
		return fmt.Errorf("the token endpoint %q is not an http(s) URL", c.TokenURL)
	}
	return nil
}

// headerSafe: printable ASCII without spaces, as a token in a header.
func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// ValidProvider checks a provider's name: it names a route, a lock file
// and a key in the store.
func ValidProvider(p string) error {
	if err := config.ValidAgentName(p); err != nil {
		return fmt.Errorf("invalid provider name %q (lower-case letters, digits and hyphens)", p)
	}
	return nil
}

// Entry is what List shows of a credential: never the secret.
type Entry struct {
	Provider string    `json:"provider"`
	Kind     Kind      `json:"kind"`
	Expiry   time.Time `json:"expiry,omitzero"`
	// Refreshable: an OAuth credential with a refresh token.
	Refreshable bool      `json:"refreshable,omitempty"`
	Source      string    `json:"source,omitempty"`
	Updated     time.Time `json:"updated,omitzero"`
}
