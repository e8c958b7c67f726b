package vault

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tokenEndpoint is a scripted OAuth token endpoint that rotates both
// tokens on every refresh and, like the real ones, refuses a refresh token
// used twice.
type tokenEndpoint struct {
	*httptest.Server
	calls  atomic.Int32
	mu     sync.Mutex
	used   map[string]bool
	last   map[string]string
	form   bool
	delay  time.Duration
	answer func(w http.ResponseWriter) bool // true: answered
}

func newTokenEndpoint(t *testing.T) *tokenEndpoint {
	te := &tokenEndpoint{used: map[string]bool{}}
	te.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := te.calls.Add(1)
		time.Sleep(te.delay)
		fields := map[string]string{}
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			_ = r.ParseForm() // a bad form leaves the fields empty, and the test's checks fail
			for k := range r.PostForm {
				fields[k] = r.PostForm.Get(k)
			}
			te.form = true
		} else {
			_ = json.NewDecoder(r.Body).Decode(&fields) // a bad body leaves the fields empty, and the test's checks fail
		}
		te.mu.Lock()
		te.last = fields
		reused := te.used[fields["refresh_token"]]
		te.used[fields["refresh_token"]] = true
		te.mu.Unlock()
		if te.answer != nil && te.answer(w) {
			return
		}
		if fields["grant_type"] != "refresh_token" || reused {
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"error":"invalid_grant","error_description":"Refresh token not found or invalid"}`) // the client checks what arrives
			return
		}
		fmt.Fprintf(w, `{"token_type":"Bearer","access_token":"access-%d","refresh_token":"refresh-%d","expires_in":28800,"scope":"user:inference user:profile"}`, n, n)
	}))
	t.Cleanup(te.Close)
	return te
}

func refreshRoutes(te *tokenEndpoint) Routes {
	rs := DefaultRoutes()
	rt := rs["anthropic"]
	rt.TokenURL = te.URL + "/v1/oauth/token"
	rs["anthropic"] = rt
	return rs
}

func setExpiring(t *testing.T, s *Store, in time.Duration) {
	t.Helper()
	err := s.Set("anthropic", Credential{Kind: OAuth, AccessToken: "access-0", RefreshToken: "refresh-0",
		Expiry: time.Now().Add(in), Scopes: []string{"user:inference"}})
	if err != nil {
		t.Fatal(err)
	}
}

// Ten callers at once, each with its own store and refresher (as ten
// wardens would be), find the credential near expiry: one refresh request
// is made, and all of them get its result.
func TestRefreshOnceUnderConcurrency(t *testing.T) {
	te := newTokenEndpoint(t)
	te.delay = 50 * time.Millisecond
	dir, _, s := newVault(t)
	setExpiring(t, s, time.Minute)
	const n = 10
	got := make([]Credential, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			si, _ := Open(context.Background(), dir, KeySource{Key: s.Key()})
			_, _ = si.Get("anthropic") // warm its cache with the old credential; a failure shows in the results below
			r := &Refresher{Store: si, Routes: refreshRoutes(te)}
			<-start
			got[i], errs[i] = r.Credential(context.Background(), "anthropic")
		}()
	}
	close(start)
	wg.Wait()
	if c := te.calls.Load(); c != 1 {
		t.Fatalf("%d refresh requests, want 1", c)
	}
	for i := range got {
		if errs[i] != nil || got[i].AccessToken != "access-1" {
			t.Fatalf("caller %d: %v %v", i, got[i].AccessToken, errs[i])
		}
	}
	c, _ := s.Get("anthropic")
	if c.AccessToken != "access-1" || c.RefreshToken != "refresh-1" || time.Until(c.Expiry) < 7*time.Hour ||
		strings.Join(c.Scopes, " ") != "user:inference user:profile" {
		t.Fatalf("stored: %+v %v %v", c.Expiry, c.Scopes, c.AccessToken)
	}
	te.mu.Lock()
	last := te.last
	te.mu.Unlock()
	if last["grant_type"] != "refresh_token" || last["refresh_token"] != "refresh-0" || last["client_id"] != DefaultRoutes()["anthropic"].ClientID || last["scope"] != "user:inference" {
		t.Fatalf("the request: %v", last)
	}
}

func TestRefreshNotDue(t *testing.T) {
	te := newTokenEndpoint(t)
	_, _, s := newVault(t)
	setExpiring(t, s, time.Hour)
	if err := s.Set("openai", Credential{Kind: APIKey, APIKey: "k"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("mistral", Credential{Kind: OAuth, AccessToken: "a"}); err != nil { // no refresh token: never due
		t.Fatal(err)
	}
	r := &Refresher{Store: s, Routes: refreshRoutes(te)}
	for _, p := range []string{"anthropic", "openai", "mistral"} {
		if _, err := r.Credential(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	if c := te.calls.Load(); c != 0 {
		t.Fatalf("%d refresh requests for credentials not due", c)
	}
	var nc *NoCredentialError
	if _, err := r.Credential(context.Background(), "other"); !errors.As(err, &nc) {
		t.Fatalf("%v", err)
	}
	// Forced, it refreshes.
	if c, err := r.Refresh(context.Background(), "anthropic", true); err != nil || c.AccessToken != "access-1" {
		t.Fatalf("forced: %v %v", c.AccessToken, err)
	}
	if _, err := r.Refresh(context.Background(), "openai", true); err == nil {
		t.Fatal("an API key was refreshed")
	}
}

func TestRefreshFailure(t *testing.T) {
	te := newTokenEndpoint(t)
	te.answer = func(w http.ResponseWriter) bool {
		w.WriteHeader(400)
		_, _ = io.WriteString(w, `{"error":"invalid_grant","error_description":"Refresh token not found or invalid","refresh_token":"should-not-echo"}`) // the client checks what arrives
		return true
	}
	_, _, s := newVault(t)
	// Still valid for a minute: the old token is used, nothing changes.
	setExpiring(t, s, time.Minute)
	r := &Refresher{Store: s, Routes: refreshRoutes(te)}
	c, err := r.Credential(context.Background(), "anthropic")
	if err != nil || c.AccessToken != "access-0" {
		t.Fatalf("%v %v", c.AccessToken, err)
	}
	// Expired: the failure is the answer.
	setExpiring(t, s, -time.Minute)
	_, err = r.Credential(context.Background(), "anthropic")
	var re *RefreshError
	if !errors.As(err, &re) || re.Status != 400 || !strings.Contains(err.Error(), "invalid_grant: Refresh token not found") ||
		strings.Contains(err.Error(), "should-not-echo") || !strings.Contains(re.Hint(), "terok-vault") {
		t.Fatalf("%v", err)
	}
	for _, tc := range []struct {
		status     int
		body, want string
	}{
		{200, `{"error":{"type":"rate_limit_error","message":"Rate limited."}}`, "rate_limit_error"},
		{200, `not json`, "no usable answer"},
		{200, `{"access_token":"has space"}`, "cannot be sent"},
		{500, ``, "no usable answer"},
	} {
		te.answer = func(w http.ResponseWriter) bool {
			w.WriteHeader(tc.status)
			_, _ = io.WriteString(w, tc.body) // the client checks what arrives
			return true
		}
		if _, err := r.Refresh(context.Background(), "anthropic", true); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("answer %d %s: %v", tc.status, tc.body, err)
		}
	}
	if c, _ := s.Get("anthropic"); c.RefreshToken != "refresh-0" {
		t.Fatal("a failed refresh changed the credential")
	}
}

func jwt(claims map[string]any) string {
	b, _ := json.Marshal(claims)
	return "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString(b) + ".sig"
}

// A form-encoded endpoint, an answer without a new refresh token or an
// expiry: the old refresh token stays, the expiry comes from the JWT, the
// account from the id token.
func TestRefreshFormAndJWT(t *testing.T) {
	te := newTokenEndpoint(t)
	exp := time.Now().Add(10 * 24 * time.Hour).Unix()
	access := jwt(map[string]any{"exp": exp})
	te.answer = func(w http.ResponseWriter) bool {
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": access, // the client checks what arrives
			"id_token": jwt(map[string]any{"https://api.openai.com/auth": map[string]any{"chatgpt_account_id": "acct-9"}})})
		return true
	}
	_, _, s := newVault(t)
	if err := s.Set("openai", Credential{Kind: OAuth, AccessToken: "old", RefreshToken: "r-old", Expiry: time.Now().Add(time.Second), TokenURL: te.URL + "/oauth/token"}); err != nil {
		t.Fatal(err)
	}
	rs := DefaultRoutes()
	rt := rs["openai"]
	rt.RefreshForm = true
	rs["openai"] = rt
	r := &Refresher{Store: s, Routes: rs}
	c, err := r.Credential(context.Background(), "openai")
	if err != nil || c.AccessToken != access || c.RefreshToken != "r-old" || c.Expiry.Unix() != exp || c.AccountID != "acct-9" {
		t.Fatalf("%v %v %v %v", c.RefreshToken, c.Expiry, c.AccountID, err)
	}
	te.mu.Lock()
	defer te.mu.Unlock()
	if !te.form || te.last["client_id"] != rt.ClientID {
		t.Fatalf("form %v, fields %v", te.form, te.last)
	}
}

// A refresh waiting for the lock gives up when its request is cancelled.
func TestRefreshLockHonoursContext(t *testing.T) {
	_, _, s := newVault(t)
	setExpiring(t, s, -time.Minute)
	unlock, err := lockFile(context.Background(), s.Dir()+"/refresh-anthropic.lock")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	r := &Refresher{Store: s, Routes: DefaultRoutes()}
	start := time.Now()
	if _, err := r.Refresh(ctx, "anthropic", false); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("%v after %s", err, time.Since(start))
	}
}

// The proxy uses the refresher: an expired OAuth credential is renewed and
// the request goes out with the new token.
func TestProxyWithRefresher(t *testing.T) {
	te := newTokenEndpoint(t)
	_, _, s := newVault(t)
	setExpiring(t, s, -time.Minute)
	var ref *Refresher
	rg := newRig(t, nil, func(c *ProxyConfig) {
		ref = &Refresher{Store: s, Routes: refreshRoutes(te)}
		c.Credentials = ref
	})
	resp, body := rg.do(t, "POST", "/v1/messages", map[string]string{"x-api-key": rg.tok["anthropic"]}, "{}")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if got := rg.up.requests()[0].Header.Get("Authorization"); got != "Bearer access-1" {
		t.Fatalf("upstream got %q", got)
	}
}
