package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/containers/podman/v5/pkg/bindings"
	"github.com/containers/podman/v5/pkg/bindings/system"

	"github.com/terok-ai/terok-go/lib/config"
)

// Defaults of Options.
const (
	DefaultServiceIdle  = 5 * time.Minute
	DefaultPingTimeout  = 2 * time.Second
	DefaultStartTimeout = 10 * time.Second
)

// Options say where to look for Podman and how to start terok's own
// service. The zero value of each field means its default.
type Options struct {
	// Socket is the configured API socket (config key podman.socket), as
	// unix:///path; tried first.
	Socket string
	// DefaultSocket replaces the system's default socket path (rootful
	// /run/podman/podman.sock, rootless $XDG_RUNTIME_DIR/podman/podman.sock).
	DefaultSocket string
	// ServiceSocket is the path of terok's own socket
	// (config.Paths.PodmanSocket()); the service terok starts listens here.
	ServiceSocket string
	// ServiceIdle is how long terok's service waits idle before it exits.
	// It always exits eventually, so that nothing lingers: 0 means
	// DefaultServiceIdle, not "never".
	ServiceIdle time.Duration
	// ServiceArgs are podman's global options, put before "system service"
	// when terok starts its own service (e.g. "--hooks-dir=DIR").
	ServiceArgs []string
	// Podman is the podman binary; empty: "podman" from $PATH.
	Podman string
	// PingTimeout bounds the ping of one socket. A socket nobody listens
	// on fails at once whatever it is; the bound matters for a service
	// that accepts and is slow to answer (e.g. socket-activated).
	PingTimeout time.Duration
	// StartTimeout bounds waiting for the lock, for terok's service to
	// answer once started, and for a non-unix connection.
	StartTimeout time.Duration
	// Getenv reads the environment ($CONTAINER_HOST, $XDG_RUNTIME_DIR);
	// nil: os.Getenv.
	Getenv func(string) string
}

// OptionsFromConfig returns the Options that terok's configuration says.
func OptionsFromConfig(p config.Paths, g config.Global, getenv func(string) string) Options {
	return Options{
		Socket:        g.Podman.Socket,
		ServiceSocket: p.PodmanSocket(),
		ServiceIdle:   g.Podman.ServiceIdle.D(),
		Getenv:        getenv,
	}
}

func (o Options) withDefaults() Options {
	if o.ServiceIdle <= 0 {
		o.ServiceIdle = DefaultServiceIdle
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = DefaultPingTimeout
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Podman == "" {
		o.Podman = "podman"
	}
	return o
}

// Version is what the engine at the other end of the socket says it is.
type Version struct {
	Podman string `json:"podman"`
	API    string `json:"api"`
	Go     string `json:"go"`
	OSArch string `json:"os_arch"`
}

// Engine is a live connection to a Podman API service.
type Engine struct {
	ctx     context.Context
	cancel  context.CancelFunc
	socket  Socket
	service *Service // set when this call of Connect started the service

	// The engine's version and host facts, asked for once, on demand:
	// Podman 4.3 takes a quarter of a second to answer /version.
	mu      sync.Mutex
	version *Version
	host    *Host
}

// Context is the context to pass to bindings calls; derive timeouts from
// it. It ends when the ctx given to Connect ends or Close is called.
func (e *Engine) Context() context.Context { return e.ctx }

// URI is the socket in use, as unix:///path (or whatever CONTAINER_HOST said).
func (e *Engine) URI() string { return e.socket.URI }

// Source says where the socket came from: "config", "CONTAINER_HOST",
// "default" or "terok".
func (e *Engine) Source() string { return e.socket.Source }

// StartedService reports whether this Connect started terok's service.
func (e *Engine) StartedService() bool { return e.service != nil }

// ServicePID is the PID of the service this Connect started, or 0.
func (e *Engine) ServicePID() int {
	if e.service == nil {
		return 0
	}
	return e.service.PID
}

// APIVersion is the engine's libpod API version, as it answered the ping
// (no extra request).
func (e *Engine) APIVersion() string { return bindings.ServiceVersion(e.ctx).String() }

// Version asks the engine its version (once; later calls return the
// answer kept).
func (e *Engine) Version(ctx context.Context) (Version, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.version != nil {
		return *e.version, nil
	}
	v, err := system.Version(e.on(ctx), nil)
	if err != nil {
		return Version{}, fmt.Errorf("podman version: %w", err)
	}
	if v.Server == nil {
		return Version{}, errors.New("podman version: the service did not say")
	}
	e.version = &Version{Podman: v.Server.Version, API: v.Server.APIVersion, Go: v.Server.GoVersion, OSArch: v.Server.OsArch}
	return *e.version, nil
}

// Host asks the engine about the host it runs containers on (once; later
// calls return the answer kept).
func (e *Engine) Host(ctx context.Context) (Host, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.host != nil {
		return *e.host, nil
	}
	h, err := readHost(e.on(ctx))
	if err != nil {
		return Host{}, err
	}
	e.host = &h
	return h, nil
}

// Rootless reports whether the engine runs rootless. On a local socket it
// asks the kernel who serves it (the peer's credentials: under a millisecond)
// rather than the engine's info (150-250 ms, which would be most of a
// task's start).
func (e *Engine) Rootless(ctx context.Context) (bool, error) {
	if path, ok := e.socket.Path(); ok {
		if uid, err := PeerUID(path); err == nil {
			// The kernel reports the uid as this process's user namespace
			// sees it (under podman unshare the rootless user is 0 there).
			if host, ok := hostUID(uid); ok {
				return host != 0, nil
			}
		}
	}
	h, err := e.Host(ctx)
	return h.Rootless, err
}

// Close drops the connection; a service terok started keeps running until
// its idle time runs out.
func (e *Engine) Close() {
	if c, err := bindings.GetClient(e.ctx); err == nil {
		c.Client.CloseIdleConnections()
	}
	e.cancel()
}

// StopService stops the service this Connect started, by its PID, and
// waits until it is gone. It is for tests and cleanup code; commands leave
// the service to exit when idle.
func (e *Engine) StopService(ctx context.Context) error {
	if e.service == nil {
		return errors.New("this engine did not start the podman service")
	}
	e.Close()
	return e.service.Stop(ctx)
}

// Connect finds a Podman API socket that answers (see the package
// documentation for the order) or starts terok's own service, and connects
// to it. ctx bounds the life of the Engine; every wait inside Connect is
// bounded by opts.PingTimeout and opts.StartTimeout.
func Connect(ctx context.Context, opts Options) (*Engine, error) {
	opts = opts.withDefaults()
	cands, err := candidates(opts)
	if err != nil {
		return nil, err
	}
	var tried []string
	for _, s := range cands {
		e, err := connectTo(ctx, s, opts)
		if err == nil {
			return e, nil
		}
		tried = append(tried, fmt.Sprintf("%s (%s): %v", s.URI, s.Source, err))
		if s.Source == "config" || s.Source == "CONTAINER_HOST" {
			// A socket the user named is the one meant: no other, and no
			// service of terok's own beside it (two services on one
			// storage deadlock Podman 4.3; podman itself fails here too).
			return nil, &SetupError{
				Msg: "the podman API socket " + s.URI + " (" + s.Source + ") does not answer: " + err.Error(),
				Fix: "start the service it names, or unset " + map[string]string{"config": "podman.socket", "CONTAINER_HOST": "CONTAINER_HOST"}[s.Source] + " to let terok find or start one",
				Err: err,
			}
		}
	}
	if opts.ServiceSocket == "" {
		return nil, &SetupError{
			Msg: "no podman API socket answers: " + strings.Join(tried, "; "),
			Fix: "start one with 'podman system service', or set podman.socket or CONTAINER_HOST",
		}
	}
	return connectOwnService(ctx, opts)
}

// connectTo connects to one socket if it answers.
func connectTo(ctx context.Context, s Socket, opts Options) (*Engine, error) {
	if path, ok := s.Path(); ok {
		if err := Ping(ctx, path, opts.PingTimeout); err != nil {
			return nil, err
		}
	}
	return newEngine(ctx, s, opts.StartTimeout)
}

// connectOwnService connects to terok's own socket, starting the service
// under the lock of its directory unless another terok command already did.
func connectOwnService(ctx context.Context, opts Options) (*Engine, error) {
	podman, err := exec.LookPath(opts.Podman)
	if err != nil {
		return nil, &SetupError{
			Msg: "podman is not installed (no " + opts.Podman + " in $PATH)",
			Fix: "install it: apt-get install -y podman (Debian/Ubuntu) or dnf install -y podman (Fedora/RHEL)",
			Err: err,
		}
	}
	own := Socket{URI: "unix://" + opts.ServiceSocket, Source: "terok"}
	svc, err := ensureService(ctx, podman, opts)
	if err != nil {
		return nil, err
	}
	e, err := newEngine(ctx, own, opts.StartTimeout)
	if err != nil {
		return nil, fmt.Errorf("terok's podman service answers a ping but not the API: %w", err)
	}
	e.service = svc
	return e, nil
}

// newEngine hands an answering socket to the bindings. The bindings keep
// the context they connect with, so the connection gets its own cancel and
// the wait for it is bounded here rather than through that context.
func newEngine(parent context.Context, s Socket, timeout time.Duration) (*Engine, error) {
	ctx, cancel := context.WithCancel(parent)
	type result struct {
		ctx context.Context
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := bindings.NewConnection(ctx, s.URI)
		done <- result{c, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(timeout):
		cancel()
		return nil, fmt.Errorf("no answer within %s", timeout)
	}
	if r.err != nil {
		cancel()
		return nil, r.err
	}
	return &Engine{ctx: r.ctx, cancel: cancel, socket: s}, nil
}
