package warden

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"golang.org/x/sys/unix"
)

// GatePort is where a task finds its gate: http://127.0.0.1:9418/PROJECT.git
// on the task's own loopback.
const GatePort = 9418

// Warden serves one task's endpoints inside the task's network namespace
// for as long as the task's container process lives.
type Warden struct {
	Pid  int          // the container's first process, on the host
	Gate http.Handler // the gate's git endpoint for this task's token
	// Ready, if set, is called once the endpoints are listening.
	Ready func()
}

// Run listens in the task's namespace, serves until the container's process
// exits or ctx ends, then closes everything. A task whose warden is gone
// has no endpoints: the listener dies with this process.
func (w *Warden) Run(ctx context.Context) error {
	exited, err := processExit(w.Pid)
	if err != nil {
		return err
	}
	l, err := ListenInNetNS(w.Pid, fmt.Sprintf("127.0.0.1:%d", GatePort))
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           w.Gate,
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	if w.Ready != nil {
		w.Ready()
	}
	select {
	case <-ctx.Done():
	case <-exited:
	case err := <-served:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	srv.Shutdown(shut)
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
		defer unix.Close(fd)
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
