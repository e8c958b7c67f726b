package websvc

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/warden"
)

// A request with an option the service does not know, or with an engine
// socket that is not a unix one, is refused before any process starts.
func TestHandleRefuses(t *testing.T) {
	s := New(config.Paths{}, "abc12345")
	started := false
	s.Binary = func() (string, error) { started = true; return "/bin/false", nil }
	defer s.Close()
	for _, c := range []struct {
		targets []string
		want    string
	}{
		{[]string{"engine=unix:///nowhere", "open-the-door"}, "unknown option"},
		{[]string{"engine=tcp://192.0.2.1:8080"}, "not a unix socket"},
		{nil, "not a unix socket"},
	} {
		_, err := s.Handle(context.Background(), warden.Request{Op: OpWeb, Targets: c.targets})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error with %q", c.targets, err, c.want)
		}
	}
	if started {
		t.Error("a refused request started a server")
	}
}

// The server process gets the engine's socket and terok's directories;
// the URL it prints is the answer; a server that fails before printing
// one gives its last line of stderr; Close ends the servers still running.
func TestHandleSpawns(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "terok")
	// A stand-in for `terok task web`: the real one is tested end to end
	// in cmd/terok (TestTaskWebDetached).
	body := `#!/bin/sh
[ "$1 $2 $3" = "task web abc12345" ] || { echo "terok-task: bad arguments: $*" >&2; exit 2; }
[ "$CONTAINER_HOST" = unix:///run/e.sock ] && [ "$TEROK_STATE_DIR" = /st ] || { echo "terok-task: bad env" >&2; exit 2; }
case "$4" in --view-only) echo "terok-task: task abc12345 has ended" >&2; exit 1;; esac
echo '{"type":"web","id":"abc12345","url":"http://127.0.0.1:4567/?token=x","view_only":false}'
exec sleep 60
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	s := New(config.Paths{State: "/st"}, "abc12345")
	s.Binary = func() (string, error) { return script, nil }
	got, err := s.Handle(context.Background(), warden.Request{Op: OpWeb, Targets: []string{"engine=unix:///run/e.sock"}})
	if err != nil {
		t.Fatal(err)
	}
	if sv := got.(Served); sv.URL != "http://127.0.0.1:4567/?token=x" || !sv.Loopback {
		t.Fatalf("served %+v", sv)
	}
	_, err = s.Handle(context.Background(), warden.Request{Op: OpWeb, Targets: []string{"engine=unix:///run/e.sock", "view-only"}})
	if err == nil || !strings.Contains(err.Error(), "did not start") {
		t.Fatalf("a failing server: %v", err)
	}
	s.mu.Lock()
	n := len(s.procs)
	s.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d servers running, want 1", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	n = len(s.procs)
	s.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d servers left after Close", n)
	}
}
