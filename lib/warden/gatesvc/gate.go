package gatesvc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/terok-ai/terok-go/lib/warden"
)

// Service serves a task's gate.
type Service struct {
	// Endpoint answers the task's git requests: the gate's endpoint with
	// the task's token.
	Endpoint http.Handler
	// Closed, if set, reports whether the task is cut off (quarantined):
	// then every request gets 403 until it is not.
	Closed func() bool

	srv *http.Server
}

var _ warden.Service = (*Service)(nil)

// Start listens on the task's loopback at warden.GatePort and serves.
func (s *Service) Start(ctx context.Context, t *warden.Task) error {
	l, err := t.Listen(fmt.Sprintf("127.0.0.1:%d", warden.GatePort))
	if err != nil {
		return fmt.Errorf("the task's gate: %w", err)
	}
	s.srv = &http.Server{
		Handler:           s.guard(s.Endpoint),
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	go func() {
		if err := s.srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			t.Fail(fmt.Errorf("the task's gate: %w", err))
		}
	}()
	return nil
}

// Close stops serving, giving requests in flight two seconds to end.
func (s *Service) Close() error {
	shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// Past the grace the remaining connections are closed: the warden is
	// ending either way.
	_ = s.srv.Shutdown(shut)
	return nil
}

// guard closes the gate to a quarantined task: quarantine (and terok
// panic) cut the task off from the gate as well as from the network. A
// request's end asks the warden to return its memory once it is quiet
// (warden.SettleSoon).
func (s *Service) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		defer warden.SettleSoon()
		if s.Closed != nil && s.Closed() {
			http.Error(w, "the task is quarantined: its gate is closed until terok-shield up", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, req)
	})
}
