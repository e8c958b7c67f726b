package hostcheck

import (
	"bufio"
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/testenv"
)

// TestDBusRealSessionBus starts a real session bus and checks that the
// doctor finds it answering.
func TestDBusRealSessionBus(t *testing.T) {
	daemon, err := exec.LookPath("dbus-daemon")
	testenv.Need(t, err == nil, "dbus-daemon is not installed")
	addr, pid := startSessionBus(t, daemon)
	defer func() { _ = syscall.Kill(pid, syscall.SIGTERM) }() // the bus may be gone already

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r := checkDBus(ctx, func(k string) string {
		return map[string]string{"DBUS_SESSION_BUS_ADDRESS": addr}[k]
	})
	if r.Status != OK || !strings.Contains(r.Detail, "answers") {
		t.Errorf("real bus: %+v", r)
	}
}

// startSessionBus starts dbus-daemon --session with its socket in a
// temporary directory and returns its address and PID.
func startSessionBus(t *testing.T, daemon string) (string, int) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(daemon, "--session", "--fork", "--print-address=1", "--print-pid=1",
		"--address=unix:path="+filepath.Join(dir, "bus"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var lines []string
	for len(lines) < 2 && sc.Scan() {
		lines = append(lines, strings.TrimSpace(sc.Text()))
	}
	_ = cmd.Wait() // --fork: the parent exits at once; what it printed is checked below
	if len(lines) < 2 {
		t.Fatalf("dbus-daemon printed %q", lines)
	}
	pid, err := strconv.Atoi(lines[1])
	if err != nil {
		t.Fatalf("dbus-daemon pid %q", lines[1])
	}
	return lines[0], pid
}

// TestDBusSilentBusIsBounded: a socket that accepts and never speaks must
// cost the timeout, not hang the doctor.
func TestDBusSilentBusIsBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "silent")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	began := time.Now()
	r := bounded(context.Background(), "dbus", 300*time.Millisecond, Warn, func(ctx context.Context) Result {
		return checkDBus(ctx, func(string) string { return "unix:path=" + path })
	})
	if r.Status != Warn {
		t.Errorf("silent bus: %+v", r)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("silent bus took %s", d)
	}
}
