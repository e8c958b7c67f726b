package task

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/terok-ai/terok-go/lib/store"
)

var (
	// ErrNotFound: no task has the id or prefix.
	ErrNotFound = errors.New("no such task")
	// ErrAmbiguous: a prefix matches several tasks.
	ErrAmbiguous = errors.New("ambiguous task id prefix")
)

// Record is what terok keeps of a task. Its status is not in it: that is
// derived from the container's live state (see Derive).
type Record struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Project    string    `json:"project"`
	Agent      string    `json:"agent"`
	Mode       Mode      `json:"mode"` // headless, interactive or shell
	Model      string    `json:"model,omitempty"`
	Timeout    string    `json:"timeout,omitempty"`
	Branch     string    `json:"branch"`
	BaseBranch string    `json:"base_branch"`
	Image      string    `json:"image"`
	Container  string    `json:"container"`
	Volume     string    `json:"volume"`
	Created    time.Time `json:"created"`
	Hardening  Hardening `json:"hardening"`
	// Vault is the provider the task's agent reaches through the vault's
	// proxy in its warden, with a phantom token in place of the real
	// credential; "" for none.
	Vault string `json:"vault,omitempty"`
	// Login marks the throwaway task of `terok-vault login`, which runs
	// the agent's own sign-in: no workspace clone, a shield that reaches
	// the provider's sign-in hosts only, and nothing of it kept once the
	// login ends (see Runner.Login).
	Login     bool `json:"login,omitempty"`
	WardenPID int  `json:"warden_pid,omitempty"`
	// Prompts are the prompts the task ran: its first and each followup.
	Prompts []Prompt  `json:"prompts,omitempty"`
	Started time.Time `json:"started,omitzero"` // when its container last started
	// Outcome, recorded when known.
	ExitCode *int      `json:"exit_code,omitempty"`
	TimedOut bool      `json:"timed_out,omitempty"`
	Stopped  bool      `json:"stopped,omitempty"` // stopped by a person
	Finished time.Time `json:"finished,omitzero"`
}

// Store is the tasks directory: one JSON record per task.
type Store struct{ Dir string }

func (s Store) path(id string) string { return filepath.Join(s.Dir, id+".json") }

// Create gives rec a fresh id (unique among the records) and the names
// derived from it, and writes it. The names are in the first write, so a
// terok-task killed at any later point leaves a record that names every
// thing rm must clean.
func (s Store) Create(rec *Record) error {
	unlock, err := store.Lock(s.Dir)
	if err != nil {
		return err
	}
	defer unlock()
	for range 16 {
		rec.ID = NewID()
		rec.assignNames()
		if _, err := os.Lstat(s.path(rec.ID)); errors.Is(err, fs.ErrNotExist) {
			return writeRecord(s.path(rec.ID), rec)
		}
	}
	return fmt.Errorf("could not find a free task id")
}

// assignNames derives a task's name, branch, container and volume from its
// id and project.
func (r *Record) assignNames() {
	r.Name = r.ID
	r.Branch = "task/" + r.ID
	r.Container = "terok-" + r.Project + "-" + r.ID
	r.Volume = r.Container + "-workspace"
}

// Load reads the record of a full id.
func (s Store) Load(id string) (Record, error) {
	if err := ValidID(id); err != nil {
		return Record{}, err
	}
	var r Record
	err := store.ReadJSON(s.path(id), &r)
	if errors.Is(err, fs.ErrNotExist) {
		return r, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return r, err
}

// IDs returns every task id, sorted.
func (s Store) IDs() ([]string, error) {
	ents, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if ok && e.Type().IsRegular() && ValidID(id) == nil {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// Resolve turns a unique prefix of a task id into the id.
func (s Store) Resolve(prefix string) (string, error) {
	if err := ValidPrefix(prefix); err != nil {
		return "", err
	}
	ids, err := s.IDs()
	if err != nil {
		return "", err
	}
	var match []string
	for _, id := range ids {
		if strings.HasPrefix(id, prefix) {
			match = append(match, id)
		}
	}
	switch len(match) {
	case 0:
		return "", fmt.Errorf("%w: %s", ErrNotFound, prefix)
	case 1:
		return match[0], nil
	}
	return "", fmt.Errorf("%w: %s matches %s", ErrAmbiguous, prefix, strings.Join(match, ", "))
}

// Update changes a record under the lock.
func (s Store) Update(id string, fn func(*Record) error) error {
	if err := ValidID(id); err != nil {
		return err
	}
	return store.UpdateJSON(s.path(id), func(r *Record, exists bool) error {
		if !exists {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		return fn(r)
	})
}

// Archive moves a record into dir (the archive), under both locks' care:
// the record disappears from the store in one rename.
func (s Store) Archive(id, dir string) (string, error) {
	if err := ValidID(id); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	unlock, err := store.Lock(s.Dir)
	if err != nil {
		return "", err
	}
	defer unlock()
	dst := filepath.Join(dir, id+".json")
	if err := os.Rename(s.path(id), dst); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		return "", err
	}
	return dst, nil
}

func writeRecord(path string, r *Record) error {
	return store.WriteJSONLocked(path, r)
}
