package schedule

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/terok-ai/terok-go/lib/testenv"
)

// notifications stands in for a desktop's notification server.
type notifications struct{ got chan [2]string }

func (n notifications) Notify(app string, replaces uint32, icon, summary, body string, actions []string,
	hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	n.got <- [2]string{summary, body}
	return 7, nil
}

// A notification reaches the server on a real session bus; without a
// server it is an error (which the command reports as a warning).
func TestNotify(t *testing.T) {
	addr := os.Getenv("DBUS_SESSION_BUS_ADDRESS")
	testenv.Need(t, addr != "", "no session bus (dbus-daemon --session --fork --print-address=1)")
	ctx := context.Background()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n := notifications{got: make(chan [2]string, 1)}
	if err := conn.Export(n, "/org/freedesktop/Notifications", "org.freedesktop.Notifications"); err != nil {
		t.Fatal(err)
	}
	reply, err := conn.RequestName("org.freedesktop.Notifications", dbus.NameFlagDoNotQueue)
	if err != nil {
		t.Fatal(err)
	}
	if reply != dbus.RequestNameReplyPrimaryOwner {
		t.Skip("a notification server owns the name on this bus")
	}
	if err := Notify(ctx, addr, "terok: schedule nightly finished", "task abc"); err != nil {
		t.Fatal(err)
	}
	if got := <-n.got; got != [2]string{"terok: schedule nightly finished", "task abc"} {
		t.Fatalf("the server got %q", got)
	}
	if _, err := conn.ReleaseName("org.freedesktop.Notifications"); err != nil {
		t.Fatal(err)
	}
	if err := Notify(ctx, addr, "s", "b"); err == nil {
		t.Fatal("a notification without a server succeeded")
	}
}

func TestSessionBus(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if a := SessionBus(env(map[string]string{"DBUS_SESSION_BUS_ADDRESS": "unix:path=/x"}), 1); a != "unix:path=/x" {
		t.Errorf("from the variable: %q", a)
	}
	// Cron's environment: no variable, no runtime directory; a uid with no
	// /run/user directory has no bus.
	if a := SessionBus(env(nil), 2147483000); a != "" {
		t.Errorf("without a bus: %q", a)
	}
	dir := t.TempDir()
	if a := SessionBus(env(map[string]string{"XDG_RUNTIME_DIR": dir}), 2147483000); a != "" {
		t.Errorf("a runtime directory without a bus socket: %q", a)
	}
	// A bus socket in the runtime directory is found.
	conn, err := listenUnix(filepath.Join(dir, "bus"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if a := SessionBus(env(map[string]string{"XDG_RUNTIME_DIR": dir}), 2147483000); a != "unix:path="+filepath.Join(dir, "bus") {
		t.Errorf("the runtime directory's bus: %q", a)
	}
}

func listenUnix(path string) (interface{ Close() error }, error) {
	return net.Listen("unix", path)
}
