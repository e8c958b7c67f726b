// Command terok-vault keeps the model providers' real credentials on the
// host, encrypted, and gives tasks worthless phantom tokens instead: a
// task's warden swaps its phantom for the real credential, on the way to
// that provider only.
//
// Synopsis:
//
//	terok-vault init [--passphrase-stdin]
//	terok-vault status
//	terok-vault unlock [--ttl DURATION] [--passphrase-stdin]
//	terok-vault lock
//	terok-vault set PROVIDER                 (the API key on a terminal, or stdin's first line)
//	terok-vault import PROVIDER FILE|-
//	terok-vault login AGENT [--project P]     (on a terminal: the agent's own sign-in)
//	terok-vault ls
//	terok-vault rm PROVIDER
//	terok-vault tokens [TASK]
//	terok-vault revoke TASK... | - | --all [--yes]
//	terok-vault audit [TASK] [-f]
//	terok-vault routes [-q]
//
// What goes where: results on stdout (JSON lines when it is not a
// terminal); errors and hints on stderr. Secrets come from a terminal
// (never echoed) or from stdin, never from the command line, and are never
// printed — except the recovery passphrase, once, by init. Only one thing
// reads stdin in a run: the passphrase (--passphrase-stdin), the API key
// (set), the credential file (import -) or the targets (revoke -).
//
// This package holds the grammar and the output; lib/vault does the work.
package vaultcmd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/session"
	"github.com/terok-ai/terok-go/lib/store"
	"github.com/terok-ai/terok-go/lib/task"
	"github.com/terok-ai/terok-go/lib/vault"
)

// Command is terok-vault's entry in the command table.
var Command = cli.Command{
	Name:    "terok-vault",
	Summary: "the credential vault: real keys stay on the host, tasks get phantom tokens",
	Detail: "The vault keeps the model providers' real credentials (API keys, OAuth tokens) encrypted in one " +
		"file on the host. A task whose agent uses a provider gets a phantom token instead, bound to that task " +
		"and provider, and a base URL pointing at its warden's proxy on the task's own loopback; the proxy " +
		"replaces the phantom by the real credential and forwards the request to that provider only. The key " +
		"that opens the store comes from the kernel keyring (filled by unlock, for a while), the " +
		"passphrase_command of config.toml, or a prompt when a person is at a terminal; without any of them a " +
		"command that needs it exits 3 at once, so cron and timers never hang.",
	Grammar:  func() any { return &Grammar{} },
	Sections: sections,
}

// Grammar is terok-vault's command line.
type Grammar struct {
	cli.Globals
	Init   InitCmd   `cmd:"" help:"Create the vault with a passphrase; prints the recovery passphrase once."`
	Status StatusCmd `cmd:"" help:"Report the vault's state: created, unlocked, how it opens, credentials and live tokens (needs no key)."`
	Unlock UnlockCmd `cmd:"" help:"Cache the vault's key in the kernel keyring for a while, so that tasks and commands need no passphrase."`
	Lock   LockCmd   `cmd:"" help:"Forget the key cached in the kernel keyring. Running tasks keep working: their wardens were handed the key when they started."`
	Set    SetCmd    `cmd:"" help:"Store a provider's API key: asked on a terminal, else the first line of stdin."`
	Import ImportCmd `cmd:"" help:"Store the credential of an agent's own file (Claude Code's .credentials.json or ~/.claude.json, Codex's auth.json)."`
	Login  LoginCmd  `cmd:"" help:"Run an agent's own sign-in in a throwaway container that reaches only its provider's sign-in hosts, and store the credential it writes (needs a terminal)."`
	Ls     LsCmd     `cmd:"" help:"List the stored credentials (never a secret) and the tasks using them."`
	Rm     RmCmd     `cmd:"" help:"Remove a provider's credential."`
	Tokens TokensCmd `cmd:"" help:"List live phantom tokens, masked (needs no key)."`
	Revoke RevokeCmd `cmd:"" help:"Revoke tasks' phantom tokens for good (needs no key)."`
	Audit  AuditCmd  `cmd:"" help:"Print the vault proxy's audit log: one line per request (needs no key)."`
	Routes RoutesCmd `cmd:"" help:"List the providers' routes: upstream, credential header, the agents that use them."`
}

// maxSecretLine bounds a passphrase or an API key read from stdin.
const maxSecretLine = 64 << 10

// firstLine reads the first line of r without its line end: what a
// secret read from stdin is. More than max bytes without a line end is an
// error, not an allocation.
func firstLine(r io.Reader, max int, what string) (string, error) {
	line, err := bufio.NewReaderSize(io.LimitReader(r, int64(max)+1), 4096).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", cli.Failf("reading the %s from stdin: %v", what, err)
	}
	if len(line) > max {
		return "", cli.Usagef("the %s on stdin is longer than %d bytes", what, max)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// mapError turns the vault's errors into exit codes and hints. Errors
// that carry their own code and hint (locked, not initialized, no
// credential, the keyring unavailable) pass as they are.
func mapError(err error) error {
	var (
		ee *vault.ExistsError
		ce *store.CorruptError
		ke *vault.KeyError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		return cli.Failf("%v", err).WithHint("'terok-vault status' reports on it; the passphrase or the recovery passphrase opens it")
	case errors.Is(err, vault.ErrWrongPassphrase):
		if strings.HasPrefix(err.Error(), "passphrase_command") {
			return cli.Failf("%v", err).WithHint("the first line that vault.passphrase_command prints is taken as the passphrase")
		}
		return cli.Failf("%v", err).WithHint("the recovery passphrase that init printed opens it too")
	case errors.As(err, &ce), errors.As(err, &ke):
		return cli.Failf("%v", err).WithHint("the vault's files are damaged or not this vault's: nothing was changed; restore them from a backup")
	}
	return err
}

// openSession opens the command's session: with config.toml when the verb
// needs it (routes, passphrase_command), else terok's paths only, so that
// revoking tokens and reading the audit work whatever config.toml says.
func openSession(env *cli.Env, config bool) (*session.Session, error) {
	if config {
		return session.Open(env)
	}
	return session.OpenPaths(env)
}

// routes are the vault's routes with config.toml's providers applied.
func routes(s *session.Session) (vault.Routes, error) {
	r, err := session.VaultRoutes(s.Global)
	if err != nil {
		return nil, cli.Failf("%v", err).WithHint("fix the table in config.toml ('terok-project config check' checks it)")
	}
	return r, nil
}

// knownProvider checks that p is a provider the vault has a route for: a
// credential stored for any other would never be used.
func knownProvider(s *session.Session, p string) (vault.Route, error) {
	if err := vault.ValidProvider(p); err != nil {
		return vault.Route{}, cli.Usagef("%v", err)
	}
	r, err := routes(s)
	if err != nil {
		return vault.Route{}, err
	}
	rt, ok := r[p]
	if !ok {
		return vault.Route{}, cli.Usagef("unknown provider %q", p).WithHint(
			"the known providers: %s; another one needs a [vault.providers.%s] table with its upstream in config.toml",
			strings.Join(sortedKeys(r), ", "), p)
	}
	return rt, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// taskID resolves a task reference for the token and audit verbs: an id
// or unique prefix of a task terok knows; failing that, a unique prefix of
// one of others (the tasks of live tokens: a token may outlive its task's
// record), or a full id.
func taskID(s *session.Session, ref string, others []string) (string, error) {
	id, err := s.ResolveTask(ref)
	if err == nil || cli.CodeOf(err) != cli.ExitNotFound {
		return id, err
	}
	var found []string
	for _, o := range others {
		if strings.HasPrefix(o, ref) && !slices.Contains(found, o) {
			found = append(found, o)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return "", cli.Usagef("%q is a prefix of more than one task's id: %s", ref, strings.Join(found, ", ")).WithHint("give more characters of the id")
	case task.ValidID(ref) == nil:
		return ref, nil
	}
	return "", err
}

// tokenTasks are the tasks of the live tokens.
func tokenTasks(toks *vault.Tokens) ([]string, error) {
	live, err := toks.List("")
	if err != nil {
		return nil, mapError(err)
	}
	out := make([]string, 0, len(live))
	for _, t := range live {
		out = append(out, t.Task)
	}
	return out, nil
}

// agentsOf are the roster's agents whose [vault] provider is p, by name.
func agentsOf(s *session.Session, p string) ([]string, error) {
	roster, err := s.Roster()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range roster.All() {
		if a.Vault.Provider == p {
			out = append(out, a.Name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// plural is "1 credential", "2 credentials".
func plural(n int, what string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}
