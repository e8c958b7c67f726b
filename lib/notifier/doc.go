// Package notifier is the desktop surface of the clearance: `terok-clearance
// notify`. It follows the pending requests of every task (a Source: the
// hub over all wardens) and shows each as an org.freedesktop.Notifications
// popup on the user's session bus, with the actions Allow, Allow for
// project and Deny; a click decides the request through the Source.
//
// What it shows:
//
//   - a pending request: one popup, app name "terok", urgency critical,
//     resident (it stays after a click until the verdict replaces it),
//     never expiring; summary and body are built only from clearance's
//     Markup of what the task chose (the destination) and of the task and
//     project names;
//   - a repeat (the same request, a new count): the same popup, replaced
//     in place (replaces_id) with the count;
//   - a verdict, from any surface (the decided event): the popup replaced
//     by "Allowed", "Denied" or the failure, not resident, expiring; an
//     expired request: its popup closed;
//   - the "and N more" request of a flooding task: a popup without actions
//     (it cannot be decided; the terminal can show the rest).
//
// Bounds: at most Options.MaxOpen request popups are open at once, and at
// most Options.PerTask of one task, so a task flooding names cannot crowd
// out another task's request; the others wait, in order of arrival, and
// are shown as popups close.
//
// Signals: ActionInvoked and NotificationClosed are matched on interface
// and member only, never on sender (a portal relays them from another
// name), and a notification id is mapped back to its request; an action's
// key also names the request, so a stale click can never decide another
// one.
//
// One per session: a running notifier owns the bus name Name (a second
// one fails with ErrRunning), and Running tells `terok doctor` whether
// one runs.
//
// Survival: when the bus goes away the notifier connects again with
// backoff and posts again every popup still pending; when the
// notification server goes away and comes back (NameOwnerChanged, or a
// Notify that fails) it posts them again on the new server. Without a
// session bus at all, Run fails at once with ErrNoBus.
//
// The choices are in docs/decisions.md, "Clearance: the desktop notifier".
package notifier
