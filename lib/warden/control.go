package warden

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// The control socket is how terok commands on the host reach a running
// task's warden: a unix socket (0600, in terok's runtime directory, never
// inside the task) speaking one JSON request and one JSON reply per
// connection (a streaming operation, the clearance's watch, replies with
// one JSON line per value instead; see Stream), to the warden's own user
// only (the peer's uid, SO_PEERCRED). The shield's live verbs (allow,
// deny, down, up, quarantine, rules, status) go through it, so the warden
// — the one process that holds the task's firewall and resolver — makes
// every change. Callers use
// Client's typed methods; a running warden and its callers are always the
// same binary, so the wire format is terok's own.

// Request is a control request. Every field but Op is omitted when empty,
// so each operation's request carries only its own fields.
type Request struct {
	Op       Op       `json:"op"`
	Targets  []string `json:"targets,omitempty"`
	Duration string   `json:"duration,omitempty"`
	// The clearance's decide operation: the request id, the destination it
	// must be for, and the verdict's action, scope and surface (Duration
	// for scope for-duration).
	ID      string `json:"id,omitempty"`
	Dest    string `json:"dest,omitempty"`
	Action  string `json:"action,omitempty"`
	Scope   string `json:"scope,omitempty"`
	Surface string `json:"surface,omitempty"`
}

// Reply is a control reply: an error, or a result.
type Reply struct {
	Error  string          `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

// Handler answers control requests. A result that is a Stream is written
// as a stream (see Stream); any other as the one reply.
type Handler func(ctx context.Context, req Request) (any, error)

// A Stream is the result of a streaming operation (the clearance's watch):
// the connection gets one reply line per value Next returns, each a Reply
// with the value as its result, until Next fails. Next's ctx ends when the
// client hangs up or the warden ends; an error other than that, or
// io.EOF, is written as a last reply with the error. Close is called once
// the stream ends, whatever ended it. A stream has no deadline.
type Stream interface {
	Next(ctx context.Context) (any, error)
	Close()
}

// PeerUID is the uid of the process at the other end of the control
// connection that ctx belongs to, as the kernel gives it (SO_PEERCRED, in
// the warden's user namespace). ok is false outside a control handler.
func PeerUID(ctx context.Context) (uid uint32, ok bool) {
	uid, ok = ctx.Value(peerKey{}).(uint32)
	return uid, ok
}

type peerKey struct{}

// ownUID is the warden's uid, as the peer's reads in its user namespace
// (a variable for the test that a stranger is refused).
var ownUID = func() uint32 { return uint32(os.Getuid()) }

// ErrPeer: the control socket refuses a connection from another user.
var ErrPeer = errors.New("the warden answers only its own user")

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
	_ = os.Remove(path) // a socket left by a warden that was killed; Listen reports what matters
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = l.Close() // the chmod's error is the one to report
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
	stop := func() { _ = l.Close(); _ = os.Remove(path) } // shutting down: nowhere to report
	go func() { <-ctx.Done(); stop() }()
	return stop, nil
}

func serveConn(ctx context.Context, c net.Conn, h Handler) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second)) // cannot fail on a fresh unix connection
	var req Request
	r := bufio.NewReader(c)
	line, err := r.ReadBytes('\n')
	reply := Reply{}
	uid, perr := peerUID(c)
	switch {
	case perr != nil:
		reply.Error = perr.Error()
	case uid != ownUID():
		reply.Error = ErrPeer.Error()
	case err != nil:
		reply.Error = "bad request: " + err.Error()
	default:
		if err = json.Unmarshal(line, &req); err != nil {
			reply.Error = "bad request: " + err.Error()
			break
		}
		ctx = context.WithValue(ctx, peerKey{}, uid)
		res, err := h(ctx, req)
		if st, ok := res.(Stream); ok && err == nil {
			serveStream(ctx, c, r, st)
			return
		}
		if err != nil {
			reply.Error = err.Error()
		} else if res != nil {
			reply.Result, _ = json.Marshal(res)
		}
	}
	_ = writeReply(c, reply) // a caller that hung up has nobody to tell
}

func writeReply(c net.Conn, reply Reply) error {
	b, _ := json.Marshal(reply)
	_, err := c.Write(append(b, '\n'))
	return err
}

// serveStream writes st's values to c until it ends, the client hangs up
// (anything it sends, or its end of file, counts) or ctx ends.
func serveStream(ctx context.Context, c net.Conn, r *bufio.Reader, st Stream) {
	defer st.Close()
	_ = c.SetDeadline(time.Time{}) // cannot fail on an open unix connection
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _, _ = r.ReadByte(); cancel() }() // ends when c is closed, at the latest
	for {
		v, err := st.Next(ctx)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, io.EOF) {
				_ = writeReply(c, Reply{Error: err.Error()})
			}
			return
		}
		b, _ := json.Marshal(v)
		_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second)) // a client that stops reading is dropped
		if writeReply(c, Reply{Result: b}) != nil {
			return
		}
	}
}

// peerUID is the uid of the process at the other end of unix connection c.
func peerUID(c net.Conn) (uint32, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0, errors.New("not a unix connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, fmt.Errorf("the peer's credentials: %w", cerr)
	}
	return cred.Uid, nil
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
	if err := c.SetDeadline(deadline); err != nil {
		return err
	}
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

// CallStream sends a streaming request to the warden at path and hands
// each value it streams to each (decoded by each's caller from the raw
// JSON) until each returns an error (returned), the warden ends the
// stream (nil, or its error) or ctx ends (ctx's error).
func CallStream(ctx context.Context, path string, req Request, each func(json.RawMessage) error) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("%w (%v)", ErrNoWarden, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.Close() }) // unblocks the read
	defer stop()
	b, _ := json.Marshal(req)
	if _, err := c.Write(append(b, '\n')); err != nil {
		return err
	}
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadBytes('\n')
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return nil
		}
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
		if err := each(reply.Result); err != nil {
			return err
		}
	}
}
