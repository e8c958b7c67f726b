package session

import (
	"fmt"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/vault"
)

// VaultRoutes are the vault's routes with config.toml's
// [vault.providers.NAME] applied: the built-in providers with their
// overrides, and the providers config.toml adds. Both the command
// (terok-vault routes, set) and a task's proxy take their routes from here,
// so they cannot disagree.
func VaultRoutes(g config.Global) (vault.Routes, error) {
	over := make(map[string]vault.RouteConfig, len(g.Vault.Providers))
	for name, p := range g.Vault.Providers {
		over[name] = vault.RouteConfig{
			Upstream:      p.Upstream,
			OAuthUpstream: p.OAuthUpstream,
			TokenURL:      p.TokenURL,
			ClientID:      p.ClientID,
			APIKeyHeader:  p.APIKeyHeader,
			APIKeyPrefix:  p.APIKeyPrefix,
			Paths:         p.Paths,
			ErrorShape:    p.ErrorShape,
		}
	}
	r, err := vault.DefaultRoutes().With(over)
	if err != nil {
		return nil, fmt.Errorf("config.toml [vault.providers]: %w", err)
	}
	return r, nil
}
