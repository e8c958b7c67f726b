package imagecmd

import (
	"testing"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/image"
)

// Every JSON field terok-image prints is documented in its man page.
func TestJSONFieldsDocumented(t *testing.T) {
	if m := cli.UndocumentedFields(sections, ProgressLine{}, LogLine{}, ResultLine{}, image.LayerResult{},
		image.BaseResult{}, AgentInfo{}, image.Image{}, image.Removed{}, image.Usage{}); len(m) > 0 {
		t.Fatalf("fields missing from JSON FIELDS in sections.go: %v", m)
	}
}
