package gatecmd

import (
	"testing"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/gate"
)

// Every JSON field terok-gate prints is documented in its man page.
func TestJSONFieldsDocumented(t *testing.T) {
	if m := cli.UndocumentedFields(sections, gate.Change{}, gate.Branch{}, gate.Commit{}, gate.FileChange{},
		gate.Promotion{}, gate.Backup{}, Restored{}, Listening{}, gate.AuditEntry{}); len(m) > 0 {
		t.Fatalf("fields missing from JSON FIELDS in sections.go: %v", m)
	}
}
