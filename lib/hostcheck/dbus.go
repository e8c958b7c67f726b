package hostcheck

import (
	"context"
	"fmt"
	"strings"

	"github.com/godbus/dbus/v5"
)

// dbusFix says how to get a session bus where there is none.
const dbusFix = "log in to a desktop session, or start a bus: eval $(dbus-launch --sh-syntax) " +
	"(or dbus-daemon --session --fork --print-address=1) and export DBUS_SESSION_BUS_ADDRESS"

// checkDBus: clearance's desktop notifications need a session bus. Without
// one terok works, so it is a warning.
func checkDBus(ctx context.Context, getenv func(string) string) Result {
	r := Result{Check: "dbus", Status: Warn, Fix: dbusFix}
	addr := getenv("DBUS_SESSION_BUS_ADDRESS")
	switch {
	case addr == "":
		r.Detail = "no session bus: DBUS_SESSION_BUS_ADDRESS is not set; desktop notifications are off"
		return r
	case strings.HasPrefix(addr, "autolaunch:"):
		// Connecting would start a program; the doctor only looks.
		r.Detail = "DBUS_SESSION_BUS_ADDRESS is an autolaunch address; not probed"
		return r
	}
	id, err := PingBus(ctx, addr)
	if err != nil {
		r.Detail = "session bus " + addr + " does not answer: " + oneLine(err.Error())
		return r
	}
	return Result{Check: "dbus", Status: OK, Detail: fmt.Sprintf("session bus %s answers (id %s)", addr, id)}
}

// PingBus connects to the bus at addr and asks its id, within ctx.
func PingBus(ctx context.Context, addr string) (string, error) {
	type answer struct {
		id  string
		err error
	}
	got := make(chan answer, 1)
	go func() {
		conn, err := dbus.Connect(addr, dbus.WithContext(ctx))
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer conn.Close()
		var id string
		err = conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.GetId", 0).Store(&id)
		got <- answer{id, err}
	}()
	select {
	case a := <-got:
		return a.id, a.err
	case <-ctx.Done():
		return "", fmt.Errorf("no answer: %w", ctx.Err())
	}
}
