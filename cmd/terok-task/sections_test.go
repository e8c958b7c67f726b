package taskcmd

import (
	"testing"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/schedule"
	"github.com/terok-ai/terok-go/lib/task"
)

// Every JSON field terok-task prints is documented in its man page.
func TestJSONFieldsDocumented(t *testing.T) {
	if m := cli.UndocumentedFields(sections, View{}, Event{}, Removed{}, WardenView{}, VaultView{}, task.Hardening{},
		task.Prompt{}, WebEvent{}, DiffFileLine{}, DiffCommitLine{}, task.DiffFile{}, task.DiffCommit{}); len(m) > 0 {
		t.Fatalf("fields missing from JSON FIELDS in sections.go: %v", m)
	}
}

// Every JSON field of the schedule verbs is documented too.
func TestScheduleJSONFieldsDocumented(t *testing.T) {
	if m := cli.UndocumentedFields(sections, ScheduleView{}, schedule.Run{}, ScheduleExit{}, ScheduleRemoved{}); len(m) > 0 {
		t.Fatalf("fields missing from JSON FIELDS in sections.go: %v", m)
	}
}
