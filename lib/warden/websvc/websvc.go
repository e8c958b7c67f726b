package websvc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/warden"
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

// StartTimeout bounds how long a server process may take to print its
// URL.
const StartTimeout = 30 * time.Second

// Service serves task id's session to browsers on request, each server in
// a process of its own.
type Service struct {
	paths config.Paths
	id    string
	// Binary is the terok binary that serves (default: Binary()).
	Binary func() (string, error)

	mu     sync.Mutex
	closed bool
	procs  []*exec.Cmd
	wg     sync.WaitGroup
}

// New is the service of task id, whose warden has paths.
func New(paths config.Paths, id string) *Service {
	return &Service{paths: paths, id: id, Binary: Binary}
}

// Binary is the terok binary that serves the web mode: the running
// binary when it is terok itself (the warden run as `terok warden`),
// else "terok" beside it (the terok-warden binary).
func Binary() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if filepath.Base(exe) != "terok-warden" {
		return exe, nil
	}
	p := filepath.Join(filepath.Dir(exe), "terok")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("web: the terok binary that serves the web mode is not beside the warden's (%s)", p)
	}
	return p, nil
}

// Start serves nothing yet.
func (s *Service) Start(context.Context, *warden.Task) error { return nil }

// Close ends every server process: SIGTERM, then SIGKILL after 5 s.
func (s *Service) Close() error {
	s.mu.Lock()
	s.closed = true
	procs := s.procs
	s.mu.Unlock()
	for _, c := range procs {
		_ = c.Process.Signal(syscall.SIGTERM)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		for _, c := range procs {
			_ = c.Process.Kill()
		}
		<-done
	}
	return nil
}

// Ops is OpWeb.
func (s *Service) Ops() []warden.Op { return []warden.Op{OpWeb} }

// Handle starts a server process and answers with its URL.
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
	u, err := url.Parse(socket)
	if err != nil || u.Scheme != "unix" || u.Path == "" {
		return nil, fmt.Errorf("web: the engine's socket %q is not a unix socket", socket)
	}
	bin, err := s.Binary()
	if err != nil {
		return nil, err
	}
	args := []string{"task", "web", s.id}
	if listen != "" {
		args = append(args, "--listen", listen)
	}
	if viewOnly {
		args = append(args, "--view-only")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = s.env(socket)
	// A group of its own: a signal to the warden's group (terok-task stop
	// signals it) does not cut the server short; the warden's Close ends
	// it, and it ends by itself when the task's session does, telling its
	// pages that the serving is over.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Its stderr is the warden's own (the task's warden log), handed over
	// as the file itself: a pipe through the warden would end with the
	// warden, and the server's last words with it.
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("web: the warden is ending")
	}
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("web: starting the server: %w", err)
	}
	s.procs = append(s.procs, cmd)
	s.wg.Add(1)
	s.mu.Unlock()

	first, ended := make(chan string, 1), make(chan struct{})
	go func() {
		defer s.wg.Done()
		defer close(ended)
		r := bufio.NewReader(out)
		line, _ := r.ReadString('\n')
		first <- line
		_, _ = io.Copy(io.Discard, r) // it prints nothing more; never block it
		_ = cmd.Wait()
		s.forget(cmd)
	}()
	var line string
	select {
	case line = <-first:
	case <-time.After(StartTimeout):
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("web: the server printed no URL within %s", StartTimeout)
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		return nil, ctx.Err()
	}
	var ev struct {
		Type, URL string
	}
	if json.Unmarshal([]byte(line), &ev) != nil || ev.Type != "web" || ev.URL == "" {
		_ = cmd.Process.Kill()
		<-ended
		return nil, errors.New("web: the server did not start (its error is in the task's warden log)")
	}
	return Served{URL: ev.URL, Loopback: loopback(ev.URL)}, nil
}

// env is the server process's environment: the warden's, with the
// engine's socket and terok's directories made explicit (a rootless
// warden runs under podman unshare, where the user's own would be
// computed for uid 0).
func (s *Service) env(socket string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "CONTAINER_HOST", "CONTAINER_CONNECTION", "TEROK_CONFIG_DIR", "TEROK_STATE_DIR", "TEROK_DATA_DIR",
			"TEROK_RUNTIME_DIR", "TEROK_CACHE_DIR":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "CONTAINER_HOST="+socket, "TEROK_CONFIG_DIR="+s.paths.Config, "TEROK_STATE_DIR="+s.paths.State,
		"TEROK_DATA_DIR="+s.paths.Data, "TEROK_RUNTIME_DIR="+s.paths.Runtime, "TEROK_CACHE_DIR="+s.paths.Cache)
}

func (s *Service) forget(cmd *exec.Cmd) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, c := range s.procs {
		if c == cmd {
			s.procs = append(s.procs[:i], s.procs[i+1:]...)
			return
		}
	}
}

// loopback says whether a URL's host is a loopback address.
func loopback(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
