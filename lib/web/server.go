package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Terminal is one stream to the task's session: its output read, its
// keystrokes written, its size set.
type Terminal interface {
	io.ReadWriteCloser
	Resize(ctx context.Context, cols, rows int) error
}

// Info is what the page's header says of the task.
type Info struct {
	Task, Project, Agent, Branch string
	// Posture returns the shield's posture now (up, down, quarantined);
	// nil or "" leaves it out.
	Posture func() string
}

// Config is what a Server serves.
type Config struct {
	// Listen is the address to listen on; "" is 127.0.0.1 on a random port.
	Listen string
	// ViewOnly drops every keystroke from the browser.
	ViewOnly bool
	Info     Info
	// Open opens a new stream to the session, sized cols×rows.
	Open func(ctx context.Context, cols, rows int) (Terminal, error)
	// Detach, when not nil, is written to a stream before it is closed
	// because its browser went away, so that the session drops the client
	// the stream was (tmux's detach keys).
	Detach []byte
	// Logf, when not nil, is told of each refusal and each stream's end.
	Logf func(format string, a ...any)
}

//go:embed assets/xterm.js assets/xterm.css assets/addon-fit.js assets/app.js assets/app.css
var assets embed.FS

// CookiePrefix begins the name of the cookie the token is exchanged for;
// the server's port ends it. Browsers do not keep cookies apart by port,
// so two servers on one host (two tasks, or a task served twice) would
// otherwise overwrite each other's cookie in a browser that opened both.
const CookiePrefix = "terok_web_"

// CookieName is the name of this server's cookie.
func (s *Server) CookieName() string {
	_, port, _ := net.SplitHostPort(s.host) // the listener's own address
	return CookiePrefix + port
}

// CSP is the Content-Security-Policy of every answer: scripts, styles and
// connections from this server only; xterm.js sets styles of its own
// elements, hence the inline styles.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"connect-src 'self'; img-src 'self' data:; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Server serves one task's session.
type Server struct {
	cfg  Config
	ln   net.Listener
	host string // host:port that the URL names

	mu      sync.Mutex
	token   string // "" once spent
	cookies map[string]bool
	failed  int // wrong or spent tokens so far
	conns   map[*bridge]bool

	slow sync.Mutex // serialises the delays of refused tokens
	page *template.Template
}

// New listens on cfg.Listen and makes the one-time token.
func New(cfg Config) (*Server, error) {
	if cfg.Open == nil {
		return nil, errors.New("web: no session to serve")
	}
	addr := cfg.Listen
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	s := &Server{cfg: cfg, ln: ln, host: ln.Addr().String(), token: secret(), cookies: map[string]bool{}, conns: map[*bridge]bool{},
		page: template.Must(template.New("page").Parse(pageHTML))}
	return s, nil
}

func secret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	return base64.RawURLEncoding.EncodeToString(b)
}

// Loopback reports whether the server listens on a loopback address only.
func (s *Server) Loopback() bool {
	a, ok := s.ln.Addr().(*net.TCPAddr)
	return ok && a.IP.IsLoopback()
}

// URL is the address to open, with the one-time token.
func (s *Server) URL() string {
	return "http://" + s.host + "/?" + url.Values{"token": {s.token}}.Encode()
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.host }

// Serve answers until ctx ends, then closes every stream it opened.
func (s *Server) Serve(ctx context.Context) error {
	// The requests' contexts are not ctx's: a WebSocket whose context
	// ends is dropped without a word, and the page would reconnect. They
	// are closed below, with the code that tells the page it is over.
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(s.ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	s.mu.Lock()
	var wg sync.WaitGroup
	for b := range s.conns {
		wg.Go(func() { b.end("the serving of the task is over") })
	}
	s.mu.Unlock()
	wg.Wait()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx) // hijacked WebSockets are closed above
	return nil
}

func (s *Server) logf(format string, a ...any) {
	if s.cfg.Logf != nil {
		s.cfg.Logf(format, a...)
	}
}

// ServeHTTP is the whole of what the server answers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	if s.Loopback() && !s.goodHost(r.Host) {
		s.refuse(w, r, http.StatusMisdirectedRequest, "a request for host "+strconv.Quote(r.Host))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.refuse(w, r, http.StatusMethodNotAllowed, "method "+r.Method)
		return
	}
	if r.URL.Path == "/" && r.URL.Query().Has("token") {
		s.exchange(w, r)
		return
	}
	if !s.hasCookie(r) {
		s.refuse(w, r, http.StatusForbidden, "a request without the cookie")
		return
	}
	switch r.URL.Path {
	case "/":
		s.servePage(w)
	case "/ws":
		s.serveWS(w, r)
	case "/assets/xterm.js", "/assets/addon-fit.js", "/assets/app.js":
		s.asset(w, r.URL.Path, "text/javascript; charset=utf-8")
	case "/assets/xterm.css", "/assets/app.css":
		s.asset(w, r.URL.Path, "text/css; charset=utf-8")
	default:
		s.refuse(w, r, http.StatusNotFound, "path "+strconv.Quote(r.URL.Path))
	}
}

// goodHost: the Host header names this server (a loopback server answers
// no other name: DNS rebinding).
func (s *Server) goodHost(host string) bool {
	_, port, err := net.SplitHostPort(s.host)
	if err != nil {
		return false
	}
	return host == s.host || host == net.JoinHostPort("localhost", port)
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, code int, what string) {
	s.logf("refused %s (%s %s from %s)", what, r.Method, r.URL.Path, r.RemoteAddr)
	http.Error(w, http.StatusText(code), code)
}

// exchange trades the one-time token for the cookie.
func (s *Server) exchange(w http.ResponseWriter, r *http.Request) {
	got := r.URL.Query().Get("token")
	s.mu.Lock()
	ok := s.token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) == 1
	var c string
	if ok {
		s.token = ""
		c = secret()
		s.cookies[c] = true
	} else {
		s.failed++
	}
	n := s.failed
	s.mu.Unlock()
	if !ok {
		if s.hasCookie(r) {
			// This browser has the cookie (a reload of the first URL).
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		s.slowDown(n)
		s.refuse(w, r, http.StatusForbidden, "a wrong or spent token")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: s.CookieName(), Value: c, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// slowDown delays the answer to the nth refused token: 100 ms more for
// each, 5 s at most, one at a time.
func (s *Server) slowDown(n int) {
	d := min(time.Duration(n)*100*time.Millisecond, 5*time.Second)
	s.slow.Lock()
	defer s.slow.Unlock()
	time.Sleep(d)
}

func (s *Server) hasCookie(r *http.Request) bool {
	c, err := r.Cookie(s.CookieName())
	if err != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cookies[c.Value]
}

func (s *Server) asset(w http.ResponseWriter, path, typ string) {
	b, err := assets.ReadFile(strings.TrimPrefix(path, "/"))
	if err != nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", typ)
	_, _ = w.Write(b) // a browser that went away
}

func (s *Server) servePage(w http.ResponseWriter) {
	i := s.cfg.Info
	posture := ""
	if i.Posture != nil {
		posture = i.Posture()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = s.page.Execute(w, struct {
		Info
		Posture  string
		ViewOnly bool
	}{i, posture, s.cfg.ViewOnly})
}

const pageHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>terok {{.Task}} · {{.Project}}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/xterm.css">
<link rel="stylesheet" href="/assets/app.css">
</head><body{{if .ViewOnly}} data-view-only="1"{{end}}>
<header id="head">
<span class="k">task</span> <b id="task">{{.Task}}</b>
<span class="k">project</span> <span id="project">{{.Project}}</span>
<span class="k">agent</span> <span id="agent">{{.Agent}}</span>
<span class="k">branch</span> <span id="branch">{{.Branch}}</span>
{{if .Posture}}<span class="k">shield</span> <span id="posture" class="posture-{{.Posture}}">{{.Posture}}</span>{{end}}
{{if .ViewOnly}}<span id="viewonly">view only</span>{{end}}
<span id="state">connecting</span>
</header>
<main id="term"></main>
<script src="/assets/xterm.js"></script>
<script src="/assets/addon-fit.js"></script>
<script src="/assets/app.js"></script>
</body></html>
`
