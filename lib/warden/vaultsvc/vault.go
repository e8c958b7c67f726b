package vaultsvc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/terok-ai/terok-go/lib/vault"
	"github.com/terok-ai/terok-go/lib/warden"
)

// Config is what the vault service of one task is given.
type Config struct {
	Project string // the task's project, for the audit log
	// Tokens are the phantom tokens (the tokens file): the proxy checks
	// each request's, and the service revokes the task's.
	Tokens *vault.Tokens
	// Credentials give the real credentials: a vault.Refresher over the
	// store opened with the key the warden was handed.
	Credentials vault.CredentialSource
	Routes      vault.Routes
	// Audit is the vault's audit log file; "" for none.
	Audit string
	// MaxBody bounds a request's body (config vault.max_body); 0: the
	// proxy's default.
	MaxBody int64
	// Closed, if set, reports whether the task is cut off (quarantined):
	// its tokens are revoked then, so every request is refused.
	Closed func() bool
	// Transport carries requests upstream; nil: the proxy's own (tests
	// set it).
	Transport http.RoundTripper
}

// Service serves a task's vault proxy.
type Service struct {
	cfg Config

	task  string
	srv   *http.Server
	audit *vault.AuditLog
	mu    sync.Mutex // serialises revocations
}

// New is the vault service for one task.
func New(c Config) *Service { return &Service{cfg: c} }

var _ warden.Service = (*Service)(nil)

// Start listens on the task's loopback at warden.VaultPort and serves the
// proxy. A task that is quarantined already has its tokens revoked first.
func (s *Service) Start(ctx context.Context, t *warden.Task) (err error) {
	if s.cfg.Tokens == nil || s.cfg.Credentials == nil {
		return errors.New("the task's vault: no tokens or no credentials")
	}
	s.task = t.ID
	if s.closed() {
		s.Revoke()
	}
	var sink vault.AuditSink
	if s.cfg.Audit != "" {
		if s.audit, err = vault.OpenAudit(s.cfg.Audit); err != nil {
			return fmt.Errorf("the task's vault: %w", err)
		}
		sink = s.audit
	}
	defer func() {
		if err != nil && s.audit != nil {
			_ = s.audit.Close() // nothing was recorded
		}
	}()
	proxy, err := vault.NewProxy(vault.ProxyConfig{
		Task: t.ID, Project: s.cfg.Project, Tokens: s.cfg.Tokens, Credentials: s.cfg.Credentials,
		Routes: s.cfg.Routes, Audit: sink, MaxBody: s.cfg.MaxBody, Transport: s.cfg.Transport,
	})
	if err != nil {
		return fmt.Errorf("the task's vault: %w", err)
	}
	l, err := t.Listen(fmt.Sprintf("127.0.0.1:%d", warden.VaultPort))
	if err != nil {
		return fmt.Errorf("the task's vault: %w", err)
	}
	s.srv = vault.NewServer(s.guard(proxy))
	s.srv.BaseContext = func(net.Listener) context.Context { return ctx }
	go func() {
		if err := s.srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			t.Fail(fmt.Errorf("the task's vault: %w", err))
		}
	}()
	return nil
}

// Close stops serving (requests in flight get two seconds: a stream is
// cut after), revokes the task's tokens — the warden ends with its task,
// and a token must not outlive its container — and writes the audit log
// to its end.
func (s *Service) Close() error {
	shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// Past the grace the remaining connections are closed: the warden is
	// ending either way.
	_ = s.srv.Shutdown(shut)
	s.Revoke()
	if s.audit != nil {
		return s.audit.Close()
	}
	return nil
}

// Revoke revokes every phantom token of the task. A failure is said in
// the warden's log: the task loses its proxy with the warden anyway, and
// terok-task stop, rm and terok panic revoke again.
func (s *Service) Revoke() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.cfg.Tokens.Revoke(s.task); err != nil {
		fmt.Fprintf(os.Stderr, "warden: revoking the task's vault tokens: %v\n", err)
	}
}

func (s *Service) closed() bool { return s.cfg.Closed != nil && s.cfg.Closed() }

// guard closes the proxy to a quarantined task: its tokens are revoked
// (again: quarantine revokes them at once, see services), so the proxy
// refuses the request as it refuses any dead token, in the provider's
// error shape and on the audit log. A request's end asks the warden to
// return its memory once it is quiet (warden.SettleSoon).
func (s *Service) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		defer warden.SettleSoon()
		if s.closed() {
			s.Revoke()
		}
		h.ServeHTTP(w, req)
	})
}
