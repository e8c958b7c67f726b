package hostcheck

import (
	"context"
	"fmt"
	"strings"

	"github.com/terok-ai/terok-go/lib/notifier"
	"github.com/terok-ai/terok-go/lib/schedule"
)

// notifierFix says how to run the clearance's desktop notifier.
const notifierFix = "terok setup (runs it at login), or now: terok-clearance notify &"

// checkNotifier: whether the clearance's desktop notifier (terok-clearance
// notify) runs in this session, found by the bus name it owns. Only a
// session with a notification server needs one, so a headless host, one
// without a session bus or without a notification server, is ok; a desktop
// without the notifier is a warning, never a failure.
func checkNotifier(ctx context.Context, getenv func(string) string, uid int) Result {
	r := Result{Check: "notifier", Status: OK}
	addr := schedule.SessionBus(getenv, uid)
	if addr == "" || strings.HasPrefix(addr, "autolaunch:") {
		r.Detail = "no desktop session (no session bus): blocked connections are decided with terok-clearance in a terminal"
		return r
	}
	pid, running, server, err := notifier.Running(ctx, addr)
	switch {
	case err != nil:
		r.Detail = "cannot ask the session bus " + addr + " (the dbus check says why): " + oneLine(err.Error())
	case running && pid != 0:
		r.Detail = fmt.Sprintf("runs (pid %d) on the session bus %s", pid, addr)
	case running:
		r.Detail = "runs on the session bus " + addr
	case !server:
		r.Detail = "no notification server on the session bus " + addr + " (no desktop): not needed"
	default:
		r.Status, r.Fix = Warn, notifierFix
		r.Detail = "not running: blocked connections show no desktop popup"
	}
	return r
}
