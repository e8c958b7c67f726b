package warden

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
