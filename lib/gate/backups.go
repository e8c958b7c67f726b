package gate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/terok-ai/terok-go/lib/config"
)

// A backup is a hidden ref, refs/terok/backups/<stamp>-<random>/<ref
// without "refs/">, pointing at the old tip of a ref that a push, a sync
// or a restore replaced or deleted. Its id for people is
// "<project>/<stamp>-<random>".

const stampLayout = "20060102T150405Z"

// Backup is one backup, as `terok-gate backups` prints it.
type Backup struct {
	ID      string    `json:"id"`
	Project string    `json:"project"`
	Ref     string    `json:"ref"`
	Branch  string    `json:"branch,omitempty"`
	Commit  string    `json:"commit"`
	Time    time.Time `json:"time"`
	Reason  string    `json:"reason"`
	Task    string    `json:"task,omitempty"`
}

// ErrNoBackup is returned for a backup id that names nothing.
var ErrNoBackup = errors.New("no such backup")

func newBackupKey(now time.Time) string {
	var b [3]byte
	rand.Read(b[:])
	return now.UTC().Format(stampLayout) + "-" + hex.EncodeToString(b[:])
}

// backupRef is the hidden ref of backup key for ref.
func backupRef(key, ref string) string {
	return backupPrefix + key + "/" + strings.TrimPrefix(ref, "refs/")
}

// ValidBackupKey checks the part of a backup id after the project.
func ValidBackupKey(key string) error {
	stamp, rnd, ok := strings.Cut(key, "-")
	if _, err := time.Parse(stampLayout, stamp); err != nil || !ok || len(rnd) != 6 || !isLowerHex(rnd) {
		return invalid(fmt.Errorf("invalid backup id %q (PROJECT/YYYYMMDDTHHMMSSZ-xxxxxx)", key))
	}
	return nil
}

// ParseBackupID splits "project/key" and validates both.
func ParseBackupID(id string) (project, key string, err error) {
	project, key, ok := strings.Cut(id, "/")
	if !ok {
		return "", "", invalid(fmt.Errorf("invalid backup id %q (PROJECT/YYYYMMDDTHHMMSSZ-xxxxxx)", id))
	}
	if err := config.ValidName(project); err != nil {
		return "", "", invalid(err)
	}
	return project, key, ValidBackupKey(key)
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return s != ""
}

// Backups lists the mirror's backups, oldest first.
func (m *Mirror) Backups() ([]Backup, error) {
	r, err := m.open()
	if err != nil {
		return nil, err
	}
	return m.backups(r)
}

func (m *Mirror) backups(r *repo) ([]Backup, error) {
	refs, err := r.refs(backupPrefix)
	if err != nil {
		return nil, err
	}
	info, err := records{m.StateDir}.backups()
	if err != nil {
		return nil, err
	}
	var out []Backup
	for name, id := range refs {
		key, rest, ok := strings.Cut(strings.TrimPrefix(name, backupPrefix), "/")
		if !ok || ValidBackupKey(key) != nil {
			continue
		}
		t, _ := time.Parse(stampLayout, key[:len(stampLayout)])
		b := Backup{ID: m.Project + "/" + key, Project: m.Project, Ref: "refs/" + rest, Commit: id, Time: t,
			Reason: info[key].Reason, Task: info[key].Task}
		b.Branch, _ = strings.CutPrefix(b.Ref, headsPrefix)
		if b.Branch == b.Ref {
			b.Branch = ""
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// refTx is one git update-ref transaction: all its lines apply, or none.
type refTx struct {
	lines []string
}

func (t *refTx) create(ref, id string)      { t.lines = append(t.lines, "create "+ref+" "+id) }
func (t *refTx) update(ref, id, old string) { t.lines = append(t.lines, "update "+ref+" "+id+" "+old) }
func (t *refTx) delete(ref, old string)     { t.lines = append(t.lines, "delete "+ref+" "+old) }

// set moves ref from old ("" for absent) to id ("" to delete).
func (t *refTx) set(ref, id, old string) {
	switch {
	case id == "" && old != "":
		t.delete(ref, old)
	case old == "" && id != "":
		t.create(ref, id)
	case id != "":
		t.update(ref, id, old)
	}
}

func (m *Mirror) commitTx(ctx context.Context, t *refTx, msg string) error {
	if len(t.lines) == 0 {
		return nil
	}
	_, err := m.run(ctx, strings.Join(t.lines, "\n")+"\n", "update-ref", "-m", "terok-gate: "+msg, "--stdin")
	return err
}

// Restore brings a backup back: its ref points at the backup's commit
// again. A different current tip is itself backed up first. A restored
// ref that had vanished goes back to the task that the backup came from.
func (m *Mirror) Restore(ctx context.Context, key string) (Backup, string, error) {
	if err := ValidBackupKey(key); err != nil {
		return Backup{}, "", err
	}
	unlock, err := m.lock(ctx)
	if err != nil {
		return Backup{}, "", err
	}
	defer unlock()
	r, err := m.open()
	if err != nil {
		return Backup{}, "", err
	}
	all, err := m.backups(r)
	if err != nil {
		return Backup{}, "", err
	}
	var b *Backup
	for i := range all {
		if all[i].ID == m.Project+"/"+key {
			b = &all[i]
		}
	}
	if b == nil {
		return Backup{}, "", fmt.Errorf("%w: %s/%s", ErrNoBackup, m.Project, key)
	}
	cur, err := r.ref(b.Ref)
	if err != nil {
		return Backup{}, "", err
	}
	if cur == b.Commit {
		return *b, "", nil
	}
	var tx refTx
	saved := ""
	rec := records{m.StateDir}
	if cur != "" {
		saved = newBackupKey(m.Now())
		tx.create(backupRef(saved, b.Ref), cur)
		if err := m.noteBackup(rec, saved, BackupInfo{Reason: "restore"}); err != nil {
			return Backup{}, "", err
		}
	}
	tx.set(b.Ref, b.Commit, cur)
	if err := m.commitTx(ctx, &tx, "restore "+b.ID); err != nil {
		return Backup{}, "", err
	}
	if cur == "" && b.Task != "" {
		owners, err := rec.owners()
		if err != nil {
			return Backup{}, "", err
		}
		owners[b.Ref] = Owner{Task: b.Task, Created: m.Now().UTC()}
		if err := rec.setOwners(owners); err != nil {
			return Backup{}, "", err
		}
	}
	if saved != "" {
		saved = m.Project + "/" + saved
	}
	err = m.Audit(AuditEntry{Time: m.Now().UTC(), Type: "restore", Ref: b.Ref, Old: cur, New: b.Commit,
		Accepted: true, Backup: saved, Reason: "restore " + b.ID})
	return *b, saved, err
}

func (m *Mirror) noteBackup(rec records, key string, info BackupInfo) error {
	all, err := rec.backups()
	if err != nil {
		return err
	}
	all[key] = info
	return rec.setBackups(all)
}

// Prune removes the backups older than maxAge (the configured
// gate.backup_max_age when maxAge is 0) and returns them. With dryRun it
// only says which.
func (m *Mirror) Prune(ctx context.Context, maxAge time.Duration, dryRun bool) ([]Backup, error) {
	if maxAge <= 0 {
		maxAge = m.BackupMaxAge
	}
	unlock, err := m.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	r, err := m.open()
	if err != nil {
		return nil, err
	}
	all, err := m.backups(r)
	if err != nil {
		return nil, err
	}
	cutoff := m.Now().Add(-maxAge)
	var old []Backup
	var tx refTx
	for _, b := range all {
		if b.Time.Before(cutoff) {
			old = append(old, b)
			key := strings.TrimPrefix(b.ID, m.Project+"/")
			tx.delete(backupRef(key, b.Ref), b.Commit)
		}
	}
	if dryRun || len(old) == 0 {
		return old, nil
	}
	if err := m.commitTx(ctx, &tx, "prune backups"); err != nil {
		return nil, err
	}
	rec := records{m.StateDir}
	info, err := rec.backups()
	if err != nil {
		return nil, err
	}
	var entries []AuditEntry
	for _, b := range old {
		delete(info, strings.TrimPrefix(b.ID, m.Project+"/"))
		entries = append(entries, AuditEntry{Time: m.Now().UTC(), Type: "prune", Ref: b.Ref, Old: b.Commit,
			Accepted: true, Backup: b.ID})
	}
	if err := rec.setBackups(info); err != nil {
		return nil, err
	}
	return old, m.Audit(entries...)
}
