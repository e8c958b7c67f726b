package taskcmd

import (
	"testing"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/task"
)

// Every JSON field terok-task prints is documented in its man page.
func TestJSONFieldsDocumented(t *testing.T) {
	if m := cli.UndocumentedFields(sections, View{}, Event{}, Removed{}, WardenView{}, VaultView{}, task.Hardening{},
		task.Prompt{}, DiffFileLine{}, DiffCommitLine{}, task.DiffFile{}, task.DiffCommit{}); len(m) > 0 {
		t.Fatalf("fields missing from JSON FIELDS in sections.go: %v", m)
	}
}
