package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/containers/podman/v5/pkg/api/handlers"
	"github.com/containers/podman/v5/pkg/bindings"
	"github.com/containers/podman/v5/pkg/bindings/containers"
	dcontainer "github.com/docker/docker/api/types/container"
)

// A TTYStream is an exec session on a pseudo-terminal whose input and
// output are a stream of the caller's, and whose size the caller sets:
// what a terminal somewhere else than this process's own (a browser's)
// needs. ExecTTY is for this process's terminal; the bindings' attach
// looks at os.Stdin and, when it is a terminal, puts it in raw mode and
// sizes the exec session after it, which a stream for a browser must
// never do. So the session is started here with its own upgrade request,
// on a connection of its own.
type TTYStream struct {
	e    *Engine
	sess string
	conn context.Context // the connection carrying the stream
	rw   io.ReadWriteCloser
}

// StartTTY starts x in the running container id on a pseudo-terminal of
// cols×rows and returns its stream. Close ends the stream (the command may
// run on: see TTYStream.Close); Wait, after the output ended, returns the
// command's exit code.
func (e *Engine) StartTTY(ctx context.Context, id string, x TTYExec, cols, rows int) (*TTYStream, error) {
	sess, err := containers.ExecCreate(e.on(ctx), id, &handlers.ExecCreateConfig{ExecOptions: dcontainer.ExecOptions{
		Tty: true, AttachStdin: true, AttachStdout: true, AttachStderr: true,
		Cmd: x.Cmd, Env: x.Env, WorkingDir: x.WorkDir, DetachKeys: ttyDetachKeys,
	}})
	if err != nil {
		return nil, notFound(err)
	}
	conn, err := bindings.NewConnection(ctx, e.socket.URI)
	if err != nil {
		return nil, err
	}
	c, err := bindings.GetClient(conn)
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(struct {
		Detach bool   `json:"Detach"`
		TTY    bool   `json:"Tty"`
		Height uint16 `json:"h"`
		Width  uint16 `json:"w"`
	}{TTY: true, Height: clampSize(rows), Width: clampSize(cols)})
	resp, err := c.DoRequest(conn, bytes.NewReader(body), http.MethodPost, "/exec/%s/start", nil,
		http.Header{"Connection": {"Upgrade"}, "Upgrade": {"tcp"}, "Content-Type": {"application/json"}}, sess)
	if err != nil {
		return nil, fmt.Errorf("starting the exec session: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		if err := resp.Process(nil); err != nil {
			return nil, notFound(err)
		}
		return nil, fmt.Errorf("starting the exec session: the engine answered %d, not 101", resp.StatusCode)
	}
	rw, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		_ = resp.Body.Close() // the error below is the one to report
		return nil, errors.New("starting the exec session: the engine's stream cannot be written")
	}
	s := &TTYStream{e: e, sess: sess, conn: conn, rw: rw}
	// A start's size is not always applied (Podman 4.3 sizes the terminal
	// when the process has started): set it again.
	_ = s.Resize(ctx, cols, rows) // best effort: the next resize sets it anyway
	return s, nil
}

func clampSize(n int) uint16 {
	switch {
	case n < 1:
		return 0
	case n > 1000:
		return 1000
	}
	return uint16(n)
}

// Read reads the session's output (its terminal's, raw).
func (s *TTYStream) Read(p []byte) (int, error) { return s.rw.Read(p) }

// Write types p into the session's terminal.
func (s *TTYStream) Write(p []byte) (int, error) { return s.rw.Write(p) }

// Close ends the stream. The engine does not end an exec session's
// process when its stream closes: the process sees no hang-up and runs on
// until it ends by itself.
func (s *TTYStream) Close() error {
	err := s.rw.Close()
	if c, cerr := bindings.GetClient(s.conn); cerr == nil {
		c.Client.CloseIdleConnections()
	}
	return err
}

// Resize sets the session's terminal to cols×rows.
func (s *TTYStream) Resize(ctx context.Context, cols, rows int) error {
	if cols < 1 || rows < 1 {
		return fmt.Errorf("resizing the terminal: %d×%d is no size", cols, rows)
	}
	return containers.ResizeExecTTY(s.e.on(ctx), s.sess,
		new(containers.ResizeExecTTYOptions).WithWidth(int(clampSize(cols))).WithHeight(int(clampSize(rows))))
}

// Wait returns the exit code of the session's command, once its output
// has ended; ErrTTYDetached when it still runs some seconds later.
func (s *TTYStream) Wait(ctx context.Context) (int, error) {
	return s.e.execExit(ctx, s.sess)
}
