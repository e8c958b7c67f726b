package gate

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/terok-ai/terok-go/lib/store"
)

// The gate's records live beside the mirror in the state directory, are
// written atomically, and are changed only under the mirror's lock.

// Owner is the task that created a ref through the gate.
type Owner struct {
	Task    string    `json:"task"`
	Created time.Time `json:"created"`
}

// BackupInfo is what the ref of a backup does not say: why it was made
// and by which task's push.
type BackupInfo struct {
	Reason string `json:"reason"`
	Task   string `json:"task,omitempty"`
}

type records struct {
	dir string
}

func (r records) ownersFile() string  { return filepath.Join(r.dir, "owners.json") }
func (r records) backupsFile() string { return filepath.Join(r.dir, "backups.json") }

func readRecord[T any](path string) (T, error) {
	var v T
	err := store.ReadJSON(path, &v)
	if errors.Is(err, fs.ErrNotExist) {
		return v, nil
	}
	return v, err
}

func writeRecord(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return store.WriteFileLocked(path, append(data, '\n'), 0o600)
}

func (r records) owners() (Owners, error) {
	o, err := readRecord[Owners](r.ownersFile())
	if o == nil {
		o = Owners{}
	}
	return o, err
}

func (r records) setOwners(o Owners) error { return writeRecord(r.ownersFile(), o) }

func (r records) backups() (map[string]BackupInfo, error) {
	b, err := readRecord[map[string]BackupInfo](r.backupsFile())
	if b == nil {
		b = map[string]BackupInfo{}
	}
	return b, err
}

func (r records) setBackups(b map[string]BackupInfo) error { return writeRecord(r.backupsFile(), b) }

// AuditEntry is one line of the gate's audit log.
type AuditEntry struct {
	Time     time.Time `json:"time"`
	Type     string    `json:"type"` // push, auth, sync, promote, restore, prune
	Project  string    `json:"project"`
	Task     string    `json:"task,omitempty"`
	Ref      string    `json:"ref,omitempty"`
	Old      string    `json:"old,omitempty"`
	New      string    `json:"new,omitempty"`
	Forced   bool      `json:"forced"`
	Accepted bool      `json:"accepted"`
	Reason   string    `json:"reason,omitempty"`
	Backup   string    `json:"backup,omitempty"`
	Remote   string    `json:"remote,omitempty"`
	Upstream string    `json:"upstream,omitempty"`
}

// Audit appends entries to the gate's audit log in one write, under a
// flock of the log itself (several gates, one log). An entry without a
// project is the mirror's.
func (m *Mirror) Audit(entries ...AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	values := make([]any, len(entries))
	for i, e := range entries {
		if e.Project == "" {
			e.Project = m.Project
		}
		values[i] = e
	}
	return store.AppendJSON(m.AuditLog, values...)
}
