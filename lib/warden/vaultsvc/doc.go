// Package vaultsvc is the vault's part of a task's warden: the proxy
// (lib/vault's NewProxy) on the task's own 127.0.0.1:9419
// (warden.VaultPort), through which the task's agent reaches its model
// provider with a phantom token while the real credential stays on the
// host. It serves only tasks whose agent has a vault provider; it revokes
// the task's phantom tokens when the task is quarantined and when the
// warden ends (the task stopped), so a token never outlives the container
// it was minted for.
package vaultsvc
