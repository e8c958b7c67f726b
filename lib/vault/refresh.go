package vault

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// DefaultRefreshSkew: an OAuth credential this close to its expiry is
// renewed before it is used.
const DefaultRefreshSkew = 5 * time.Minute

// Refresher gives credentials fit to use: an OAuth credential near expiry
// is renewed on the host, through its token endpoint, and written back to
// the store. However many proxies (tasks, processes) ask at once, one
// renews: the renewal runs under a file lock per provider, and whoever
// takes the lock first reads the store again and renews only if it is
// still due. This matters beyond load: the providers' refresh tokens are
// single-use (Anthropic's and OpenAI's rotate both tokens on every
// renewal), so two renewals from one refresh token would log the user out.
type Refresher struct {
	Store  *Store
	Routes Routes
	// Client makes the token requests; nil: NewTransport, 30 s timeout.
	Client *http.Client
	// Skew: DefaultRefreshSkew if 0.
	Skew time.Duration
	// Now: time.Now if nil (tests).
	Now func() time.Time
}

// RefreshError says a renewal failed; it carries what the token endpoint
// said, never a token.
type RefreshError struct {
	Provider string
	Status   int
	Msg      string
}

func (e *RefreshError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("renewing the %s OAuth credential failed (%d): %s", e.Provider, e.Status, e.Msg)
	}
	return fmt.Sprintf("renewing the %s OAuth credential failed: %s", e.Provider, e.Msg)
}
func (e *RefreshError) Hint() string {
	return "log in again and store the new credential: terok-vault login AGENT, or terok-vault import " + e.Provider + " FILE"
}

func (r *Refresher) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Refresher) skew() time.Duration {
	if r.Skew > 0 {
		return r.Skew
	}
	return DefaultRefreshSkew
}

// due: an OAuth credential that can be renewed and is (nearly) expired or
// has no access token at all.
func (r *Refresher) due(c Credential) bool {
	if c.Kind != OAuth || c.RefreshToken == "" {
		return false
	}
	return c.AccessToken == "" || !c.Expiry.IsZero() && c.Expiry.Sub(r.now()) < r.skew()
}

// Credential is the proxy's CredentialSource: provider's credential,
// renewed first if it is due. A renewal that fails while the old access
// token still works leaves it in use (the next request tries again).
func (r *Refresher) Credential(ctx context.Context, provider string) (Credential, error) {
	c, err := r.Store.Get(provider)
	if err != nil || !r.due(c) {
		return c, err
	}
	fresh, err := r.Refresh(ctx, provider, false)
	if err != nil {
		if c.AccessToken != "" && c.Expiry.After(r.now()) {
			return c, nil
		}
		return Credential{}, err
	}
	return fresh, nil
}

// Refresh renews provider's OAuth credential if it is due (force: in any
// case) and returns it as stored afterwards.
func (r *Refresher) Refresh(ctx context.Context, provider string, force bool) (Credential, error) {
	if err := ValidProvider(provider); err != nil {
		return Credential{}, err
	}
	unlock, err := lockFile(ctx, filepath.Join(r.Store.Dir(), "refresh-"+provider+".lock"))
	if err != nil {
		return Credential{}, err
	}
	defer unlock()
	// Under the lock, from disk: another process may have renewed it while
	// this one waited.
	c, err := r.Store.getFresh(provider)
	if err != nil {
		return Credential{}, err
	}
	if !force && !r.due(c) {
		return c, nil
	}
	if c.Kind != OAuth || c.RefreshToken == "" {
		return Credential{}, &RefreshError{Provider: provider, Msg: "it is not an OAuth credential with a refresh token"}
	}
	got, err := r.request(ctx, provider, c)
	if err != nil {
		return Credential{}, err
	}
	var out Credential
	err = r.Store.Update(provider, func(cur *Credential, exists bool) error {
		if !exists {
			return &NoCredentialError{Provider: provider}
		}
		if cur.RefreshToken != c.RefreshToken {
			// Replaced meanwhile by hand (set, import): that one wins.
			out = *cur
			return nil
		}
		cur.AccessToken = got.AccessToken
		if got.RefreshToken != "" {
			cur.RefreshToken = got.RefreshToken
		}
		cur.Expiry = got.Expiry
		if len(got.Scopes) > 0 {
			cur.Scopes = got.Scopes
		}
		if got.AccountID != "" {
			cur.AccountID = got.AccountID
		}
		out = *cur
		return nil
	})
	return out, err
}

type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    *int64 `json:"expires_in"`
	Scope        string `json:"scope"`
	IDToken      string `json:"id_token"`
}

// request asks the token endpoint (RFC 6749 6; JSON by default, as the
// agents' own endpoints take it) and returns the fields that change.
func (r *Refresher) request(ctx context.Context, provider string, c Credential) (Credential, error) {
	rt := r.Routes[provider]
	tokenURL, clientID := c.TokenURL, c.ClientID
	if tokenURL == "" {
		tokenURL = rt.TokenURL
	}
	if clientID == "" {
		clientID = rt.ClientID
	}
	if tokenURL == "" {
		return Credential{}, &RefreshError{Provider: provider, Msg: "no token endpoint is known for it"}
	}
	fields := map[string]string{"grant_type": "refresh_token", "refresh_token": c.RefreshToken}
	if clientID != "" {
		fields["client_id"] = clientID
	}
	if len(c.Scopes) > 0 {
		fields["scope"] = strings.Join(c.Scopes, " ")
	}
	var body []byte
	ctype := "application/json"
	if rt.RefreshForm {
		v := url.Values{}
		for k, x := range fields {
			v.Set(k, x)
		}
		body, ctype = []byte(v.Encode()), "application/x-www-form-urlencoded"
	} else {
		body, _ = json.Marshal(fields)
	}
	req, err := http.NewRequestWithContext(ctx, "POST", tokenURL, bytes.NewReader(body))
	if err != nil {
		return Credential{}, &RefreshError{Provider: provider, Msg: err.Error()}
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "terok-vault")
	client := r.Client
	if client == nil {
		client = &http.Client{Transport: NewTransport(), Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return Credential{}, &RefreshError{Provider: provider, Msg: upstreamErr(err)}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var ans tokenAnswer
	jerr := json.Unmarshal(data, &ans)
	if resp.StatusCode != 200 || jerr != nil || ans.AccessToken == "" {
		return Credential{}, &RefreshError{Provider: provider, Status: resp.StatusCode, Msg: oauthErrorMessage(data)}
	}
	out := Credential{AccessToken: ans.AccessToken, RefreshToken: ans.RefreshToken}
	if ans.ExpiresIn != nil {
		out.Expiry = r.now().Add(time.Duration(*ans.ExpiresIn) * time.Second).UTC()
	} else {
		out.Expiry = jwtExpiry(ans.AccessToken)
	}
	if ans.Scope != "" {
		out.Scopes = strings.Fields(ans.Scope)
	}
	if ans.IDToken != "" {
		out.AccountID = chatgptAccountID(ans.IDToken)
	}
	if !headerSafe(out.AccessToken) || !headerSafe(out.RefreshToken) {
		return Credential{}, &RefreshError{Provider: provider, Status: resp.StatusCode, Msg: "the endpoint answered a token that cannot be sent in a header"}
	}
	return out, nil
}

// oauthErrorMessage picks the error out of an endpoint's answer (RFC 6749
// 5.2's error/error_description, or a provider's {"error":{"message"}}),
// never echoing the answer itself.
func oauthErrorMessage(data []byte) string {
	var m struct {
		Error            json.RawMessage `json:"error"`
		ErrorDescription string          `json:"error_description"`
	}
	if json.Unmarshal(data, &m) != nil || len(m.Error) == 0 {
		return "the token endpoint gave no usable answer"
	}
	var s string
	if json.Unmarshal(m.Error, &s) == nil {
		if m.ErrorDescription != "" {
			s += ": " + m.ErrorDescription
		}
		return truncate(s, 200)
	}
	var o struct {
		Type    string `json:"type"`
		Message string `json:"message"`
		Code    string `json:"code"`
	}
	_ = json.Unmarshal(m.Error, &o) // not an object: the fields stay empty and the message says so
	return truncate(strings.TrimSpace(o.Type+" "+o.Code+" "+o.Message), 200)
}

// jwtClaims decodes a JWT's payload without verifying it: the vault only
// reads the expiry and account of tokens it got from the issuer itself.
func jwtClaims(tok string, v any) bool {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	return json.Unmarshal(b, v) == nil
}

func jwtExpiry(tok string) time.Time {
	var c struct {
		Exp int64 `json:"exp"`
	}
	if !jwtClaims(tok, &c) || c.Exp <= 0 {
		return time.Time{}
	}
	return time.Unix(c.Exp, 0).UTC()
}

// chatgptAccountID reads the ChatGPT account from an OpenAI id token, as
// Codex does.
func chatgptAccountID(idToken string) string {
	var c struct {
		Auth struct {
			AccountID string `json:"chatgpt_account_id"`
		} `json:"https://api.openai.com/auth"`
	}
	if !jwtClaims(idToken, &c) || !headerSafe(c.Auth.AccountID) {
		return ""
	}
	return c.Auth.AccountID
}

// lockFile takes an exclusive flock of path, waiting until ctx ends.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = f.Close() }, nil // closing releases the lock; a lock file has nothing to flush
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			_ = f.Close() // lock file, nothing written: the lock error is the one to report
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close() // lock file, nothing written
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}
