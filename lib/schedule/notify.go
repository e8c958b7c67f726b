package schedule

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
)

// SessionBus is the address of the user's session bus:
// DBUS_SESSION_BUS_ADDRESS, else the bus socket in the user's runtime
// directory ($XDG_RUNTIME_DIR/bus, /run/user/UID/bus: what a systemd user
// session or a lingering user has, also under cron), else "" (none).
func SessionBus(getenv func(string) string, uid int) string {
	if a := getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" && !strings.HasPrefix(a, "autolaunch:") {
		return a
	}
	dirs := []string{getenv("XDG_RUNTIME_DIR"), filepath.Join("/run/user", strconv.Itoa(uid))}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if fi, err := os.Stat(filepath.Join(d, "bus")); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return "unix:path=" + filepath.Join(d, "bus")
		}
	}
	return ""
}

// Notify shows a desktop notification (org.freedesktop.Notifications) on
// the session bus at addr, within 5 seconds.
func Notify(ctx context.Context, addr, summary, body string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		conn, err := dbus.Connect(addr, dbus.WithContext(ctx))
		if err != nil {
			done <- err
			return
		}
		defer conn.Close()
		obj := conn.Object("org.freedesktop.Notifications", "/org/freedesktop/Notifications")
		var id uint32
		done <- obj.CallWithContext(ctx, "org.freedesktop.Notifications.Notify", 0,
			"terok", uint32(0), "", summary, body, []string{}, map[string]dbus.Variant{}, int32(-1)).Store(&id)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer: %w", ctx.Err())
	}
}
