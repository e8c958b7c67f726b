package task

import (
	"net"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestOrphanSockets: a control socket of an unknown task is an orphan when
// nothing serves it or when its warden is one of this tree's orphans; one
// that a live warden serves (another state tree's, sharing the runtime
// directory) is left alone, as are known tasks' and names that are no ids.
func TestOrphanSockets(t *testing.T) {
	dir, err := os.MkdirTemp("", "terok-socks-") // short: a socket path has a limit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	listen := func(name string) {
		l, err := net.Listen("unix", filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
	}
	stale := func(name string) {
		l, err := net.Listen("unix", filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		_ = l.Close()
	}
	stale("aaaaaaaa.sock")  // unknown, nobody serves it: orphan
	listen("bbbbbbbb.sock") // unknown, served: another tree's live task
	listen("cccccccc.sock") // unknown, served by this tree's orphan warden
	stale("dddddddd.sock")  // known
	stale("not-an-id.sock")
	got := orphanSockets(dir, map[string]bool{"dddddddd": true}, map[string]bool{"cccccccc": true})
	want := []string{filepath.Join(dir, "aaaaaaaa.sock"), filepath.Join(dir, "cccccccc.sock")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("orphanSockets = %v, want %v", got, want)
	}
}
