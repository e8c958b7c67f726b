package vault

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// capture is a transport that records what would go upstream.
type capture struct {
	mu  sync.Mutex
	out []*http.Request
}

func (c *capture) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body) // the upstream stub only drains the request
	}
	c.mu.Lock()
	c.out = append(c.out, r)
	c.mu.Unlock()
	return &http.Response{StatusCode: 200, Header: http.Header{"Connection": {"x-up"}, "X-Up": {"1"}}, Body: io.NopCloser(strings.NewReader("ok"))}, nil
}

// FuzzProxyHeaders throws arbitrary header names and values, auth header
// forms, hosts and paths at the proxy (called directly, so nothing in Go's
// server filters them first) and checks what would go upstream: only to
// the route's host, with exactly the real credential, never the phantom,
// no hop-by-hop header, nothing a header cannot hold.
func FuzzProxyHeaders(f *testing.F) {
	f.Add("X-Custom", "v", "x-api-key", "", "127.0.0.1:9419", "/v1/messages", uint8(0))
	f.Add("Connection", "X-Custom, keep-alive", "authorization", "Bearer ", "localhost", "/v1/messages?x=1", uint8(1))
	f.Add("Anthropic-Beta", "oauth-2025-04-20", "authorization", "bearer ", "[::1]:80", "/v1/%2e%2e/x", uint8(2))
	f.Add("X-A", "a\r\nX-B: b", "x-api-key", "", "api.anthropic.com", "http://api.anthropic.com/v1", uint8(3))
	f.Add("Upgrade", "websocket", "authorization", "Basic ", "127.0.0.1", "/", uint8(4))
	f.Add("X-Api-Key", "terok-phantom-", "authorization", "Bearer ", "127.0.0.1", "//evil.example/x", uint8(5))
	tk := OpenTokens(f.TempDir() + "/tokens.json")
	tokA, _ := tk.Mint("taskA", "p", "anthropic")
	tokO, _ := tk.Mint("taskA", "p", "openai")
	tokB, _ := tk.Mint("taskB", "p", "anthropic")
	routes, _ := DefaultRoutes().With(map[string]RouteConfig{
		"anthropic": {Upstream: "https://anthropic.upstream.test"},
		"openai":    {Upstream: "https://openai.upstream.test/base", OAuthUpstream: "https://chatgpt.upstream.test/codex"},
	})
	cr := creds{"anthropic": {Kind: APIKey, APIKey: realKey}, "openai": {Kind: OAuth, AccessToken: "oauth-REAL", AccountID: "acct"}}
	f.Fuzz(func(t *testing.T, name, value, authHeader, scheme, host, target string, pick uint8) {
		tr := &capture{}
		h, err := NewProxy(ProxyConfig{Task: "taskA", Tokens: tk, Credentials: cr, Routes: routes, Transport: tr})
		if err != nil {
			t.Fatal(err)
		}
		tok := []string{tokA, tokO, tokB, "", tokA + "x"}[int(pick)%5]
		r := &http.Request{Method: "POST", RequestURI: target, Host: host, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("{}")), ContentLength: 2}
		if u, err := url.ParseRequestURI(target); err == nil {
			r.URL = u
		} else {
			r.URL = &url.URL{Path: "/"}
		}
		r = r.WithContext(context.Background())
		r.Header[name] = []string{value}
		if authHeader != "" && tok != "" {
			r.Header[http.CanonicalHeaderKey(authHeader)] = append(r.Header[http.CanonicalHeaderKey(authHeader)], scheme+tok)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if len(tr.out) == 0 {
			if w.Code < 400 {
				t.Fatalf("nothing forwarded, yet status %d", w.Code)
			}
			return
		}
		if w.Code != 200 {
			t.Fatalf("forwarded, yet status %d", w.Code)
		}
		out := tr.out[0]
		if tok == tokB || tok == "" || strings.HasSuffix(tok, "x") {
			t.Fatalf("a request with token %q was forwarded", tok)
		}
		wantHost := map[string]bool{"anthropic.upstream.test": tok == tokA, "chatgpt.upstream.test": tok == tokO}
		if !wantHost[out.URL.Host] || out.URL.Scheme != "https" || out.Host != "" && out.Host != out.URL.Host {
			t.Fatalf("forwarded to %s (Host %q) for token %q", out.URL, out.Host, tok)
		}
		if tok == tokA {
			if vs := out.Header.Values("X-Api-Key"); len(vs) != 1 || vs[0] != realKey || out.Header.Get("Authorization") != "" {
				t.Fatalf("anthropic credential headers: %v", out.Header)
			}
		} else {
			if vs := out.Header.Values("Authorization"); len(vs) != 1 || vs[0] != "Bearer oauth-REAL" || out.Header.Get("X-Api-Key") != "" {
				t.Fatalf("openai credential headers: %v", out.Header)
			}
		}
		for k, vs := range out.Header {
			if hopByHop[k] || !validHeaderName(k) {
				t.Fatalf("forwarded header %q", k)
			}
			for _, v := range vs {
				if strings.Contains(v, PhantomPrefix) || !headerValueSafe(v) {
					t.Fatalf("forwarded %s: %q", k, v)
				}
			}
		}
		if w.Header().Get("X-Up") != "" {
			t.Fatal("a header the upstream named in Connection came back")
		}
	})
}

// FuzzParseCredentialFile: whatever the file, no panic, and what is taken
// is a storable credential of a provider terok knows.
func FuzzParseCredentialFile(f *testing.F) {
	f.Add(`{"claudeAiOauth":{"accessToken":"a","refreshToken":"r","expiresAt":1785956423181,"scopes":["user:inference"]}}`)
	f.Add(`{"OPENAI_API_KEY":null,"tokens":{"id_token":"a.b.c","access_token":"x.eyJleHAiOjF9.z","refresh_token":"r"}}`)
	f.Add(`{"auth_mode":"apikey","OPENAI_API_KEY":"sk"}`)
	f.Add(`{"primaryApiKey":"k"}`)
	f.Fuzz(func(t *testing.T, data string) {
		p, c, err := ParseCredentialFile([]byte(data))
		if err != nil {
			return
		}
		if p != "anthropic" && p != "openai" {
			t.Fatalf("provider %q", p)
		}
		if err := c.Check(); err != nil {
			t.Fatalf("an unstorable credential was taken: %v", err)
		}
	})
}
