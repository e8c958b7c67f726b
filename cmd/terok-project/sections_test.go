package projectcmd

import (
	"testing"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/project"
)

// Every JSON field terok-project prints is documented in its man page.
func TestJSONFieldsDocumented(t *testing.T) {
	if m := cli.UndocumentedFields(sections, project.Info{}, Removed{}, config.Key{}, config.NamedPath{}, Checked{}); len(m) > 0 {
		t.Fatalf("fields missing from JSON FIELDS in sections.go: %v", m)
	}
}
