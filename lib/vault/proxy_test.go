package vault

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// seen is what the scripted upstream received.
type seen struct {
	Method, Path, RawPath, Query, Host string
	Header                             http.Header
	Body                               string
}

type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
	// handle answers; nil: 200 {"ok":true}.
	handle func(w http.ResponseWriter, r *http.Request)
}

func newUpstream(t testing.TB) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, seen{r.Method, r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.Host, r.Header.Clone(), string(body)})
		h := u.handle
		u.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Upstream", "yes")
		_, _ = io.WriteString(w, `{"ok":true}`) // the client checks what arrives
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) requests() []seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seen(nil), u.reqs...)
}

type creds map[string]Credential

func (c creds) Credential(_ context.Context, p string) (Credential, error) {
	if p == "locked" {
		return Credential{}, &LockedError{}
	}
	cr, ok := c[p]
	if !ok {
		return Credential{}, &NoCredentialError{Provider: p}
	}
	return cr, nil
}

type auditMem struct {
	mu sync.Mutex
	es []AuditEntry
}

func (a *auditMem) Record(e AuditEntry) { a.mu.Lock(); a.es = append(a.es, e); a.mu.Unlock() }
func (a *auditMem) count() int          { a.mu.Lock(); defer a.mu.Unlock(); return len(a.es) }

// waitFor waits until the log holds more than n entries: a request's entry
// is recorded just after its answer is sent.
func (a *auditMem) waitFor(t testing.TB, n int) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); a.count() <= n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no audit entry after %d", n)
		}
	}
}

func (a *auditMem) nth(i int) AuditEntry { a.mu.Lock(); defer a.mu.Unlock(); return a.es[i] }

func (a *auditMem) last() AuditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.es) == 0 {
		return AuditEntry{}
	}
	return a.es[len(a.es)-1]
}

type rig struct {
	up     *upstream
	proxy  *httptest.Server
	tokens *Tokens
	audit  *auditMem
	tok    map[string]string // provider -> taskA's token
	other  string            // taskB's anthropic token
}

const (
	realKey    = "sk-ant-api03-REAL-KEY"
	realOAuth  = "sk-ant-oat01-REAL-ACCESS"
	realOpenAI = "sk-proj-REAL-OPENAI"
)

func newRig(t testing.TB, c creds, mod func(*ProxyConfig)) *rig {
	up := newUpstream(t)
	tk := OpenTokens(t.TempDir() + "/tokens.json")
	rg := &rig{up: up, tokens: tk, audit: &auditMem{}, tok: map[string]string{}}
	over := map[string]RouteConfig{}
	for p := range DefaultRoutes() {
		over[p] = RouteConfig{Upstream: up.URL}
		if p == "openai" {
			over[p] = RouteConfig{Upstream: up.URL, OAuthUpstream: up.URL + "/backend-api/codex"}
		}
		tok, err := tk.Mint("taskA", "proj", p)
		if err != nil {
			t.Fatal(err)
		}
		rg.tok[p] = tok
	}
	over["locked"] = RouteConfig{Upstream: up.URL, APIKeyHeader: "Authorization"}
	rg.tok["locked"], _ = tk.Mint("taskA", "proj", "locked")
	rg.tok["noroute"], _ = tk.Mint("taskA", "proj", "noroute")
	routes, err := DefaultRoutes().With(over)
	if err != nil {
		t.Fatal(err)
	}
	rg.other, _ = tk.Mint("taskB", "proj", "anthropic")
	if c == nil {
		c = creds{"anthropic": {Kind: APIKey, APIKey: realKey}, "openai": {Kind: APIKey, APIKey: realOpenAI}, "mistral": {Kind: APIKey, APIKey: "mistral-REAL"}}
	}
	cfg := ProxyConfig{Task: "taskA", Project: "proj", Tokens: tk, Credentials: c, Routes: routes, Audit: rg.audit}
	if mod != nil {
		mod(&cfg)
	}
	h, err := NewProxy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rg.proxy = httptest.NewUnstartedServer(nil)
	rg.proxy.Config = NewServer(h)
	rg.proxy.Start()
	t.Cleanup(rg.proxy.Close)
	return rg
}

func (rg *rig) do(t testing.TB, method, path string, hdr map[string]string, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, rg.proxy.URL+path, strings.NewReader(body))
	if body == "" {
		req.Body = nil
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	n := rg.audit.count()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	rg.audit.waitFor(t, n)
	return resp, string(b)
}

func TestProxyForwards(t *testing.T) {
	oauthCreds := creds{
		"anthropic": {Kind: OAuth, AccessToken: realOAuth, RefreshToken: "rt"},
		"openai":    {Kind: OAuth, AccessToken: "chatgpt-REAL", AccountID: "acct-1"},
	}
	for _, tc := range []struct {
		name       string
		c          creds
		provider   string
		hdr        func(tok string) map[string]string
		path       string
		wantPath   string
		wantAuth   map[string]string // header -> exact value upstream
		wantAbsent []string
	}{
		{
			name: "anthropic api key via x-api-key", provider: "anthropic",
			hdr: func(tok string) map[string]string {
				return map[string]string{"x-api-key": tok, "anthropic-version": "2023-06-01"}
			},
			path: "/v1/messages?beta=true", wantPath: "/v1/messages",
			wantAuth: map[string]string{"X-Api-Key": realKey, "Anthropic-Version": "2023-06-01"}, wantAbsent: []string{"Authorization", "Anthropic-Beta"},
		},
		{
			name: "anthropic api key, agent in oauth mode", provider: "anthropic",
			hdr: func(tok string) map[string]string {
				return map[string]string{"Authorization": "Bearer " + tok, "anthropic-beta": "oauth-2025-04-20,fine-grained-tool-streaming-2025-05-14"}
			},
			path: "/v1/messages", wantPath: "/v1/messages",
			wantAuth: map[string]string{"X-Api-Key": realKey, "Anthropic-Beta": "fine-grained-tool-streaming-2025-05-14"}, wantAbsent: []string{"Authorization"},
		},
		{
			name: "anthropic oauth, agent sends x-api-key", c: oauthCreds, provider: "anthropic",
			hdr: func(tok string) map[string]string {
				return map[string]string{"x-api-key": tok, "anthropic-beta": "tools-1"}
			},
			path: "/v1/messages", wantPath: "/v1/messages",
			wantAuth: map[string]string{"Authorization": "Bearer " + realOAuth, "Anthropic-Beta": "tools-1,oauth-2025-04-20"}, wantAbsent: []string{"X-Api-Key"},
		},
		{
			name: "openai api key", provider: "openai",
			hdr:  func(tok string) map[string]string { return map[string]string{"Authorization": "bearer " + tok} },
			path: "/v1/responses", wantPath: "/v1/responses",
			wantAuth: map[string]string{"Authorization": "Bearer " + realOpenAI},
		},
		{
			name: "openai chatgpt oauth goes to the codex backend", c: oauthCreds, provider: "openai",
			hdr:  func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} },
			path: "/v1/responses", wantPath: "/backend-api/codex/responses",
			wantAuth: map[string]string{"Authorization": "Bearer chatgpt-REAL", "Chatgpt-Account-Id": "acct-1"},
		},
		{
			name: "mistral", provider: "mistral",
			hdr:  func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} },
			path: "/v1/chat/completions", wantPath: "/v1/chat/completions",
			wantAuth: map[string]string{"Authorization": "Bearer mistral-REAL"},
		},
		{
			name: "escaped path and query kept raw", provider: "anthropic",
			hdr:  func(tok string) map[string]string { return map[string]string{"x-api-key": tok} },
			path: "/v1/files/a%2Fb?x=1&y=%20", wantPath: "/v1/files/a/b",
			wantAuth: map[string]string{"X-Api-Key": realKey},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rg := newRig(t, tc.c, nil)
			tok := rg.tok[tc.provider]
			h := tc.hdr(tok)
			h["Connection"] = "X-Hop"
			h["X-Hop"] = "1"
			h["Te"] = "trailers"
			h["Proxy-Authorization"] = "Basic " + tok
			h["X-Sneaky"] = "contains " + tok
			h["X-Forwarded-For"] = "10.0.0.1"
			h["Content-Type"] = "application/json"
			resp, body := rg.do(t, "POST", tc.path, h, `{"model":"m"}`)
			if resp.StatusCode != 200 || body != `{"ok":true}` {
				t.Fatalf("status %d body %q", resp.StatusCode, body)
			}
			if resp.Header.Get("X-Upstream") != "yes" || resp.Header.Get("Keep-Alive") != "" {
				t.Errorf("response headers: %v", resp.Header)
			}
			reqs := rg.up.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d upstream requests", len(reqs))
			}
			got := reqs[0]
			if got.Path != tc.wantPath || got.Body != `{"model":"m"}` || got.Method != "POST" {
				t.Errorf("upstream got %s %s body %q", got.Method, got.Path, got.Body)
			}
			if _, q, _ := strings.Cut(tc.path, "?"); got.Query != q {
				t.Errorf("query %q, want %q", got.Query, q)
			}
			if strings.Contains(tc.path, "%2F") && !strings.Contains(got.RawPath, "%2F") {
				t.Errorf("raw path lost its escaping: %q", got.RawPath)
			}
			for k, v := range tc.wantAuth {
				if vs := got.Header.Values(k); len(vs) != 1 || vs[0] != v {
					t.Errorf("upstream %s = %q, want %q", k, vs, v)
				}
			}
			for _, k := range append(tc.wantAbsent, "X-Hop", "Te", "Proxy-Authorization", "X-Sneaky", "X-Forwarded-For") {
				if got.Header.Get(k) != "" {
					t.Errorf("upstream got %s: %q", k, got.Header.Get(k))
				}
			}
			for k, vs := range got.Header {
				for _, v := range vs {
					if strings.Contains(v, PhantomPrefix) {
						t.Errorf("the phantom reached upstream in %s", k)
					}
				}
			}
			if got.Header.Get("Content-Type") != "application/json" {
				t.Error("an ordinary header was dropped")
			}
			e := rg.audit.last()
			if e.Outcome != OutcomeOK || e.Status != 200 || e.Task != "taskA" || e.Project != "proj" || e.Provider != tc.provider ||
				e.Method != "POST" || e.BytesIn != int64(len(`{"model":"m"}`)) || e.BytesOut != int64(len(`{"ok":true}`)) || strings.Contains(e.Path, "?") {
				t.Errorf("audit: %+v", e)
			}
		})
	}
}

// raw sends bytes on a fresh connection and returns the status line.
func raw(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line)
}

func TestProxyRefusesWhatIsNotItsOwn(t *testing.T) {
	rg := newRig(t, nil, nil)
	addr := rg.proxy.Listener.Addr().String()
	tok := rg.tok["anthropic"]
	upHost := strings.TrimPrefix(rg.up.URL, "http://")
	cases := []struct{ name, req, want string }{
		{"absolute URI", "GET http://" + upHost + "/v1/messages HTTP/1.1\r\nHost: " + upHost + "\r\nx-api-key: " + tok + "\r\n\r\n", "400"},
		{"absolute URI to the real host", "GET https://api.anthropic.com/v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\nx-api-key: " + tok + "\r\n\r\n", "400"},
		{"CONNECT", "CONNECT api.anthropic.com:443 HTTP/1.1\r\nHost: api.anthropic.com:443\r\nx-api-key: " + tok + "\r\n\r\n", "405"},
		{"Host of the provider", "GET /v1/models HTTP/1.1\r\nHost: api.anthropic.com\r\nx-api-key: " + tok + "\r\n\r\n", "400"},
		{"Host of the upstream by name", "GET /v1/models HTTP/1.1\r\nHost: localhost.evil.example\r\nx-api-key: " + tok + "\r\n\r\n", "400"},
		{"two Hosts", "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: api.anthropic.com\r\nx-api-key: " + tok + "\r\n\r\n", "400"},
		{"CRLF smuggled in a value", "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: " + tok + "\r\nX-A: a\rX-B: b\r\n\r\n", "400"},
		{"NUL in a value", "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: " + tok + "\r\nX-A: a\x00b\r\n\r\n", "400"},
		{"websocket upgrade", "GET /v1/realtime HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nx-api-key: " + tok + "\r\n\r\n", "501"},
		{"dot segments", "GET /v1/../admin HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: " + tok + "\r\n\r\n", "400"},
		{"encoded dot segments", "GET /v1/%2e%2E/admin HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: " + tok + "\r\n\r\n", "400"},
		{"asterisk form", "OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: " + tok + "\r\n\r\n", "400"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := raw(t, addr, tc.req); !strings.Contains(got, " "+tc.want+" ") {
				t.Fatalf("got %q, want %s", got, tc.want)
			}
		})
	}
	if n := len(rg.up.requests()); n != 0 {
		t.Fatalf("the upstream got %d requests", n)
	}
	// Those the proxy refused itself (Go's server refuses the worst before
	// they reach it) are audited as refused.
	refusedAt := rg.audit.count() - 1
	if refusedAt < 0 {
		t.Fatal("no refusal was audited")
	}
	// A request framed two ways (chunked and a length) is read one way,
	// chunked, and sent upstream framed anew: nothing can be smuggled
	// behind it.
	if got := raw(t, addr, "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: "+tok+"\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); !strings.Contains(got, " 200 ") {
		t.Fatalf("two framings: %q", got)
	}
	if reqs := rg.up.requests(); len(reqs) != 1 || reqs[0].Path != "/v1/messages" || reqs[0].Body != "" {
		t.Fatalf("the upstream got %+v", reqs)
	}
	// The refusals the proxy itself makes are audited as refused.
	if e := rg.audit.nth(refusedAt); e.Outcome != OutcomeRefused {
		t.Errorf("audit: %+v", e)
	}
	// And the same proxy serves a proper request with localhost as Host.
	if got := raw(t, addr, "GET /v1/models HTTP/1.1\r\nHost: localhost:"+strings.Split(addr, ":")[1]+"\r\nx-api-key: "+tok+"\r\n\r\n"); !strings.Contains(got, " 200 ") {
		t.Fatalf("a proper request: %q", got)
	}
}

func TestProxyTokens(t *testing.T) {
	rg := newRig(t, nil, nil)
	revoked, _ := rg.tokens.Mint("taskR", "proj", "anthropic")
	if _, err := rg.tokens.Revoke("taskR"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		hdr     map[string]string
		status  int
		outcome string
		shape   string
	}{
		{"no token", map[string]string{"anthropic-version": "2023-06-01"}, 401, OutcomeMissingToken, "anthropic"},
		{"no token, openai client", map[string]string{}, 401, OutcomeMissingToken, "openai"},
		{"unknown token", map[string]string{"x-api-key": PhantomPrefix + strings.Repeat("0", 48)}, 401, OutcomeInvalidToken, "anthropic"},
		{"a real-looking key", map[string]string{"Authorization": "Bearer sk-proj-abc"}, 401, OutcomeInvalidToken, "openai"},
		{"revoked token", map[string]string{"x-api-key": revoked}, 401, OutcomeInvalidToken, "anthropic"},
		{"another task's live token", map[string]string{"x-api-key": rg.other}, 401, OutcomeOtherTask, "anthropic"},
		{"basic auth", map[string]string{"Authorization": "Basic " + rg.tok["openai"]}, 401, OutcomeMissingToken, "openai"},
		{"two different tokens", map[string]string{"x-api-key": rg.tok["anthropic"], "Authorization": "Bearer " + rg.other}, 401, OutcomeInvalidToken, "anthropic"},
		{"provider without route", map[string]string{"Authorization": "Bearer " + rg.tok["noroute"]}, 502, OutcomeNoRoute, "openai"},
		{"provider whose store is locked", map[string]string{"Authorization": "Bearer " + rg.tok["locked"]}, 503, OutcomeCredError, "openai"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rg.do(t, "POST", "/v1/messages", tc.hdr, "{}")
			if resp.StatusCode != tc.status || resp.Header.Get("X-Terok-Vault") != tc.outcome {
				t.Fatalf("status %d (%s), want %d %s: %s", resp.StatusCode, resp.Header.Get("X-Terok-Vault"), tc.status, tc.outcome, body)
			}
			checkShape(t, tc.shape, body)
			if e := rg.audit.last(); e.Outcome != tc.outcome || e.Status != tc.status || e.Task != "taskA" {
				t.Errorf("audit: %+v", e)
			}
		})
	}
	if n := len(rg.up.requests()); n != 0 {
		t.Fatalf("the upstream got %d requests", n)
	}
}

// checkShape asserts the error body is the provider's own error form and
// names terok.
func checkShape(t *testing.T, shape, body string) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("error body is not JSON: %q", body)
	}
	var msg any
	switch shape {
	case "anthropic":
		e, _ := m["error"].(map[string]any)
		if m["type"] != "error" || e == nil || e["type"] == nil {
			t.Fatalf("not Anthropic's error form: %s", body)
		}
		msg = e["message"]
	case "openai":
		e, _ := m["error"].(map[string]any)
		if e == nil || e["type"] == nil {
			t.Fatalf("not OpenAI's error form: %s", body)
		}
		msg = e["message"]
	case "mistral":
		if m["object"] != "error" {
			t.Fatalf("not Mistral's error form: %s", body)
		}
		msg = m["message"]
	}
	if s, _ := msg.(string); !strings.Contains(s, "terok") {
		t.Fatalf("the message does not name terok: %s", body)
	}
}

func TestProxyNoCredential(t *testing.T) {
	rg := newRig(t, creds{}, nil)
	resp, body := rg.do(t, "POST", "/v1/chat/completions", map[string]string{"Authorization": "Bearer " + rg.tok["mistral"]}, "{}")
	if resp.StatusCode != 401 || !strings.Contains(body, "terok-vault set mistral") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	checkShape(t, "mistral", body)
}

func TestProxyBodyLimit(t *testing.T) {
	rg := newRig(t, nil, func(c *ProxyConfig) { c.MaxBody = 1024 })
	tok := rg.tok["anthropic"]
	if resp, body := rg.do(t, "POST", "/v1/messages", map[string]string{"x-api-key": tok}, strings.Repeat("a", 1024)); resp.StatusCode != 200 {
		t.Fatalf("a body at the limit: %d %s", resp.StatusCode, body)
	}
	resp, body := rg.do(t, "POST", "/v1/messages", map[string]string{"x-api-key": tok}, strings.Repeat("a", 1025))
	if resp.StatusCode != 413 {
		t.Fatalf("a body over the limit: %d %s", resp.StatusCode, body)
	}
	checkShape(t, "anthropic", body)
	// Chunked, so no length says it in advance.
	req, _ := http.NewRequest("POST", rg.proxy.URL+"/v1/messages", io.MultiReader(strings.NewReader(strings.Repeat("b", 4096))))
	req.Header.Set("x-api-key", tok)
	req.ContentLength = -1
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = r2.Body.Close() // read-side close: nothing to lose
	rg.audit.waitFor(t, 2)
	if r2.StatusCode != 413 || rg.audit.last().Outcome != OutcomeTooLarge {
		t.Fatalf("a chunked body over the limit: %d %+v", r2.StatusCode, rg.audit.last())
	}
}

func TestProxyUpstreamDown(t *testing.T) {
	rg := newRig(t, nil, nil)
	rg.up.Close()
	resp, body := rg.do(t, "POST", "/v1/messages", map[string]string{"x-api-key": rg.tok["anthropic"]}, "{}")
	if resp.StatusCode != 502 || rg.audit.last().Outcome != OutcomeUpstreamErr {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	checkShape(t, "anthropic", body)
	if strings.Contains(body, realKey) {
		t.Fatal("the error names the key")
	}
}

// Server-sent events reach the agent one by one: the upstream does not
// send its last event until the client has read the first.
func TestProxyStreamsEvents(t *testing.T) {
	rg := newRig(t, nil, nil)
	firstSeen := make(chan struct{})
	lastSent := make(chan time.Time, 1)
	rg.up.handle = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		fl := w.(http.Flusher)
		_, _ = io.WriteString(w, "event: message_start\ndata: {\"n\":1}\n\n") // the client checks what arrives
		fl.Flush()
		for i := 2; i <= 4; i++ {
			time.Sleep(30 * time.Millisecond)
			fmt.Fprintf(w, "event: content_block_delta\ndata: {\"n\":%d}\n\n", i)
			fl.Flush()
		}
		select {
		case <-firstSeen:
		case <-time.After(5 * time.Second):
		}
		_, _ = io.WriteString(w, "event: message_stop\ndata: {\"n\":5}\n\n") // the client checks what arrives
		lastSent <- time.Now()
	}
	req, _ := http.NewRequest("POST", rg.proxy.URL+"/v1/messages", strings.NewReader(`{"stream":true}`))
	req.Header.Set("x-api-key", rg.tok["anthropic"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	got := make(chan string, 1)
	go func() { l, _ := br.ReadString('\n'); got <- l }()
	select {
	case l := <-got:
		if !strings.Contains(l, "message_start") {
			t.Fatalf("first line %q", l)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the first event did not arrive before the stream ended: the proxy buffers")
	}
	firstAt := time.Now()
	close(firstSeen)
	rest, rerr := io.ReadAll(br)
	if at := <-lastSent; !firstAt.Before(at) {
		t.Fatal("the first event was read after the last was sent")
	}
	rg.audit.waitFor(t, 0)
	if strings.Count(string(rest), "data:") != 5 || !strings.Contains(string(rest), "message_stop") {
		t.Fatalf("rest of the stream: %q (read: %v; audit %+v)", rest, rerr, rg.audit.last())
	}
	if e := rg.audit.last(); e.Outcome != OutcomeOK || e.BytesOut == 0 {
		t.Fatalf("audit: %+v", e)
	}
}

func TestProxyClientGone(t *testing.T) {
	rg := newRig(t, nil, nil)
	stop := make(chan struct{})
	rg.up.handle = func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		for {
			if _, err := io.WriteString(w, "data: x\n\n"); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	defer close(stop)
	req, _ := http.NewRequest("POST", rg.proxy.URL+"/v1/messages", strings.NewReader("{}"))
	req.Header.Set("x-api-key", rg.tok["anthropic"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close() // read-side close: nothing to lose
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		switch o := rg.audit.last().Outcome; o {
		case OutcomeClientGone:
			return
		case OutcomeUpstreamGone:
			t.Fatalf("the agent hung up, and the audit blames the upstream: %+v", rg.audit.last())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("audit after the client left: %+v", rg.audit.last())
}

func TestNewProxyChecks(t *testing.T) {
	tk := OpenTokens(t.TempDir() + "/t.json")
	if _, err := NewProxy(ProxyConfig{Tokens: tk, Credentials: creds{}}); err == nil {
		t.Error("a proxy without a task")
	}
	bad := DefaultRoutes()
	rt := bad["anthropic"]
	rt.Upstream = "ftp://x"
	bad["anthropic"] = rt
	if _, err := NewProxy(ProxyConfig{Task: "t", Tokens: tk, Credentials: creds{}, Routes: bad}); err == nil {
		t.Error("a bad route")
	}
}
