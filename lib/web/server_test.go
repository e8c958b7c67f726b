package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// echoTerm is a session that echoes what is typed (a terminal's line
// discipline, roughly: CR becomes CRLF) and remembers it and its sizes.
type echoTerm struct {
	r    *io.PipeReader
	w    *io.PipeWriter
	echo chan []byte // to the one writer, in order

	mu    sync.Mutex
	typed bytes.Buffer
	sizes [][2]int
}

func newEchoTerm(cols, rows int) *echoTerm {
	r, w := io.Pipe()
	e := &echoTerm{r: r, w: w, echo: make(chan []byte, 1024)}
	e.sizes = append(e.sizes, [2]int{cols, rows})
	e.echo <- []byte("fake$ ")
	go func() {
		for b := range e.echo {
			if _, err := w.Write(b); err != nil {
				return
			}
		}
	}()
	return e
}

func (e *echoTerm) Read(p []byte) (int, error) { return e.r.Read(p) }
func (e *echoTerm) Write(p []byte) (int, error) {
	e.mu.Lock()
	e.typed.Write(p)
	e.mu.Unlock()
	e.echo <- bytes.ReplaceAll(p, []byte("\r"), []byte("\r\n"))
	return len(p), nil
}
func (e *echoTerm) Close() error { return e.w.Close() }
func (e *echoTerm) Resize(_ context.Context, cols, rows int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sizes = append(e.sizes, [2]int{cols, rows})
	return nil
}
func (e *echoTerm) Typed() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.typed.String()
}
func (e *echoTerm) Size() [2]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sizes[len(e.sizes)-1]
}

// fakeSession serves echo terminals and keeps each one opened.
type fakeSession struct {
	mu    sync.Mutex
	terms []*echoTerm
}

func (f *fakeSession) open(_ context.Context, cols, rows int) (Terminal, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := newEchoTerm(cols, rows)
	f.terms = append(f.terms, t)
	return t, nil
}

func (f *fakeSession) last() *echoTerm {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.terms) == 0 {
		return nil
	}
	return f.terms[len(f.terms)-1]
}

// serve starts a server of an echo session for the test.
func serve(t *testing.T, viewOnly bool) (*Server, *fakeSession) {
	t.Helper()
	f := &fakeSession{}
	s, err := New(Config{ViewOnly: viewOnly, Open: f.open, Detach: []byte("\x02d"),
		Info: Info{Task: "abc12345", Project: "demo", Agent: "command", Branch: "task/abc12345",
			Posture: func() string { return "up" }},
		Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s, f
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func get(t *testing.T, c *http.Client, u string, h map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp
}

// login exchanges the server's token for its cookie in a client of its own.
func login(t *testing.T, s *Server) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: noRedirect}
	resp := get(t, c, s.URL(), nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("the token's exchange answered %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	sc := resp.Header.Get("Set-Cookie")
	for _, want := range []string{s.CookieName() + "=", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(sc, want) {
			t.Fatalf("the cookie %q lacks %s", sc, want)
		}
	}
	return c
}

// The token is exchanged once for a cookie; without the cookie nothing is
// served, and a spent or wrong token is refused, more slowly each time.
func TestTokenAndCookie(t *testing.T) {
	s, _ := serve(t, false)
	base := "http://" + s.Addr()
	bare := &http.Client{CheckRedirect: noRedirect}
	for _, p := range []string{"/", "/assets/xterm.js", "/ws", "/?token=", "/?token=wrong"} {
		if r := get(t, bare, base+p, nil); r.StatusCode != http.StatusForbidden {
			t.Errorf("GET %s without the cookie: %d, want 403", p, r.StatusCode)
		}
	}
	c := login(t, s)
	r := get(t, c, base+"/", nil)
	if r.StatusCode != 200 || r.Header.Get("Content-Security-Policy") != CSP {
		t.Fatalf("the page with the cookie: %d, CSP %q", r.StatusCode, r.Header.Get("Content-Security-Policy"))
	}
	for _, h := range []string{"X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options"} {
		if r.Header.Get(h) == "" {
			t.Errorf("the page has no %s", h)
		}
	}
	// A reload of the first URL in the browser that has the cookie.
	if r := get(t, c, s.URL(), nil); r.StatusCode != http.StatusSeeOther {
		t.Errorf("the spent token with the cookie: %d, want 303", r.StatusCode)
	}
	// The spent token in another browser, and wrong ones: each refused,
	// each later one more slowly.
	var took []time.Duration
	for i := 0; i < 3; i++ {
		start := time.Now()
		u := s.URL()
		if i > 0 {
			u = base + "/?token=guess" + fmt.Sprint(i)
		}
		if r := get(t, bare, u, nil); r.StatusCode != http.StatusForbidden {
			t.Fatalf("token try %d: %d, want 403", i, r.StatusCode)
		}
		took = append(took, time.Since(start))
	}
	if took[2] < 300*time.Millisecond || took[2] <= took[0] {
		t.Errorf("refused tokens are not slowed down: %v", took)
	}
}

// Only the app's paths are served, and only to GET; a loopback server
// answers no other Host (DNS rebinding).
func TestNothingElseServed(t *testing.T) {
	s, _ := serve(t, false)
	c := login(t, s)
	base := "http://" + s.Addr()
	for _, p := range []string{"/etc/passwd", "/assets/", "/assets/../server.go", "/assets/LICENSE.xterm", "/assets/VERSIONS",
		"/favicon.ico", "/index.html", "/assets/xterm.js/", "/%2e%2e/go.mod"} {
		if r := get(t, c, base+p, nil); r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, r.StatusCode)
		}
	}
	for _, p := range []string{"/assets/xterm.js", "/assets/addon-fit.js", "/assets/app.js", "/assets/xterm.css", "/assets/app.css"} {
		if r := get(t, c, base+p, nil); r.StatusCode != 200 {
			t.Errorf("GET %s: %d, want 200", p, r.StatusCode)
		}
	}
	if r := get(t, c, base+"/", map[string]string{"Host": "evil.example:80"}); r.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("another Host: %d, want 421", r.StatusCode)
	}
	resp, err := c.Post(base+"/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", resp.StatusCode)
	}
}

func dialWS(t *testing.T, s *Server, c *http.Client, origin string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	u, _ := url.Parse("http://" + s.Addr() + "/")
	h := http.Header{"Origin": {origin}}
	for _, ck := range c.Jar.Cookies(u) {
		h.Add("Cookie", ck.Name+"="+ck.Value)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return websocket.Dial(ctx, "ws://"+s.Addr()+"/ws?cols=100&rows=30", &websocket.DialOptions{HTTPHeader: h})
}

func readUntil(t *testing.T, c *websocket.Conn, want string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got strings.Builder
	for !strings.Contains(got.String(), want) {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("reading %q: %v (got %q)", want, err, got.String())
		}
		got.Write(b)
	}
	return got.String()
}

// The WebSocket wants the cookie and the server's own Origin; it carries
// keystrokes and resizes to the session, and its end detaches.
func TestWebSocketBridge(t *testing.T) {
	s, f := serve(t, false)
	c := login(t, s)
	if _, r, err := dialWS(t, s, c, "http://evil.example"); err == nil || r == nil || r.StatusCode != http.StatusForbidden {
		t.Fatalf("a WebSocket from another origin was not refused: %v", err)
	}
	if _, r, err := dialWS(t, s, &http.Client{Jar: mustJar()}, "http://"+s.Addr()); err == nil || r.StatusCode != http.StatusForbidden {
		t.Fatalf("a WebSocket without the cookie was not refused: %v", err)
	}
	if f.last() != nil {
		t.Fatal("a refused WebSocket opened the session")
	}
	ws, _, err := dialWS(t, s, c, "http://"+s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	readUntil(t, ws, "fake$ ")
	if got := f.last().Size(); got != [2]int{100, 30} {
		t.Errorf("the stream opened at %v, want the page's 100×30", got)
	}
	ctx := context.Background()
	if err := ws.Write(ctx, websocket.MessageBinary, []byte("echo hi\r")); err != nil {
		t.Fatal(err)
	}
	readUntil(t, ws, "echo hi\r\n")
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"cols":120,"rows":40}`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return f.last().Size() == [2]int{120, 40} }, "the resize")
	_ = ws.Close(websocket.StatusNormalClosure, "")
	waitFor(t, func() bool { return strings.HasSuffix(f.last().Typed(), "\x02d") }, "the detach keys at the close")
}

// A view-only server drops the keystrokes; its page still resizes.
func TestViewOnlyDropsKeys(t *testing.T) {
	s, f := serve(t, true)
	c := login(t, s)
	ws, _, err := dialWS(t, s, c, "http://"+s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ws.CloseNow() }()
	readUntil(t, ws, "fake$ ")
	ctx := context.Background()
	_ = ws.Write(ctx, websocket.MessageBinary, []byte("rm -rf /\r"))
	_ = ws.Write(ctx, websocket.MessageText, []byte(`{"cols":90,"rows":20}`))
	waitFor(t, func() bool { return f.last().Size() == [2]int{90, 20} }, "the resize")
	if got := f.last().Typed(); got != "" {
		t.Fatalf("a view-only server typed %q", got)
	}
}

func mustJar() *cookiejar.Jar { j, _ := cookiejar.New(nil); return j }

func waitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("%s never happened", what)
}

// The end of the serving closes every WebSocket with its own code, which
// the page does not reconnect after.
func TestServeEndClosesSockets(t *testing.T) {
	f := &fakeSession{}
	s, err := New(Config{Open: f.open})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Serve(ctx); close(done) }()
	c := login(t, s)
	ws, _, err := dialWS(t, s, c, "http://"+s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	readUntil(t, ws, "fake$ ")
	closed := make(chan error, 1)
	go func() {
		rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer rcancel()
		for {
			if _, _, err := ws.Read(rctx); err != nil {
				closed <- err
				return
			}
		}
	}()
	cancel()
	<-done
	if err := <-closed; websocket.CloseStatus(err) != CloseServingOver {
		t.Fatalf("closed with %v, want %d", err, CloseServingOver)
	}
}
