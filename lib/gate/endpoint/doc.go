// Package endpoint is the gate's git endpoint: git's smart HTTP protocol
// for one project's mirror (lib/gate), as `terok-gate serve` runs it on an
// address and a task's warden (lib/warden/gatesvc) on the task's loopback.
//
// It owns:
//
//   - the HTTP handler (Endpoint): the exact routes of upload-pack and
//     receive-pack (no dumb HTTP, no escapes), each request authenticated
//     by a task's token (Token) by HTTP basic authentication;
//   - git's wire format as far as a push needs it: pkt-lines, the
//     receive-pack command list (ReadPushRequest), the report-status and
//     its side-band framing;
//   - a push from request to answer: reading the command list, deciding
//     every update before git receives anything (planPush: the project's
//     Policy, then the push's own rules — a pack announced over the size
//     limit, atomic, push options), git receive-pack with the allowed
//     updates only, and the answer, in which every refusal reaches the
//     stock git client as "ng <ref> <reason>".
//
// What a push needs of the mirror it asks lib/gate for, under the
// mirror's lock: the refs and owners to decide against
// (Mirror.LockForPush), backups of what an update may overwrite
// (Mirror.BackupBeforePush), the records of what git did
// (Mirror.SettlePush) and the audit log (Mirror.Audit). git itself runs
// through Mirror.Service, so every git command line on the mirror is
// lib/gate's: this package builds none.
package endpoint
