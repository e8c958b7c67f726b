package endpoint

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/terok-ai/terok-go/lib/gate"
)

// Token is one task's credential at the endpoint.
type Token struct {
	Secret string // random, at least MinTokenLen characters
	Task   string // the task id the gate records for pushes made with it
}

// MinTokenLen is the shortest token the endpoint accepts to serve.
const MinTokenLen = 16

// Endpoint is the gate's git endpoint for one project: git's smart HTTP
// protocol (upload-pack to clone and fetch, receive-pack to push), each
// request authenticated with a task's token by HTTP basic authentication
// (the token as the user name or as the password). It is an http.Handler:
// `terok-gate serve` runs it on an address, and a task's warden embeds it.
//
// Routes, for project demo (".git" optional):
//
//	GET  /demo.git/info/refs?service=git-upload-pack
//	GET  /demo.git/info/refs?service=git-receive-pack
//	POST /demo.git/git-upload-pack
//	POST /demo.git/git-receive-pack
//
// Anything else is 404; dumb HTTP is not served.
type Endpoint struct {
	Mirror *gate.Mirror
	Tokens []Token

	// PushTimeout bounds one push from its first byte (default 30 min);
	// LockWait bounds the wait for another push, sync or promotion of the
	// same project (default 2 min).
	PushTimeout time.Duration
	LockWait    time.Duration

	// OnEvent, if set, is called with every audit entry the endpoint
	// writes (serve prints them).
	OnEvent func(gate.AuditEntry)
}

// maxUploadRequest bounds a fetch negotiation request.
const maxUploadRequest = 64 << 20

// route is what a request asks for.
type route int

const (
	routeNone route = iota
	routeAdvertise
	routeUploadPack
	routeReceivePack
)

// parseRoute maps a request line to a route and, for an advertisement,
// the service. rawURI is the request-target as sent (path and query, not
// decoded): anything outside the few exact forms, any escape, dot segment
// or other project is routeNone.
func parseRoute(project, method, rawURI string) (route, string) {
	path, query, _ := strings.Cut(rawURI, "?")
	for i := 0; i < len(path); i++ {
		c := path[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '.' || c == '-' || c == '_') {
			return routeNone, ""
		}
	}
	var rest string
	for _, base := range []string{"/" + project + ".git/", "/" + project + "/"} {
		if r, ok := strings.CutPrefix(path, base); ok {
			rest = r
			break
		}
	}
	switch {
	case rest == "info/refs" && method == http.MethodGet:
		switch query {
		case "service=git-upload-pack":
			return routeAdvertise, "upload-pack"
		case "service=git-receive-pack":
			return routeAdvertise, "receive-pack"
		}
	case rest == "git-upload-pack" && method == http.MethodPost && query == "":
		return routeUploadPack, ""
	case rest == "git-receive-pack" && method == http.MethodPost && query == "":
		return routeReceivePack, ""
	}
	return routeNone, ""
}

// authenticate returns the task whose token the request carries. It
// compares digests in constant time against every token, so neither the
// time taken nor the order of tokens says anything about a secret.
func (e *Endpoint) authenticate(r *http.Request) (task string, presented, ok bool) {
	user, pass, has := r.BasicAuth()
	if !has {
		return "", false, false
	}
	du, dp := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
	for _, t := range e.Tokens {
		if len(t.Secret) < MinTokenLen {
			continue
		}
		dt := sha256.Sum256([]byte(t.Secret))
		match := subtle.ConstantTimeCompare(du[:], dt[:]) | subtle.ConstantTimeCompare(dp[:], dt[:])
		if match == 1 && task == "" {
			task = t.Task
		}
	}
	return task, true, task != ""
}

func (e *Endpoint) event(entries ...gate.AuditEntry) {
	if err := e.Mirror.Audit(entries...); err != nil && e.OnEvent != nil {
		e.OnEvent(gate.AuditEntry{Time: time.Now().UTC(), Type: "error", Project: e.Mirror.Project, Reason: err.Error()})
	}
	if e.OnEvent != nil {
		for _, en := range entries {
			if en.Project == "" {
				en.Project = e.Mirror.Project
			}
			e.OnEvent(en)
		}
	}
}

// ServeHTTP serves one request of a git client.
func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache, max-age=0, must-revalidate")
	task, presented, ok := e.authenticate(r)
	if !ok {
		if presented {
			e.event(gate.AuditEntry{Time: time.Now().UTC(), Type: "auth", Reason: "wrong token", Remote: r.RemoteAddr})
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="terok-gate"`)
		http.Error(w, "terok-gate: a task token is needed", http.StatusUnauthorized)
		return
	}
	rt, service := parseRoute(e.Mirror.Project, r.Method, r.RequestURI)
	switch rt {
	case routeAdvertise:
		e.advertise(w, r, service)
	case routeUploadPack:
		e.uploadPack(w, r)
	case routeReceivePack:
		e.receivePack(w, r, task)
	default:
		http.Error(w, "terok-gate: not found", http.StatusNotFound)
	}
}

func (e *Endpoint) advertise(w http.ResponseWriter, r *http.Request, service string) {
	if err := e.Mirror.Check(); err != nil {
		http.Error(w, "terok-gate: "+err.Error(), http.StatusNotFound)
		return
	}
	var out []byte
	svc, err := e.Mirror.Service(r.Context(), service, true)
	if err == nil {
		out, err = svc.Output()
	}
	if err != nil {
		http.Error(w, "terok-gate: "+service+" failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-git-"+service+"-advertisement")
	// A failed write is a client gone away: there is no one to tell.
	_, _ = w.Write(pktString("# service=git-" + service + "\n"))
	_, _ = w.Write(flushPkt)
	_, _ = w.Write(out)
}

// requestBody returns the request's body, gunzipped when the client
// compressed it.
func requestBody(r *http.Request) (io.Reader, error) {
	switch r.Header.Get("Content-Encoding") {
	case "", "identity":
		return r.Body, nil
	case "gzip", "x-gzip":
		return gzip.NewReader(r.Body)
	}
	return nil, fmt.Errorf("unsupported Content-Encoding %q", r.Header.Get("Content-Encoding"))
}

func (e *Endpoint) uploadPack(w http.ResponseWriter, r *http.Request) {
	if err := e.Mirror.Check(); err != nil {
		http.Error(w, "terok-gate: "+err.Error(), http.StatusNotFound)
		return
	}
	body, err := requestBody(r)
	if err != nil {
		http.Error(w, "terok-gate: "+err.Error(), http.StatusBadRequest)
		return
	}
	cmd, err := e.Mirror.Service(r.Context(), "upload-pack", false)
	if err != nil {
		http.Error(w, "terok-gate: upload-pack failed", http.StatusInternalServerError)
		return
	}
	cmd.Stdin = io.LimitReader(body, maxUploadRequest)
	w.Header().Set("Content-Type", "application/x-git-upload-pack-result")
	cmd.Stdout = flushWriter{w}
	// Only HTTP/1 needs full duplex switched on; the others refuse, being it.
	_ = http.NewResponseController(w).EnableFullDuplex()
	_ = cmd.Run() // a failure shows to the client as a truncated response
}

// flushWriter flushes each write to the client: git's progress and the
// pack stream reach it as they are made.
type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = http.NewResponseController(f.w).Flush()
	}
	return n, err
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// pushReader wraps a receive-pack request body for parsing.
func pushReader(body io.Reader) (*countingReader, *bufio.Reader) {
	cr := &countingReader{r: body}
	return cr, bufio.NewReaderSize(cr, 64<<10)
}
