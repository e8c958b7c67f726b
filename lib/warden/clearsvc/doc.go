// Package clearsvc is the clearance's part of a task's warden: it owns the
// task's clearance.Queue, fed by the shield service's attempts (refused
// names, blocked connections), and answers the clearance's control
// operations: the pending requests, a verdict on one (applied through the
// shield service, as terok-shield allow and deny are, and written to the
// task's shield audit log with the request it answers), and the stream of
// the queue's events for the surfaces (terok-clearance watch, its picker
// and its notifier). In hold mode it also holds the resolver's query for
// a name outside the policy until its request is decided (Hold). The
// choices are in docs/decisions.md, "Clearance: the warden's service" and
// "Clearance: hold until verdict".
package clearsvc
