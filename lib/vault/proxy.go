package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultMaxBody bounds a request's body: a prompt with its images and
// files fits; a runaway upload does not.
const DefaultMaxBody = 64 << 20

// TokenChecker resolves a phantom token (Tokens does).
type TokenChecker interface {
	Check(token string) (Binding, error)
}

// CredentialSource gives the real credential of a provider, fresh enough
// to use (Refresher does; a *Store's Get without refreshing will do too).
type CredentialSource interface {
	Credential(ctx context.Context, provider string) (Credential, error)
}

// AuditSink records one line per request (AuditLog does).
type AuditSink interface {
	Record(AuditEntry)
}

// ProxyConfig builds one task's proxy.
type ProxyConfig struct {
	// Task is the task this proxy serves: a token bound to any other task
	// is refused, valid or not. Project names it in the audit when a
	// request carries no valid token.
	Task    string
	Project string

	Tokens      TokenChecker
	Credentials CredentialSource
	Routes      Routes
	Audit       AuditSink // nil: no audit (tests)
	// Transport carries requests upstream; nil: NewTransport().
	Transport http.RoundTripper
	// MaxBody bounds a request body; 0: DefaultMaxBody.
	MaxBody int64
	// Hosts are the Host header values accepted besides the loopback
	// addresses and localhost (with any port).
	Hosts []string
}

type compiledRoute struct {
	Route
	up, oauthUp *url.URL
}

type proxy struct {
	cfg    ProxyConfig
	routes map[string]*compiledRoute
	hosts  map[string]bool
}

// NewTransport is the upstream transport: TLS verified by the host's
// roots, bounded connect and handshake, no transparent decompression (the
// body goes back to the agent byte for byte), no time limit on an answer
// (a model may think for minutes).
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          200,
		MaxIdleConnsPerHost:   100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
}

// NewProxy returns the proxy of one task: an http.Handler that takes a
// request carrying a phantom token, checks the token belongs to this task,
// replaces it by the real credential of the token's provider and forwards
// the request to that provider's upstream only, streaming the answer back
// as it comes. It is not an open proxy: absolute-URI requests, CONNECT,
// upgrades and Host names other than the proxy's own are refused.
func NewProxy(cfg ProxyConfig) (http.Handler, error) {
	if cfg.Task == "" || cfg.Tokens == nil || cfg.Credentials == nil {
		return nil, errors.New("vault proxy: a task, a token checker and a credential source are needed")
	}
	if cfg.Transport == nil {
		cfg.Transport = NewTransport()
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	p := &proxy{cfg: cfg, routes: map[string]*compiledRoute{}, hosts: map[string]bool{}}
	for name, rt := range cfg.Routes {
		if rt.Provider != name {
			return nil, fmt.Errorf("vault route %s names provider %q", name, rt.Provider)
		}
		if err := rt.Check(); err != nil {
			return nil, err
		}
		cr := &compiledRoute{Route: rt}
		cr.up, _ = baseURL(rt.Upstream)
		if rt.OAuthUpstream != "" {
			cr.oauthUp, _ = baseURL(rt.OAuthUpstream)
		}
		p.routes[name] = cr
	}
	for _, h := range cfg.Hosts {
		p.hosts[strings.ToLower(h)] = true
	}
	return p, nil
}

// Outcomes in the audit log.
const (
	OutcomeOK           = "ok"                    // forwarded; status is the upstream's
	OutcomeRefused      = "refused"               // not a request the proxy serves
	OutcomeMissingToken = "missing_token"         // no token in x-api-key nor Authorization
	OutcomeInvalidToken = "invalid_token"         // unknown or revoked
	OutcomeOtherTask    = "other_task"            // a live token of another task
	OutcomeTokenError   = "token_error"           // the tokens file could not be read
	OutcomeNoRoute      = "no_route"              // the token's provider has no route
	OutcomeNoCredential = "no_credential"         // the store holds none for the provider
	OutcomeCredError    = "credential_error"      // the store could not give it (locked, refresh failed)
	OutcomeTooLarge     = "too_large"             // the body passed MaxBody
	OutcomeUpstreamErr  = "upstream_error"        // the upstream could not be reached
	OutcomeUpstreamGone = "upstream_disconnected" // the upstream broke off its answer
	OutcomeClientGone   = "client_gone"           // the agent went away
)

// hopByHop are the headers of one connection (RFC 9110 7.6.1), never
// forwarded either way.
var hopByHop = map[string]bool{
	"Connection": true, "Proxy-Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
}

// credentialHeaders are where a client may put a credential; whatever the
// agent put there is dropped, and only the route's header goes upstream.
var credentialHeaders = map[string]bool{
	"Authorization": true, "X-Api-Key": true, "Api-Key": true, "X-Goog-Api-Key": true,
	"Private-Token": true, "Proxy-Authorization": true,
}

// dropped are request headers that would tell the upstream about the host
// side or make it act as a proxy; the transport sets what it needs.
var dropped = map[string]bool{
	"Host": true, "Forwarded": true, "X-Forwarded-For": true, "X-Forwarded-Host": true,
	"X-Forwarded-Proto": true, "X-Real-Ip": true, "Via": true, "Expect": true, "Content-Length": true,
}

type proxyError struct {
	status  int
	outcome string
	kind    string // anthropic error type; mapped for the other shapes
	msg     string
}

func refuse(status int, outcome, kind, format string, a ...any) *proxyError {
	return &proxyError{status: status, outcome: outcome, kind: kind, msg: fmt.Sprintf(format, a...)}
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	cw := &countingWriter{w: w}
	body := &countingBody{r: r.Body, max: p.cfg.MaxBody, declared: r.ContentLength}
	e := AuditEntry{Task: p.cfg.Task, Project: p.cfg.Project, Method: r.Method, Path: auditPath(r.RequestURI)}
	shape := guessShape(r.Header)
	b, status, outcome := p.serve(cw, r, body, &shape)
	if b != nil {
		e.Project, e.Provider = b.Project, b.Provider
	}
	e.Status, e.Outcome = status, outcome
	e.BytesIn, e.BytesOut = body.n, cw.n
	e.Time = start.UTC()
	e.DurationMS = float64(time.Since(start).Microseconds()) / 1000
	if p.cfg.Audit != nil {
		p.cfg.Audit.Record(e)
	}
}

// serve handles one request and returns the binding (if the token was
// good), the status sent and the outcome.
func (p *proxy) serve(w *countingWriter, r *http.Request, body *countingBody, shape *string) (*Binding, int, string) {
	fail := func(b *Binding, pe *proxyError) (*Binding, int, string) {
		writeError(w, *shape, pe)
		return b, pe.status, pe.outcome
	}
	if pe := p.screen(r); pe != nil {
		return fail(nil, pe)
	}
	token, pe := phantomOf(r.Header)
	if pe != nil {
		return fail(nil, pe)
	}
	b, err := p.cfg.Tokens.Check(token)
	if errors.Is(err, ErrUnknownToken) {
		return fail(nil, refuse(401, OutcomeInvalidToken, "authentication_error",
			"terok vault: this phantom token is unknown or revoked (a task's tokens die when it stops)"))
	}
	if err != nil {
		return fail(nil, refuse(500, OutcomeTokenError, "api_error", "terok vault: cannot check the token: %v", err))
	}
	if b.Task != p.cfg.Task {
		return fail(&b, refuse(401, OutcomeOtherTask, "authentication_error",
			"terok vault: this phantom token belongs to another task"))
	}
	rt := p.routes[b.Provider]
	if rt == nil {
		return fail(&b, refuse(502, OutcomeNoRoute, "api_error", "terok vault: no route for provider %s", b.Provider))
	}
	*shape = rt.ErrorShape
	if pe := rt.pathAllowed(r.RequestURI); pe != nil {
		return fail(&b, pe)
	}
	if r.ContentLength > p.cfg.MaxBody {
		return fail(&b, refuse(413, OutcomeTooLarge, "request_too_large", "terok vault: the request body is larger than %d bytes", p.cfg.MaxBody))
	}
	cred, err := p.cfg.Credentials.Credential(r.Context(), b.Provider)
	if err != nil {
		var nc *NoCredentialError
		var le *LockedError
		switch {
		case errors.As(err, &nc):
			return fail(&b, refuse(401, OutcomeNoCredential, "authentication_error",
				"terok vault holds no credential for %s: on the host, run 'terok-vault set %s'", b.Provider, b.Provider))
		case errors.As(err, &le):
			return fail(&b, refuse(503, OutcomeCredError, "api_error", "terok vault: %v", err))
		default:
			return fail(&b, refuse(502, OutcomeCredError, "api_error", "terok vault: the %s credential is not usable: %v", b.Provider, err))
		}
	}
	out, err := rt.outgoing(r, cred)
	if err != nil {
		return fail(&b, refuse(400, OutcomeRefused, "invalid_request_error", "terok vault: %v", err))
	}
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		out.Body = body
		out.ContentLength = r.ContentLength
	}
	resp, err := p.cfg.Transport.RoundTrip(out)
	if err != nil {
		switch {
		case body.exceeded:
			return fail(&b, refuse(413, OutcomeTooLarge, "request_too_large", "terok vault: the request body is larger than %d bytes", p.cfg.MaxBody))
		case r.Context().Err() != nil:
			return &b, 499, OutcomeClientGone
		default:
			return fail(&b, refuse(502, OutcomeUpstreamErr, "api_error", "terok vault: %s upstream unreachable: %v", b.Provider, upstreamErr(err)))
		}
	}
	defer resp.Body.Close()
	h := w.Header()
	for k, vs := range resp.Header {
		if !hopByHop[k] && !connectionListed(resp.Header, k) {
			h[k] = vs
		}
	}
	w.WriteHeader(resp.StatusCode)
	return &b, resp.StatusCode, stream(r.Context(), w, resp.Body)
}

// screen refuses what is not an origin-form request to this proxy.
func (p *proxy) screen(r *http.Request) *proxyError {
	if r.Method == http.MethodConnect {
		return refuse(405, OutcomeRefused, "invalid_request_error", "terok vault: CONNECT is refused; this is not a forward proxy")
	}
	if !strings.HasPrefix(r.RequestURI, "/") {
		return refuse(400, OutcomeRefused, "invalid_request_error", "terok vault: only origin-form requests (a path, not a URL) are served")
	}
	if !p.hostAllowed(r.Host) {
		return refuse(400, OutcomeRefused, "invalid_request_error", "terok vault: Host %q is not this proxy", truncate(r.Host, 64))
	}
	for k, vs := range r.Header {
		if !validHeaderName(k) {
			return refuse(400, OutcomeRefused, "invalid_request_error", "terok vault: a header name is invalid")
		}
		for _, v := range vs {
			if !headerValueSafe(v) {
				return refuse(400, OutcomeRefused, "invalid_request_error", "terok vault: header %s holds control characters", truncate(k, 64))
			}
		}
	}
	if r.Header.Get("Upgrade") != "" || headerHasToken(r.Header, "Connection", "upgrade") {
		return refuse(501, OutcomeRefused, "invalid_request_error", "terok vault: protocol upgrades (WebSocket) are not proxied")
	}
	path, _, _ := strings.Cut(r.RequestURI, "?")
	for _, seg := range strings.Split(path, "/") {
		if s, err := url.PathUnescape(seg); err != nil || s == "." || s == ".." || strings.ContainsAny(s, "\x00\r\n") {
			return refuse(400, OutcomeRefused, "invalid_request_error", "terok vault: the path is not canonical")
		}
	}
	return nil
}

func (p *proxy) hostAllowed(host string) bool {
	host = strings.ToLower(host)
	if p.hosts[host] {
		return true
	}
	name := host
	if h, port, err := net.SplitHostPort(host); err == nil {
		if port == "" || strings.Trim(port, "0123456789") != "" {
			return false
		}
		name = h
	}
	if name == "localhost" {
		return true
	}
	ip := net.ParseIP(name)
	return ip != nil && ip.IsLoopback()
}

// phantomOf takes the token from x-api-key or Authorization: Bearer,
// whichever the agent's SDK uses. Two different tokens, or one header
// given twice, are refused.
func phantomOf(h http.Header) (string, *proxyError) {
	var found []string
	if vs := h.Values("X-Api-Key"); len(vs) > 0 {
		found = append(found, vs...)
	}
	for _, v := range h.Values("Authorization") {
		scheme, tok, ok := strings.Cut(v, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", refuse(401, OutcomeMissingToken, "authentication_error", "terok vault: Authorization must be Bearer and a phantom token")
		}
		found = append(found, strings.TrimSpace(tok))
	}
	if len(found) == 0 {
		return "", refuse(401, OutcomeMissingToken, "authentication_error", "terok vault: no token (send the phantom token as x-api-key or Authorization: Bearer)")
	}
	for _, t := range found[1:] {
		if t != found[0] {
			return "", refuse(401, OutcomeInvalidToken, "authentication_error", "terok vault: more than one token was sent")
		}
	}
	return found[0], nil
}

func (rt *compiledRoute) pathAllowed(requestURI string) *proxyError {
	if len(rt.Paths) == 0 {
		return nil
	}
	path, _, _ := strings.Cut(requestURI, "?")
	for _, pre := range rt.Paths {
		if strings.HasPrefix(path, pre) {
			return nil
		}
	}
	return refuse(403, OutcomeRefused, "permission_error", "terok vault: the %s route does not serve this path", rt.Provider)
}

// outgoing builds the upstream request: the route's URL with the request's
// raw path and query, the agent's headers without hop-by-hop, credential
// and forwarding headers (nor any that carries a phantom), and the real
// credential in the route's form.
func (rt *compiledRoute) outgoing(r *http.Request, cred Credential) (*http.Request, error) {
	up := rt.up
	rawPath, rawQuery, _ := strings.Cut(r.RequestURI, "?")
	oauth := cred.Kind == OAuth
	if oauth && rt.oauthUp != nil {
		up = rt.oauthUp
		if rt.OAuthStripPrefix != "" && strings.HasPrefix(rawPath, rt.OAuthStripPrefix) {
			rawPath = strings.TrimPrefix(rawPath, rt.OAuthStripPrefix)
		}
	}
	path, err := url.PathUnescape(rawPath)
	if err != nil {
		return nil, err
	}
	u := *up
	u.Path = strings.TrimRight(up.Path, "/") + path
	u.RawPath = strings.TrimRight(up.EscapedPath(), "/") + rawPath
	u.RawQuery = rawQuery
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range r.Header {
		if hopByHop[k] || credentialHeaders[k] || dropped[k] || connectionListed(r.Header, k) || carries(vs, PhantomPrefix) {
			continue
		}
		out.Header[k] = append([]string(nil), vs...)
	}
	if oauth {
		out.Header.Set("Authorization", "Bearer "+cred.AccessToken)
		for k, v := range rt.OAuthHeaders {
			addToList(out.Header, k, v)
		}
		if rt.AccountHeader != "" && cred.AccountID != "" {
			out.Header.Set(rt.AccountHeader, cred.AccountID)
		}
	} else {
		out.Header.Set(rt.APIKeyHeader, rt.APIKeyPrefix+cred.APIKey)
		for k, v := range rt.OAuthHeaders {
			removeFromList(out.Header, k, v)
		}
	}
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = nil // send none rather than Go's
	}
	return out, nil
}

// carries: a value holds s (the phantom prefix: no header with a phantom
// in it, this task's or another's, goes upstream).
func carries(vs []string, s string) bool {
	for _, v := range vs {
		if strings.Contains(v, s) {
			return true
		}
	}
	return false
}

// connectionListed: the header is named in Connection, so it is hop-by-hop.
func connectionListed(h http.Header, name string) bool {
	return headerHasToken(h, "Connection", name)
}

func headerHasToken(h http.Header, header, token string) bool {
	for _, v := range h.Values(header) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func addToList(h http.Header, k, v string) {
	var items []string
	for _, x := range h.Values(k) {
		for _, t := range strings.Split(x, ",") {
			if t = strings.TrimSpace(t); t != "" {
				items = append(items, t)
			}
		}
	}
	for _, t := range items {
		if t == v {
			h.Set(k, strings.Join(items, ","))
			return
		}
	}
	h.Set(k, strings.Join(append(items, v), ","))
}

func removeFromList(h http.Header, k, v string) {
	var items []string
	for _, x := range h.Values(k) {
		for _, t := range strings.Split(x, ",") {
			if t = strings.TrimSpace(t); t != "" && t != v {
				items = append(items, t)
			}
		}
	}
	if len(items) == 0 {
		h.Del(k)
	} else {
		h.Set(k, strings.Join(items, ","))
	}
}

// stream copies the answer back as it arrives, flushing after every read,
// so that server-sent events reach the agent one by one. An answer cut off
// because the agent hung up (ctx, its request's, is done: the upstream's
// body is closed with it) is the agent's doing, not the upstream's: Codex
// hangs up as soon as it has read the answer's last event.
func stream(ctx context.Context, w *countingWriter, body io.Reader) string {
	rc := http.NewResponseController(w.w)
	buf := make([]byte, 32<<10)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return OutcomeClientGone
			}
			if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
				return OutcomeClientGone
			}
		}
		if rerr == io.EOF {
			return OutcomeOK
		}
		if rerr != nil {
			if ctx.Err() != nil {
				return OutcomeClientGone
			}
			return OutcomeUpstreamGone
		}
	}
}

func upstreamErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return truncate(err.Error(), 200)
}

// guessShape picks the error form for a request whose token says nothing
// yet: Anthropic's SDKs send anthropic-version, and x-api-key is theirs.
func guessShape(h http.Header) string {
	if h.Get("Anthropic-Version") != "" || h.Get("X-Api-Key") != "" {
		return "anthropic"
	}
	return "openai"
}

// writeError answers in the provider's own error form, so the agent prints
// the message (which always names terok).
func writeError(w http.ResponseWriter, shape string, pe *proxyError) {
	var body any
	switch shape {
	case "anthropic":
		body = map[string]any{"type": "error", "error": map[string]string{"type": pe.kind, "message": pe.msg}}
	default:
		kind, code := "invalid_request_error", any(nil)
		switch pe.status {
		case 401:
			code = "invalid_api_key"
		case 500, 502, 503:
			kind = "server_error"
		}
		e := map[string]any{"message": pe.msg, "type": kind, "param": nil, "code": code}
		if shape == "mistral" {
			e["object"] = "error"
			body = e
		} else {
			body = map[string]any{"error": e}
		}
	}
	data, _ := json.Marshal(body)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Terok-Vault", pe.outcome)
	w.WriteHeader(pe.status)
	_, _ = w.Write(append(data, '\n')) // the client went away: nobody to tell
}

type countingWriter struct {
	w http.ResponseWriter
	n int64
}

func (c *countingWriter) Header() http.Header { return c.w.Header() }
func (c *countingWriter) WriteHeader(s int)   { c.w.WriteHeader(s) }
func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.w }

var errBodyTooLarge = errors.New("request body too large")

// countingBody is the request's body on its way upstream, counted and
// bounded. A body of a declared length ends at that length without
// another read of the client's: the transport reads once more to check
// that nothing follows, and by then the upstream may have answered and
// the server may have closed the client's body (the handler has written
// its response's header), an error that made the transport close the
// upstream connection in the middle of the answer's stream.
type countingBody struct {
	r        io.ReadCloser
	n, max   int64
	declared int64 // the request's Content-Length; -1 when unknown
	exceeded bool
}

func (c *countingBody) Read(b []byte) (int, error) {
	if c.exceeded {
		return 0, errBodyTooLarge
	}
	if c.declared >= 0 && c.n >= c.declared {
		return 0, io.EOF
	}
	if c.declared >= 0 && int64(len(b)) > c.declared-c.n {
		b = b[:c.declared-c.n]
	}
	if room := c.max - c.n + 1; int64(len(b)) > room {
		b = b[:room]
	}
	n, err := c.r.Read(b)
	c.n += int64(n)
	if c.n > c.max {
		c.exceeded = true
		return n, errBodyTooLarge
	}
	return n, err
}

// Close closes the client's body; its error (a body the server already
// closed) is no error of the upstream request's.
func (c *countingBody) Close() error {
	_ = c.r.Close()
	return nil
}

// validHeaderName: an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// headerValueSafe: no CR, LF, NUL or other control character but tab.
func headerValueSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// auditPath is the path alone (a query may carry anything), bounded.
func auditPath(requestURI string) string {
	path, _, _ := strings.Cut(requestURI, "?")
	return truncate(path, 256)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// NewServer is the http.Server a proxy is best served by: Go's own answer
// to "OPTIONS *" switched off (every request reaches the proxy), bounded
// header size and header read time, no write timeout (answers stream for
// minutes).
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:                      h,
		ReadHeaderTimeout:            30 * time.Second,
		MaxHeaderBytes:               256 << 10,
		IdleTimeout:                  5 * time.Minute,
		DisableGeneralOptionsHandler: true,
	}
}
