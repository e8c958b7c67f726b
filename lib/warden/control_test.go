package warden

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestControlSocket(t *testing.T) {
	dir := t.TempDir()
	path := ControlPath(dir, "abcd2345")
	ctx, cancel := context.WithCancel(context.Background())
	stop, err := ServeControl(ctx, path, func(_ context.Context, r Request) (any, error) {
		if r.Op == "fail" {
			return nil, errors.New("refused: " + strings.Join(r.Targets, ","))
		}
		return map[string]any{"op": r.Op, "n": len(r.Targets)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v %v", fi, err)
	}
	var out struct {
		Op string
		N  int
	}
	if err := Call(ctx, path, Request{Op: "allow", Targets: []string{"a", "b"}}, &out); err != nil || out.Op != "allow" || out.N != 2 {
		t.Fatalf("call: %+v %v", out, err)
	}
	if err := Call(ctx, path, Request{Op: "fail", Targets: []string{"x"}}, nil); err == nil || err.Error() != "refused: x" {
		t.Fatalf("error reply: %v", err)
	}
	cancel()
	for range 100 {
		if _, err := os.Stat(path); err != nil {
			break
		}
	}
	if err := Call(context.Background(), filepath.Join(dir, "wardens", "none.sock"), Request{Op: "x"}, nil); !errors.Is(err, ErrNoWarden) {
		t.Fatalf("no warden: %v", err)
	}
}

// stream counts to n, then ends; it says when it is closed.
type countStream struct {
	n, i   int
	closed chan struct{}
	fail   error
}

func (s *countStream) Next(ctx context.Context) (any, error) {
	if s.i == s.n {
		if s.fail != nil {
			return nil, s.fail
		}
		<-ctx.Done() // the client hangs up, or the warden ends
		return nil, ctx.Err()
	}
	s.i++
	return map[string]int{"i": s.i}, nil
}

func (s *countStream) Close() { close(s.closed) }

// A streaming operation writes one reply line per value over a real unix
// socket, ends when the client hangs up (and closes its stream), passes a
// stream's error on, and every handler sees the caller's uid.
func TestControlStream(t *testing.T) {
	path := ControlPath(t.TempDir(), "abcd2345")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	streams := make(chan *countStream, 2)
	_, err := ServeControl(ctx, path, func(ctx context.Context, r Request) (any, error) {
		uid, ok := PeerUID(ctx)
		if !ok || uid != uint32(os.Getuid()) {
			return nil, fmt.Errorf("peer uid %d %v", uid, ok)
		}
		switch r.Op {
		case "count":
			s := &countStream{n: 3, closed: make(chan struct{})}
			streams <- s
			return s, nil
		case "fail":
			return &countStream{n: 1, closed: make(chan struct{}), fail: errors.New("lagged")}, nil
		}
		return "plain", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	cctx, ccancel := context.WithCancel(ctx)
	err = CallStream(cctx, path, Request{Op: "count"}, func(raw json.RawMessage) error {
		var v struct{ I int }
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		got = append(got, v.I)
		if v.I == 3 {
			ccancel() // hang up
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("stream: %v %v", got, err)
	}
	select {
	case <-(<-streams).closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream was not closed after the client hung up")
	}
	got = nil
	err = CallStream(ctx, path, Request{Op: "fail"}, func(raw json.RawMessage) error { got = append(got, 0); return nil })
	if err == nil || err.Error() != "lagged" || len(got) != 1 {
		t.Fatalf("stream's error: %v after %d", err, len(got))
	}
	// A plain operation on the same socket is one reply, as before.
	var s string
	if err := Call(ctx, path, Request{Op: "plain"}, &s); err != nil || s != "plain" {
		t.Fatalf("plain: %q %v", s, err)
	}
}

// A caller whose uid is not the warden's is refused before the handler
// runs.
func TestControlRefusesStranger(t *testing.T) {
	old := ownUID
	ownUID = func() uint32 { return uint32(os.Getuid()) + 1 }
	defer func() { ownUID = old }()
	path := ControlPath(t.TempDir(), "abcd2345")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	called := false
	if _, err := ServeControl(ctx, path, func(context.Context, Request) (any, error) { called = true; return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if err := Call(ctx, path, Request{Op: OpAllow, Targets: []string{"example.com"}}, nil); err == nil || err.Error() != ErrPeer.Error() || called {
		t.Fatalf("stranger: %v (handler called: %v)", err, called)
	}
}
