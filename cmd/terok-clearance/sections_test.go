package clearancecmd

import (
	"testing"

	"github.com/terok-ai/terok-go/lib/clearance"
	"github.com/terok-ai/terok-go/lib/cli"
)

// Every JSON field terok-clearance prints is documented in its man page.
func TestJSONFieldsDocumented(t *testing.T) {
	if m := cli.UndocumentedFields(sections, clearance.Event{}, clearance.Request{}); len(m) > 0 {
		t.Fatalf("fields missing from JSON FIELDS in sections.go: %v", m)
	}
}
