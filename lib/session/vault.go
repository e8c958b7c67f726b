package session

import (
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/vault"
)

// VaultRoutes are the vault's routes with config.toml's
// [vault.providers.NAME] applied: the built-in providers with their
// overrides, and the providers config.toml adds. Both the command
// (terok-vault routes, set) and a task's proxy take their routes from here,
// so they cannot disagree.
func VaultRoutes(g config.Global) (vault.Routes, error) { return vault.ConfiguredRoutes(g) }
