package gate

import (
	"context"
	"time"
)

// A task's push, on the mirror's side: what the git endpoint
// (lib/gate/endpoint) asks of the mirror while it serves one. The endpoint
// reads the command list off the wire and decides; the mirror, under its
// lock, gives the refs and owners to decide against (LockForPush), backs
// up what an update may overwrite before git runs (BackupBeforePush), and
// afterwards records what git did (SettlePush).

// ZeroID is the object id git uses for "no object" (a create's old, a
// delete's new).
const ZeroID = "0000000000000000000000000000000000000000"

// RefUpdate is one command of a push: move Ref from Old to New.
type RefUpdate struct {
	Old, New string // 40 lower-case hex digits; ZeroID for none
	Ref      string
}

// IsCreate and IsDelete say what kind of update u is.
func (u RefUpdate) IsCreate() bool { return u.Old == ZeroID }
func (u RefUpdate) IsDelete() bool { return u.New == ZeroID }

// IsObjectID reports whether s is an object id as the gate takes one from
// a client: 40 lower-case hex digits.
func IsObjectID(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// PushState is what a push is decided against, read under the mirror's
// lock.
type PushState struct {
	// Current holds each update's ref as it is now ("" absent), in the
	// request's order; when reading failed part way, only the ones read.
	Current []string
	Owners  Owners
	// Refusal, when the state could not be read (the lock not taken in
	// time, the mirror or its records unreadable), refuses every update
	// that has no reason yet.
	Refusal string
}

// LockForPush takes the mirror's lock (waiting at most wait) and reads
// the refs the updates name and their owners. unlock releases the lock,
// if it was taken; the push holds it until its answer is written.
func (m *Mirror) LockForPush(ctx context.Context, updates []RefUpdate, wait time.Duration) (st PushState, unlock func()) {
	lockCtx, lockCancel := context.WithTimeout(ctx, wait)
	unlock, err := m.lock(lockCtx)
	lockCancel()
	if err != nil {
		return PushState{Refusal: "gate busy or broken; try again (" + err.Error() + ")"}, func() {}
	}
	st, err = m.pushState(updates)
	if err != nil {
		st.Refusal = "gate error: " + sanitizeLine(err.Error())
	}
	return st, unlock
}

// pushState reads the refs the updates name, in order, and the gate's
// owners records. On an error it returns what it read so far.
func (m *Mirror) pushState(updates []RefUpdate) (PushState, error) {
	var st PushState
	r, err := m.open()
	if err != nil {
		return st, err
	}
	owners, err := records{m.StateDir}.owners()
	if err != nil {
		return st, err
	}
	st.Owners = owners
	for _, u := range updates {
		cur, err := r.ref(u.Ref)
		if err != nil {
			return st, err
		}
		st.Current = append(st.Current, cur)
	}
	return st, nil
}

// Decision is the gate's verdict on one ref update of a push.
type Decision struct {
	Update  RefUpdate
	Current string // the ref's value before the push ("" absent)
	Reason  string // why the update is refused; "" while allowed
	backup  string // the tentative backup key, for an update or delete
}

// BackupBeforePush saves, before git moves anything, the current tip of
// every allowed update or delete of an existing ref under a fresh backup
// ref. SettlePush drops those that turn out not to be needed
// (fast-forwards, and updates that did not apply). It returns "", or the
// reason to refuse the push's updates when the backups could not be made
// (one printable line).
func (m *Mirror) BackupBeforePush(ctx context.Context, ds []*Decision) (refusal string) {
	var tx refTx
	for _, d := range ds {
		if d.Reason == "" && d.Current != "" {
			d.backup = newBackupKey(m.Now())
			tx.create(backupRef(d.backup, d.Update.Ref), d.Current)
		}
	}
	if err := m.commitTx(ctx, &tx, "backup before push"); err != nil {
		return "gate error: " + sanitizeLine(err.Error())
	}
	return ""
}

// SettlePush looks at what git did to each allowed update of a push by
// task, keeps the backups of forced updates and deletes, drops the
// others, records which task now owns which ref, and returns the push's
// audit entries (remote is the client's address).
//
// An allowed update that git did not apply is refused with the reason
// notApplied gives for its ref (readErr: the ref could not be read
// afterwards), so that the client reads it in place of git's line.
func (m *Mirror) SettlePush(ctx context.Context, task string, ds []*Decision, notApplied func(ref string, readErr error) string, remote string) []AuditEntry {
	now := m.Now().UTC()
	var entries []AuditEntry
	r, err := m.open()
	rec := records{m.StateDir}
	var owners Owners
	var info map[string]BackupInfo
	if err == nil {
		owners, err = rec.owners()
	}
	if err == nil {
		info, err = rec.backups()
	}
	var drop refTx
	ownersChanged, infoChanged := false, false
	for _, d := range ds {
		u := d.Update
		en := AuditEntry{Time: now, Type: "push", Task: task, Ref: u.Ref, Old: u.Old, New: u.New, Remote: remote}
		switch {
		case d.Reason != "":
			en.Reason = d.Reason
		case err != nil:
			en.Reason = "gate error: " + err.Error()
		default:
			applied, forced, rerr := r.landed(u)
			if !applied {
				d.Reason = notApplied(u.Ref, rerr)
				en.Reason = d.Reason
				break
			}
			en.Accepted, en.Forced = true, forced && !u.IsDelete()
			switch {
			case u.IsCreate():
				owners[u.Ref] = Owner{Task: task, Created: now}
				ownersChanged = true
			case u.IsDelete():
				en.Reason = "deleted"
				delete(owners, u.Ref)
				ownersChanged = true
			}
			if d.backup != "" && forced {
				reason := "force-push"
				if u.IsDelete() {
					reason = "delete"
				}
				info[d.backup] = BackupInfo{Reason: reason, Task: task}
				infoChanged = true
				en.Backup = m.Project + "/" + d.backup
				d.backup = ""
			}
		}
		if d.backup != "" {
			drop.delete(backupRef(d.backup, u.Ref), d.Current)
		}
		entries = append(entries, en)
	}
	if err == nil {
		if ownersChanged {
			err = rec.setOwners(owners)
		}
		if err == nil && infoChanged {
			err = rec.setBackups(info)
		}
	}
	if derr := m.commitTx(ctx, &drop, "drop unneeded backups"); derr != nil && err == nil {
		err = derr
	}
	if err != nil {
		entries = append(entries, AuditEntry{Time: now, Type: "error", Task: task, Reason: "settling a push: " + err.Error()})
	}
	return entries
}

// landed says whether git applied u (its ref is now where u moves it),
// and whether that was forced: a delete, or an update that is not a
// fast-forward (or whose ancestry cannot be read).
func (r *repo) landed(u RefUpdate) (applied, forced bool, err error) {
	after, err := r.ref(u.Ref)
	switch {
	case err != nil:
		return false, false, err
	case u.IsDelete():
		return after == "", true, nil
	case after != u.New:
		return false, false, nil
	case u.IsCreate():
		return true, false, nil
	}
	ff, aerr := r.isAncestor(u.Old, u.New)
	return true, aerr != nil || !ff, nil
}
