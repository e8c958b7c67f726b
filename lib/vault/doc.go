// Package vault keeps the user's model-provider credentials on the host and
// lets a task use them without ever holding them (SECURITY.md guarantee 4).
//
// The pieces, each usable alone so that the warden, terok-vault and the
// roster can wire them as they need:
//
//   - The store (Init, Open, Store): the credentials, encrypted with age to
//     an X25519 identity in one file under terok's data directory, written
//     atomically under a lock. The identity is kept wrapped twice, by the
//     user's passphrase and by a recovery passphrase made at Init, and is
//     found by a KeySource: a handed-over Key, the kernel keyring (filled by
//     Unlock, with a timeout), a passphrase_command, a prompt.
//   - Phantom tokens (Tokens): worthless stand-ins, one per task and
//     provider, kept as hashes in a file of their own; Revoke kills a
//     task's tokens for good.
//   - Routes: where each provider's requests go and how its credential is
//     presented.
//   - The proxy (NewProxy): an http.Handler for one task that swaps the
//     phantom for the real credential and streams the provider's answer
//     back.
//   - The refresher (Refresher): OAuth credentials near expiry are renewed
//     once, on the host, however many tasks ask at the same time.
//   - The audit log (AuditLog, ReadAudit): one JSON line per request,
//     never a body or a secret.
//
// Import parsers (ParseCredentialFile) read the agents' own credential
// files: Claude Code's .credentials.json and Codex's auth.json.
package vault
