package vaultcmd

import "github.com/terok-ai/terok-go/lib/cli"

var sections = []cli.Section{
	{Title: "THE STORE AND ITS KEY", Body: `The credentials are kept in DATA/vault/credentials.age, encrypted with age to the vault's own key; the key is kept in DATA/vault/identity.json, wrapped twice with scrypt: by your passphrase (at least 8 characters; about a second to open) and by the recovery passphrase that init prints once. Either passphrase opens the vault wherever one is asked for. Files are 0600 in a 0700 directory and written atomically under a lock: concurrent commands lose nothing, and a wrong passphrase or a damaged file changes nothing.

A command that needs the key (set, import, ls, rm; and terok-task when it starts a task whose agent uses the vault) finds it in this order: the kernel keyring, where unlock caches it for --ttl (default vault.unlock_ttl, 8h); the passphrase_command of config.toml (an argv list run without a shell; the first line it prints is the passphrase), e.g. ["pass", "show", "terok"] or ["systemd-creds", "decrypt", "..."]; a password prompt when stdin and stdout are terminals. A passphrase_command that fails or prints a wrong passphrase is an error, never a fallback to a prompt. Without any of them the command exits 3 at once with a hint: cron jobs and systemd timers never hang on a prompt. For unattended use, set passphrase_command, or run unlock once with a --ttl that covers the jobs.

The keyring holds the vault's key itself, never a passphrase, in the user keyring with a timeout, readable by your user only; lock drops it. A task that is running keeps working after lock: its warden was handed the key when the task started.`},
	{Title: "CREDENTIALS AND PHANTOM TOKENS", Body: `set stores an API key, asked without echo on a terminal or read from stdin's first line (never an argument: arguments are visible to every process of the host). import stores the credential of an agent's own file: Claude Code's ~/.claude/.credentials.json (an OAuth login, refreshed by the vault on the host when near expiry) or the primaryApiKey of ~/.claude.json, and Codex's ~/.codex/auth.json (an API key or a ChatGPT login); the file's provider must be the one named. A provider is one that routes lists: the built-in anthropic, openai and mistral, and any [vault.providers.NAME] table of config.toml (which also overrides a built-in one's upstream, header or paths).

login runs an agent's own sign-in (Claude Code: claude auth login, a Claude subscription; Codex: codex login --device-auth, a ChatGPT login) on this terminal, in a throwaway container of a project's image (--project, else the first project by name whose built image has the agent), hardened like a task's (none of the project's opt-outs) and behind a shield that lets it reach only the provider's sign-in and token hosts (the roster's login.hosts and the provider's token endpoint) — no other host, no other provider, no workspace. Open the URL it prints in a browser and paste back what the browser shows. When the sign-in ends, the credential file it wrote is read out of the stopped container and stored, and the container and its task are removed without a trace. Detaching (C-b d) abandons the login; so does a sign-in that fails or writes no file. Without a terminal login refuses at once: use import or set. 'terok-image agents' says which agents have a login.

A task whose agent names a vault provider in the roster gets a phantom token (terok-phantom- and 192 random bits) bound to the task and the provider, in the agent's token variable, and a base URL pointing at its warden's proxy on the task's own 127.0.0.1:9419. The phantom is worthless anywhere else; tokens lists the live ones (masked) and revoke kills them for good. A task's tokens are revoked when it stops, is removed or is quarantined; a task started again gets a new one. tokens, revoke and audit need no key: the tokens file holds hashes only.`},
	{Title: "JSON FIELDS", Body: `init prints one object:

  type  initialized
  dir  the vault's directory
  recipient  the vault's public key (age1...)
  recovery  the recovery passphrase, shown this once

status prints one object:

  dir  the vault's directory
  initialized  true once init made it
  recipient  its public key
  unlocked  true while the kernel keyring holds its key
  unlocked_for  how long the keyring keeps the key still, as the kernel counts it (rounded down: 45s, 12m, 7h, 2d); absent when it has no timeout
  keyring_error  why the kernel keyring cannot be used, if it cannot
  passphrase_command  true when config.toml sets vault.passphrase_command
  credentials  how many credentials are stored; only when unlocked (status never asks for a passphrase)
  tokens  how many phantom tokens are live

unlock prints one object:

  type  unlocked
  dir  the vault's directory
  until  when the kernel drops the key, RFC 3339

lock prints one object: type (locked) and dir.

set, import and login print one object:

  type  set, imported or logged_in
  provider  the provider
  kind  api_key or oauth
  expiry  (oauth) when the access token expires; the vault renews it before
  source  where it came from: set, import:claude, import:codex, login:AGENT
  agents  the roster's agents that use the provider

rm prints one object: type (removed) and provider.

ls prints one object per stored credential (never the secret):

  provider  the provider
  kind  api_key or oauth
  expiry  (oauth) when the access token expires
  refreshable  (oauth) true when a refresh token is stored, so the vault renews it
  source  where it came from
  updated  when it was stored or last renewed
  tasks  the tasks holding a live phantom token for the provider

tokens prints one object per live phantom token:

  token  the token, masked (its first characters only)
  task  the task it is bound to
  project  the task's project
  provider  the provider it stands for
  created  when it was minted

revoke prints one object per task (one in all with --all):

  type  revoked
  task  the task (absent with --all)
  tokens  how many tokens were revoked

audit prints one object per request through a task's proxy (never a header, a body, a query or a secret):

  time  when it started, RFC 3339
  task  the task
  project  its project
  provider  the provider the token stands for
  method  the HTTP method
  path  the path, without the query
  status  the HTTP status the agent got
  bytes_in  bytes of the request body
  bytes_out  bytes of the answer's body
  duration_ms  how long it took
  outcome  ok (forwarded; status is the provider's), or why not: refused, missing_token, invalid_token, other_task, token_error, no_route, no_credential, credential_error, too_large, upstream_error, upstream_disconnected, client_gone

routes prints one object per provider:

  provider  the provider
  upstream  the base URL its requests go to
  header  the header an API key goes in
  prefix  what precedes the key in it (Bearer )
  oauth_upstream  where requests made with an OAuth credential go instead
  token_url  the OAuth token endpoint the vault renews credentials at
  base_path  what an agent's base URL ends with for this route
  paths  the only path prefixes requests may have (absent: any)
  agents  the roster's agents that use it
  configured  true when config.toml adds or changes it`},
	{Title: "EXIT STATUS", Body: `0 success (status reports every state of the vault with 0). 1 failure: a wrong passphrase, a damaged file, init on an existing vault, a login that failed or was abandoned; nothing is changed then. 2 usage: an unknown provider, an empty or too short passphrase, a credential file of another provider, a confirmation needed without a terminal, login without a terminal or of an agent without a login. 3 not set up: no vault yet (init), or a locked vault and no way to ask for its passphrase — no terminal, no passphrase_command, nothing cached by unlock; the hint names the fixes; login with no built image that has the agent. 4 not found: rm of a provider with no credential, a task that does not exist. 130 when audit -f is interrupted.`},
	{Title: "EXAMPLES", Body: `Create the vault, store a key, and let cron jobs open it:

  terok-vault init
  terok-vault set anthropic
  terok-vault unlock --ttl 24h

Or open it with a password manager (config.toml):

  [vault]
  passphrase_command = ["pass", "show", "terok/vault"]

Store Claude Code's own login:

  terok-vault import anthropic ~/.claude/.credentials.json

Or sign in to a Claude subscription through Claude Code, in a container:

  terok-vault login claude

From a script (the key on stdin, never an argument):

  pass show anthropic-key | terok-vault set anthropic

A gateway on the host instead of the provider (config.toml):

  [vault.providers.anthropic]
  upstream = "http://127.0.0.1:8080"

Cut one task off the providers, and see what it asked:

  terok-vault revoke k3x9
  terok-vault audit k3x9 -f`},
}
