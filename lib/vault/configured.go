package vault

import (
	"fmt"

	"github.com/terok-ai/terok-go/lib/config"
)

// ConfiguredRoutes are the vault's routes with config.toml's
// [vault.providers.NAME] applied: the built-in providers with their
// overrides, and the providers config.toml adds (lib/session.VaultRoutes,
// which the commands use, and a task's warden, which links no session).
func ConfiguredRoutes(g config.Global) (Routes, error) {
	over := make(map[string]RouteConfig, len(g.Vault.Providers))
	for name, p := range g.Vault.Providers {
		over[name] = RouteConfig{
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
	r, err := DefaultRoutes().With(over)
	if err != nil {
		return nil, fmt.Errorf("config.toml [vault.providers]: %w", err)
	}
	return r, nil
}
