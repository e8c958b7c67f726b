// Package clearance owns a task's pending requests: the blocked
// connections and refused names a person may still allow or deny while the
// task runs, and the verdicts that answer them.
//
// It owns:
//
//   - Request, the unit a person decides on: an unguessable id bound to one
//     task and one destination, the attempts folded into it (count, first
//     and last seen), and for the one collapsed overflow entry of a queue,
//     how many more destinations it stands for;
//   - Queue, one per task and safe for concurrent use: Add folds repeats,
//     keeps at most MaxPending requests and collapses the rest into one
//     "and N more" request, expires what nobody decides (unless a Wait
//     holds it), Decide checks a Verdict against the request it cites,
//     Wait holds a caller (the resolver's held query) until the verdict,
//     Subscribe streams Events to the surfaces with a bounded buffer each;
//   - Event, the JSON line of `terok-clearance watch`, with stable field
//     names;
//   - the sanitising of whatever a task chose (a name, an address) before a
//     person sees it on a terminal, in a table or in a desktop notification
//     (Sanitize, Display, Markup);
//   - AuditRecord, the lines a request and a verdict leave in the task's
//     shield audit log, in that log's style.
//
// It is pure Go and wires into nothing: the warden owns each task's Queue,
// the resolver and the firewall log reader add to it, the surfaces
// (terok-clearance and its notifier) read and decide through the warden.
// The choices (bounds, expiry, slow subscribers, id format, sanitising
// rules) are in docs/decisions.md, "Clearance: the queue".
package clearance
