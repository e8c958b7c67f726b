// Package gate owns terok's git gate: the host-side mirror that tasks clone
// from and push to instead of the real upstream, and from which a person
// reviews and promotes their work.
//
// It owns:
//
//   - the mirror: one bare repository per project under the data
//     directory (<data>/gate/<project>.git), its terok-written git config
//     (no hooks, fsck on receive, terok's namespace hidden), and its
//     conservative sync from the upstream (Sync): new branches and
//     fast-forwards apply, deletions and rewrites wait as pending changes
//     until applied, each applied one keeping a backup;
//   - the push policy (Policy): what a task may push, decided per ref by
//     terok itself before git receives anything; and the mirror's side of
//     a task's push (push.go), which the git endpoint asks for: the refs
//     and owners to decide against, read under the mirror's lock
//     (LockForPush), backups before git moves a ref (BackupBeforePush),
//     and the records of what git did (SettlePush); git's upload-pack and
//     receive-pack as the endpoint runs them (Service);
//   - terok's namespace refs/terok/ in each mirror, hidden from tasks:
//     backups (refs/terok/backups/), the upstream as last fetched
//     (refs/terok/remote/) and as last in sync (refs/terok/upstream/);
//     and the records beside it in the state directory: which task
//     created which branch (owners.json) and why each backup was made
//     (backups.json);
//   - review, reading git objects only with go-git (List, Log, Diff);
//     promotion to the upstream with the host user's own git (Promote);
//     backups, restore and pruning;
//   - the gate's audit log: one JSON line per ref decision, sync change,
//     promotion, restore and prune, under the state directory.
//
// The git endpoint itself (smart HTTP, tokens, the wire format) is
// lib/gate/endpoint, so that what only needs the mirror (lib/task makes a
// task's gate and reads its tips) does not carry the endpoint.
//
// What runs on the host: git itself only as a transport and for ref
// updates (receive-pack, upload-pack, fetch, push, update-ref), always with
// hooks pointed at /dev/null and with configuration terok sets; never a
// command that reads a working tree, attributes, filters or submodules.
// Nothing from a repository's content is ever executed. Review never runs
// git at all.
package gate
