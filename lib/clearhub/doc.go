// Package clearhub is the clearance over every running task of the
// current user: the one place the surfaces (terok-clearance's watch, ls,
// allow, deny and picker, and the desktop notifier) read pending requests
// from and send verdicts through.
//
// It owns:
//
//   - Hub.Watch, the merged stream of the clearance events of every
//     running task's warden, following tasks that start later and wardens
//     that restart, with no warden able to stall the others;
//   - Hub.Pending, what is pending now;
//   - Hub.Decide, a verdict applied through the task's warden, and for
//     scope project also written into the project's [shield] allow or deny
//     (EditShield: the project's TOML edited in place, comments and other
//     keys kept, written atomically or not at all).
//
// A running task is one whose warden's control socket is in the runtime
// directory; the hub never talks to Podman. The choices are in
// docs/decisions.md, "Clearance: the command and the hub".
package clearhub
