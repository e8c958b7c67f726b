package config

import "path/filepath"

// The files of one task that both lib/task, which makes them, and the
// task's warden, which links no more than it needs (lib/warden/services),
// read.

// TasksDir holds the task records, one ID.json each (lib/task.Store).
func (p Paths) TasksDir() string { return filepath.Join(p.State, "tasks") }

// TaskRecord is task id's record.
func (p Paths) TaskRecord(id string) string { return filepath.Join(p.TasksDir(), id+".json") }

// TaskSecret is where task id's gate token is kept (0600, never in the
// record, which is printed).
func (p Paths) TaskSecret(id string) string {
	return filepath.Join(p.TasksDir(), "secrets", id+".token")
}

// TaskShieldState is task id's shield state, which its warden keeps.
func (p Paths) TaskShieldState(id string) string {
	return filepath.Join(p.TasksDir(), "shield", id+".json")
}

// TaskShieldAudit is task id's shield audit log: blocked attempts, refused
// names and rule changes, as JSON lines the task cannot write.
func (p Paths) TaskShieldAudit(id string) string {
	return filepath.Join(p.AuditDir(), "shield", id+".jsonl")
}
