package vaultsvc

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/netns"
	"github.com/terok-ai/terok-go/lib/testenv"
	"github.com/terok-ai/terok-go/lib/vault"
	"github.com/terok-ai/terok-go/lib/warden"
)

const realKey = "sk-ant-api03-REAL-KEY-of-the-host"

type oneKey struct{}

func (oneKey) Credential(_ context.Context, provider string) (vault.Credential, error) {
	if provider != "anthropic" {
		return vault.Credential{}, &vault.NoCredentialError{Provider: provider}
	}
	return vault.Credential{Kind: vault.APIKey, APIKey: realKey}, nil
}

// The proxy serves the task on its own loopback (a network namespace
// here) and sends its requests upstream from the host with the real key;
// another task's token gets 401; quarantine revokes the task's tokens
// (and only its), and so does the warden's end.
func TestServiceServesTheTaskAndRevokes(t *testing.T) {
	testenv.Tool(t, "ip", "iproute2")
	pid := testenv.NetNSHolder(t)
	holder, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("nsenter", "-t", strconv.Itoa(pid), "-n", "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var (
		mu   sync.Mutex
		keys []string
	)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("X-Api-Key"))
		mu.Unlock()
		_, _ = io.WriteString(w, `{"type":"message"}`) // the client reads it or went away
	}))
	defer up.Close()
	dir := t.TempDir()
	tokens := vault.OpenTokens(filepath.Join(dir, "tokens.json"))
	mine, err := tokens.Mint("t1", "web", "anthropic")
	if err != nil {
		t.Fatal(err)
	}
	other, err := tokens.Mint("t2", "web", "anthropic")
	if err != nil {
		t.Fatal(err)
	}
	routes, err := vault.DefaultRoutes().With(map[string]vault.RouteConfig{"anthropic": {Upstream: up.URL}})
	if err != nil {
		t.Fatal(err)
	}
	var closed atomic.Bool
	audit := filepath.Join(dir, "audit", "vault.jsonl")
	vs := New(Config{Project: "web", Tokens: tokens, Credentials: oneKey{}, Routes: routes, Audit: audit, Closed: closed.Load})
	ready := make(chan struct{})
	done := make(chan error, 1)
	w := &warden.Warden{ID: "t1", Pid: pid, Services: []warden.Service{vs}, Ready: func() { close(ready) }}
	go func() { done <- w.Run(context.Background()) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("warden: %v", err)
	}
	// A client in the task's namespace.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = netns.Do(pid, func() (err error) { c, err = (&net.Dialer{}).DialContext(ctx, network, addr); return err })
			return c, err
		}}}
	ask := func(token string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://127.0.0.1:9419/v1/messages", strings.NewReader(`{}`))
		req.Header.Set("X-Api-Key", token)
		req.Header.Set("Anthropic-Version", "2023-06-01")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body) // drained for the connection's reuse
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if s := ask(mine); s != 200 {
		t.Fatalf("the task's own token: %d", s)
	}
	if s := ask(other); s != 401 {
		t.Fatalf("another task's token: %d", s)
	}
	mu.Lock()
	if len(keys) != 1 || keys[0] != realKey {
		t.Fatalf("the upstream saw %q", keys)
	}
	mu.Unlock()
	// Quarantined: the task's tokens are revoked, the other task's stay.
	closed.Store(true)
	if s := ask(mine); s != 401 {
		t.Fatalf("a quarantined task's token: %d", s)
	}
	if l, _ := tokens.List("t1"); len(l) != 0 {
		t.Fatalf("a quarantined task keeps tokens: %v", l)
	}
	if l, _ := tokens.List("t2"); len(l) != 1 {
		t.Fatalf("another task's token went with the quarantine: %v", l)
	}
	closed.Store(false)
	if s := ask(mine); s != 401 {
		t.Fatalf("a revoked token after the quarantine: %d", s)
	}
	// A new token (a new container's) works, until the warden ends.
	mine2, err := tokens.Mint("t1", "web", "anthropic")
	if err != nil {
		t.Fatal(err)
	}
	if s := ask(mine2); s != 200 {
		t.Fatalf("a new token: %d", s)
	}
	_ = holder.Kill() // the task's process ends; its cleanup waits for it
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the warden outlived its task")
	}
	if l, _ := tokens.List("t1"); len(l) != 0 {
		t.Fatalf("the warden ended and the task keeps tokens: %v", l)
	}
	n := 0
	if err := vault.ReadAudit(context.Background(), audit, "t1", false, func(e vault.AuditEntry) error {
		if e.Project != "web" || e.Path != "/v1/messages" {
			t.Errorf("audit entry %+v", e)
		}
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Fatalf("%d audit entries of t1, want 5", n)
	}
}
