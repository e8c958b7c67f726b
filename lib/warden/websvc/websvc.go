package websvc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/task"
	"github.com/terok-ai/terok-go/lib/warden"
	"github.com/terok-ai/terok-go/lib/web"
)

// OpWeb asks the warden to serve the task's session to a browser. Its
// Targets are options: "engine=URI", the engine's socket (the asking
// command's, which answers: the warden has neither CONTAINER_HOST nor
// the right to start a Podman service of its own), "listen=ADDR"
// (default: 127.0.0.1, a random port) and "view-only". It answers with a
// Served.
const OpWeb warden.Op = "web"

// Served is OpWeb's answer.
type Served struct {
	URL      string `json:"url"`
	Loopback bool   `json:"loopback"`
}

// Config is the web server's configuration for a browser of task rec's
// session (the command's own serving and the warden's share it); logf
// gets the server's refusals and streams' ends.
func Config(r *task.Runner, rec task.Record, listen string, viewOnly bool, logf func(string, ...any)) web.Config {
	return web.Config{
		Listen:   listen,
		ViewOnly: viewOnly,
		Info: web.Info{Task: rec.ID, Project: rec.Project, Agent: rec.Agent, Branch: rec.Branch,
			Posture: func() string {
				if sh, err := r.LoadShield(rec.ID); err == nil {
					return string(sh.PostureAt(time.Now()))
				}
				return ""
			}},
		Open: func(ctx context.Context, cols, rows int) (web.Terminal, error) {
			return r.OpenWeb(ctx, rec, viewOnly, cols, rows)
		},
		Detach: task.WebDetachKeys,
		Logf:   logf,
	}
}

// Service serves task id's session to browsers on request.
type Service struct {
	r  *task.Runner // without an engine: the warden's
	id string

	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
	runner *task.Runner // r with an engine, once a request came
	wg     sync.WaitGroup
}

// New is the service of task id, whose warden has runner r (which need
// not have an engine).
func New(r *task.Runner, id string) *Service { return &Service{r: r, id: id} }

// Start serves nothing yet.
func (s *Service) Start(ctx context.Context, _ *warden.Task) error {
	s.ctx, s.cancel = context.WithCancel(ctx)
	return nil
}

// Close ends every server; their pages are told the serving is over.
func (s *Service) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

// Ops is OpWeb.
func (s *Service) Ops() []warden.Op { return []warden.Op{OpWeb} }

// Handle starts a server and answers with its URL.
func (s *Service) Handle(ctx context.Context, req warden.Request) (any, error) {
	var listen, socket string
	viewOnly := false
	for _, o := range req.Targets {
		switch {
		case o == "view-only":
			viewOnly = true
		case strings.HasPrefix(o, "engine="):
			socket = strings.TrimPrefix(o, "engine=")
		case strings.HasPrefix(o, "listen="):
			listen = strings.TrimPrefix(o, "listen=")
		default:
			return nil, fmt.Errorf("web: unknown option %q", o)
		}
	}
	r, err := s.withEngine(ctx, socket)
	if err != nil {
		return nil, err
	}
	rec, err := r.Store().Load(s.id)
	if err != nil {
		return nil, err
	}
	if !task.HasSession(rec.Mode) {
		return nil, errors.New("the task runs headless: it has no session to serve")
	}
	srv, err := web.New(Config(r, rec, listen, viewOnly, func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "warden: web: %s\n", fmt.Sprintf(format, a...))
	}))
	if err != nil {
		return nil, err
	}
	s.wg.Go(func() {
		if err := srv.Serve(s.ctx); err != nil {
			fmt.Fprintf(os.Stderr, "warden: web: %v\n", err)
		}
	})
	return Served{URL: srv.URL(), Loopback: srv.Loopback()}, nil
}

// withEngine is the warden's runner with an engine, connected to the
// unix socket URI on the first request. Nothing else is tried, and no
// service is started.
func (s *Service) withEngine(ctx context.Context, uri string) (*task.Runner, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runner != nil {
		return s.runner, nil
	}
	path, ok := engine.Socket{URI: uri}.Path()
	if !ok {
		return nil, fmt.Errorf("web: the engine's socket %q is not a unix socket", uri)
	}
	e, err := engine.Connect(s.ctx, engine.Options{Socket: uri, DefaultSocket: path, Getenv: func(string) string { return "" }})
	if err != nil {
		return nil, fmt.Errorf("web: reaching the engine: %w", err)
	}
	r := *s.r
	r.Engine = e
	s.runner = &r
	return s.runner, nil
}
