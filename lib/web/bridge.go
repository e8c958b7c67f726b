package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"

	"github.com/coder/websocket"
)

// Close codes of the WebSocket besides the normal closure, in the
// application's range: the page does not reconnect after either.
const (
	// CloseSessionOver: the stream to the session ended (the session is
	// over, or it was detached from).
	CloseSessionOver = 4000
	// CloseServingOver: the server stops (the task ended, or the command
	// serving it was interrupted).
	CloseServingOver = 4001
)

// bridge is one WebSocket and its stream to the session.
type bridge struct {
	c    *websocket.Conn
	t    Terminal
	once sync.Once
}

func (b *bridge) end(why string) {
	b.once.Do(func() { _ = b.c.Close(CloseServingOver, why) }) // the peer may be gone
}

// serveWS bridges a WebSocket to a new stream to the session.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	// The cookie alone does not prove the page is ours: a page of another
	// origin cannot read it, but its WebSocket would carry it. The Origin
	// must be this server's own (coder/websocket checks it against Host
	// too; the check here does not depend on that).
	if o := r.Header.Get("Origin"); o != "http://"+r.Host {
		s.refuse(w, r, http.StatusForbidden, "a WebSocket from origin "+strconv.Quote(o))
		return
	}
	cols, rows := atoiOr(r.URL.Query().Get("cols"), 80), atoiOr(r.URL.Query().Get("rows"), 24)
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		s.logf("refused a WebSocket: %v", err)
		return
	}
	c.SetReadLimit(1 << 20)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	t, err := s.cfg.Open(ctx, cols, rows)
	if err != nil {
		s.logf("opening the session: %v", err)
		_ = c.Close(websocket.StatusInternalError, "the session could not be opened")
		return
	}
	b := &bridge{c: c, t: t}
	s.mu.Lock()
	s.conns[b] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, b)
		s.mu.Unlock()
	}()

	out, in := make(chan error, 1), make(chan error, 1)
	go func() { out <- s.pumpOut(ctx, b) }()
	go func() { in <- s.pumpIn(ctx, b) }()
	select {
	case err := <-out:
		// The session's stream ended: tell the page it is over.
		b.once.Do(func() { _ = c.Close(CloseSessionOver, "the session is over") })
		_ = t.Close()
		cancel()
		s.logf("a stream ended: %v (the page's side: %v)", err, <-in)
	case err := <-in:
		// The browser went away (or the server stops): leave the session
		// as a detach would, then end the stream.
		if s.cfg.Detach != nil {
			_, _ = t.Write(s.cfg.Detach) // the stream may be gone already
		}
		_ = t.Close()
		cancel()
		s.logf("a browser left: %v (the stream's side: %v)", err, <-out)
	}
}

// pumpOut copies the session's output to the WebSocket, until either ends.
func (s *Server) pumpOut(ctx context.Context, b *bridge) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := b.t.Read(buf)
		if n > 0 {
			if werr := b.c.Write(ctx, websocket.MessageBinary, buf[:n]); werr != nil {
				return werr
			}
		}
		if err != nil {
			return err
		}
	}
}

// control is a text message from the page.
type control struct {
	Cols int `json:"cols"`
	Rows int `json:"rows"`
}

// pumpIn takes the page's messages until the WebSocket closes: keystrokes
// to the session (none in view-only), resizes to its terminal.
func (s *Server) pumpIn(ctx context.Context, b *bridge) error {
	for {
		typ, data, err := b.c.Read(ctx)
		if err != nil {
			return err
		}
		switch typ {
		case websocket.MessageBinary:
			if s.cfg.ViewOnly {
				continue
			}
			if _, err := b.t.Write(data); err != nil {
				return err
			}
		case websocket.MessageText:
			var m control
			if err := json.Unmarshal(data, &m); err != nil {
				return errors.New("a control message that is not JSON")
			}
			if m.Cols > 0 && m.Rows > 0 {
				if err := b.t.Resize(ctx, m.Cols, m.Rows); err != nil {
					s.logf("resizing: %v", err)
				}
			}
		}
	}
}

func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1000 {
		return def
	}
	return n
}
