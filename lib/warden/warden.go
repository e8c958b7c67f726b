package warden

import (
	"context"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// GatePort is where a task finds its gate: http://127.0.0.1:9418/PROJECT.git
// on the task's own loopback.
const GatePort = 9418

// VaultPort is where a task finds the vault's proxy, beside its gate:
// http://127.0.0.1:9419 plus the provider's base path, on the task's own
// loopback; the agent's base URL points there.
const VaultPort = 9419

// ResolverAddr is where a task finds its resolver, on its own loopback (the
// container's resolv.conf names only it).
const ResolverAddr = "127.0.0.1:53"

// A Service is one part of a task's warden: the shield (firewall,
// resolver, firewall log), the gate's endpoint, and later the vault proxy,
// the clearance queue and the web bridge. Each lives in a package of its
// own under lib/warden; lib/warden/services wires them.
type Service interface {
	// Start starts serving the task: listeners in the task's network
	// namespace (Task.Listen), goroutines tied to ctx. It returns once the
	// service serves. A service whose Start fails has cleaned up after
	// itself; the warden then closes the services started before it and
	// ends.
	Start(ctx context.Context, t *Task) error
	// Close stops the service: after it returns nothing of it serves the
	// task. It is called once, after a successful Start.
	Close() error
}

// A Controller is a service that answers control operations (the live
// verbs of terok-shield, terok panic): Handle gets the requests whose Op is
// one of Ops. An operation belongs to one service.
type Controller interface {
	Service
	Ops() []Op
	Handle(ctx context.Context, req Request) (any, error)
}

// Task is the task a warden serves, as its services see it.
type Task struct {
	ID  string // the task's id
	Pid int    // the container's first process, on the host

	failed chan error
}

// Listen opens a TCP listener on addr in the task's network namespace:
// it serves the task, and nothing else can reach it (see ListenInNetNS).
func (t *Task) Listen(addr string) (net.Listener, error) { return ListenInNetNS(t.Pid, addr) }

// ListenPacket is Listen for a UDP socket.
func (t *Task) ListenPacket(addr string) (net.PacketConn, error) {
	return ListenPacketInNetNS(t.Pid, addr)
}

// Fail ends the warden with err: a service that can no longer serve takes
// the warden down with it (and the task loses the network, never gains it).
func (t *Task) Fail(err error) {
	select {
	case t.failed <- err:
	default:
	}
}

// Warden serves one task: its services, started in order, and the control
// socket that reaches them, for as long as the task's container process
// lives.
type Warden struct {
	ID  string // the task's id
	Pid int    // the container's first process, on the host
	// Control is the control socket's path (ControlPath); "" for none.
	Control string
	// Services are started in this order and closed in the reverse one.
	Services []Service
	// Ready, if set, is called once every service serves.
	Ready func()
}

// Run starts the services, serves until the container's process exits, ctx
// ends or a service fails, then closes everything. A task whose warden is
// gone has none of its services: their sockets die with this process.
func (w *Warden) Run(ctx context.Context) (err error) {
	ops := map[Op]Controller{}
	for _, s := range w.Services {
		c, ok := s.(Controller)
		if !ok {
			continue
		}
		for _, op := range c.Ops() {
			if _, dup := ops[op]; dup {
				return fmt.Errorf("control operation %q is claimed by two services", op)
			}
			ops[op] = c
		}
	}
	exited, err := processExit(w.Pid)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t := &Task{ID: w.ID, Pid: w.Pid, failed: make(chan error, 1)}
	var started []Service
	defer func() {
		for i := len(started) - 1; i >= 0; i-- {
			if cerr := started[i].Close(); cerr != nil {
				fmt.Fprintf(os.Stderr, "warden: closing: %v\n", cerr)
			}
		}
	}()
	for _, s := range w.Services {
		if err := s.Start(ctx, t); err != nil {
			return err
		}
		started = append(started, s)
	}
	if w.Control != "" {
		stop, err := ServeControl(ctx, w.Control, func(ctx context.Context, req Request) (any, error) {
			c, ok := ops[req.Op]
			if !ok {
				return nil, fmt.Errorf("unknown request %q", req.Op)
			}
			return c.Handle(ctx, req)
		})
		if err != nil {
			return fmt.Errorf("the warden's control socket: %w", err)
		}
		defer stop()
	}
	if w.Ready != nil {
		w.Ready()
	}
	select {
	case <-ctx.Done():
	case <-exited:
	case err := <-t.failed:
		return err
	}
	return nil
}

// processExit returns a channel closed when process pid exits. It uses a
// pidfd, so a recycled pid can never be mistaken for the task.
func processExit(pid int) (<-chan struct{}, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("watching the task's process %d: %w", pid, err)
	}
	ch := make(chan struct{})
	go func() {
		defer func() { _ = unix.Close(fd) }() // a pidfd only read from
		defer close(ch)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(fds, -1)
			if err == unix.EINTR {
				continue
			}
			if err != nil || n > 0 {
				return
			}
		}
	}()
	return ch, nil
}
