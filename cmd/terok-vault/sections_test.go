package vaultcmd

import (
	"testing"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/vault"
)

// Every JSON field terok-vault prints is documented in its man page.
func TestJSONFieldsDocumented(t *testing.T) {
	if m := cli.UndocumentedFields(sections, Initialized{}, Status{}, Unlocked{}, Locked{}, Stored{}, Removed{},
		Credential{}, vault.TokenInfo{}, Revoked{}, vault.AuditEntry{}, Route{}); len(m) > 0 {
		t.Fatalf("fields missing from JSON FIELDS in sections.go: %v", m)
	}
}
