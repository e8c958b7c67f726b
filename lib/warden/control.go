package warden

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
)

// The control socket is how terok commands on the host reach a running
// task's warden: a unix socket (0600, in terok's runtime directory, never
// inside the task) speaking one JSON request and one JSON reply per
// connection. The shield's live verbs (allow, deny, down, up, quarantine,
// rules, status) go through it, so the warden — the one process that holds
// the task's firewall and resolver — makes every change. Callers use
// Client's typed methods; a running warden and its callers are always the
// same binary, so the wire format is terok's own.

// Request is a control request.
type Request struct {
	Op       Op       `json:"op"`
	Targets  []string `json:"targets,omitempty"`
	Duration string   `json:"duration,omitempty"`
}

// Reply is a control reply: an error, or a result.
type Reply struct {
	Error  string          `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

// Handler answers control requests.
type Handler func(ctx context.Context, req Request) (any, error)

// ControlPath is the control socket of task id under runtime.
func ControlPath(runtime, id string) string {
	return filepath.Join(runtime, "wardens", id+".sock")
}

// ServeControl listens on path and answers each connection with h until ctx
// ends; the socket file is removed then.
func ServeControl(ctx context.Context, path string, h Handler) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	os.Remove(path) // a socket left by a warden that was killed
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go serveConn(ctx, c, h)
		}
	}()
	stop := func() { l.Close(); os.Remove(path) }
	go func() { <-ctx.Done(); stop() }()
	return stop, nil
}

func serveConn(ctx context.Context, c net.Conn, h Handler) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	var req Request
	line, err := bufio.NewReader(c).ReadBytes('\n')
	reply := Reply{}
	if err == nil {
		err = json.Unmarshal(line, &req)
	}
	if err != nil {
		reply.Error = "bad request: " + err.Error()
	} else if res, err := h(ctx, req); err != nil {
		reply.Error = err.Error()
	} else if res != nil {
		reply.Result, _ = json.Marshal(res)
	}
	b, _ := json.Marshal(reply)
	c.Write(append(b, '\n'))
}

// ErrNoWarden: no warden answers for the task (it is not running).
var ErrNoWarden = errors.New("the task's warden does not answer")

// Call sends one request to the warden at path and decodes its result into
// out (when not nil).
func Call(ctx context.Context, path string, req Request, out any) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("%w (%v)", ErrNoWarden, err)
	}
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.SetDeadline(deadline)
	b, _ := json.Marshal(req)
	if _, err := c.Write(append(b, '\n')); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoWarden, err)
	}
	var reply Reply
	if err := json.Unmarshal(line, &reply); err != nil {
		return fmt.Errorf("the warden's reply: %w", err)
	}
	if reply.Error != "" {
		return errors.New(reply.Error)
	}
	if out != nil && reply.Result != nil {
		return json.Unmarshal(reply.Result, out)
	}
	return nil
}
