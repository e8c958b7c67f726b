package task

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/terok-ai/terok-go/lib/agent"
	"github.com/terok-ai/terok-go/lib/vault"
	"github.com/terok-ai/terok-go/lib/warden"
)

// A task whose agent has a vault provider (the roster's [vault]) reaches
// that provider through the vault's proxy in its warden. Its container
// gets a phantom token, minted for that container (at create, and again
// whenever the container is replaced), and the proxy's base URL on the
// task's loopback; the real credential stays on the host. The token is
// revoked when the task stops (the warden revokes at its end; stop and rm
// revoke too), when it is quarantined, and by terok panic. A task started
// again therefore gets a new container with a new token (see renew).

// NoCredentialError: the vault holds no credential for the provider a
// task's agent needs.
type NoCredentialError struct{ Provider, Agent string }

func (e *NoCredentialError) Error() string {
	return fmt.Sprintf("the vault holds no credential for %s, which agent %s needs", e.Provider, e.Agent)
}
func (e *NoCredentialError) Hint() string  { return "store one: terok-vault set " + e.Provider }
func (e *NoCredentialError) ExitCode() int { return 3 }

// UnvaultedError: the agent cannot run behind the vault, and the project
// does not let it run unvaulted.
type UnvaultedError struct{ Agent, Project, Why string }

func (e *UnvaultedError) Error() string {
	return fmt.Sprintf("agent %s cannot run behind the vault (%s), and project %s does not let it run unvaulted", e.Agent, e.Why, e.Project)
}
func (e *UnvaultedError) Hint() string {
	return fmt.Sprintf("to run it with its own login and direct egress, add to project %s's project.toml: [vault] unvaulted = [%q]", e.Project, e.Agent)
}
func (e *UnvaultedError) ExitCode() int { return 2 }

// VaultRoutes are the vault's routes: Routes', else the built-in ones.
func (r *Runner) VaultRoutes() (vault.Routes, error) {
	if r.Routes == nil {
		return vault.DefaultRoutes(), nil
	}
	return r.Routes()
}

// VaultTokens is the phantom tokens' file.
func (r *Runner) VaultTokens() *vault.Tokens { return vault.OpenTokens(r.Paths.VaultTokens()) }

// openVault opens the vault's store the first time it is called (a
// passphrase is asked at most once per command) and returns it after.
func (r *Runner) openVault(ctx context.Context) (*vault.Store, error) {
	if r.vaultStore != nil {
		return r.vaultStore, nil
	}
	if r.Vault == nil {
		return nil, errors.New("this command cannot open the vault")
	}
	st, err := r.Vault(ctx)
	if err != nil {
		return nil, err
	}
	r.vaultStore = st
	return st, nil
}

// checkVault opens the vault and checks that it holds a credential for
// provider, and that provider has a route: before anything of a task is
// made, so that a locked vault or a missing credential leaves nothing
// behind.
func (r *Runner) checkVault(ctx context.Context, provider, agentName string) error {
	st, err := r.openVault(ctx)
	if err != nil {
		return err
	}
	if _, err := st.Get(provider); err != nil {
		var nc *vault.NoCredentialError
		if errors.As(err, &nc) {
			return &NoCredentialError{Provider: provider, Agent: agentName}
		}
		return err
	}
	routes, err := r.VaultRoutes()
	if err != nil {
		return err
	}
	if _, ok := routes[provider]; !ok {
		return fmt.Errorf("the vault has no route for provider %s (agent %s's): configure one in config.toml [vault.providers.%s]", provider, agentName, provider)
	}
	return nil
}

// vaultEnv mints a phantom token for rec's next container and returns env
// with the agent's token and base URL variables set: the token goes in
// the roster's token_env, or its oauth_token_env for an OAuth credential;
// the base URL is the proxy's on the task's loopback plus the route's
// base path, or the roster's own (vault.base_path). The roster's
// vault.env is set too, with {base_url} in its values replaced.
func (r *Runner) vaultEnv(ctx context.Context, rec Record, env map[string]string) (map[string]string, error) {
	ag, ok := r.Roster.Get(rec.Agent)
	if !ok {
		return nil, &agent.UnknownError{Name: rec.Agent, Known: r.Roster.Names()}
	}
	if ag.Vault.TokenEnv == "" {
		return nil, fmt.Errorf("agent %s's roster entry names no vault variables any more (its task uses the vault's %s)", rec.Agent, rec.Vault)
	}
	if err := r.checkVault(ctx, rec.Vault, rec.Agent); err != nil {
		return nil, err
	}
	cred, err := r.vaultStore.Get(rec.Vault)
	if err != nil {
		return nil, err
	}
	routes, err := r.VaultRoutes()
	if err != nil {
		return nil, err
	}
	phantom, err := r.VaultTokens().Mint(rec.ID, rec.Project, rec.Vault)
	if err != nil {
		return nil, fmt.Errorf("minting the task's vault token: %w", err)
	}
	out := make(map[string]string, len(env)+2)
	for k, v := range env {
		out[k] = v
	}
	name := ag.Vault.TokenEnv
	if cred.Kind == vault.OAuth && ag.Vault.OAuthTokenEnv != "" {
		name = ag.Vault.OAuthTokenEnv
	}
	out[name] = phantom
	path := routes[rec.Vault].BasePath
	if ag.Vault.BasePath != "" {
		path = ag.Vault.BasePath
	}
	base := fmt.Sprintf("http://127.0.0.1:%d%s", warden.VaultPort, path)
	if ag.Vault.BaseURLEnv != "" {
		out[ag.Vault.BaseURLEnv] = base
	}
	for k, v := range ag.Vault.Env {
		out[k] = strings.ReplaceAll(v, "{base_url}", base)
	}
	return out, nil
}

// RevokeVault revokes every phantom token of the given tasks. It needs
// neither the vault's key nor Podman.
func (r *Runner) RevokeVault(ids ...string) error {
	if _, err := r.VaultTokens().Revoke(ids...); err != nil {
		return fmt.Errorf("revoking the task's vault tokens: %w", err)
	}
	return nil
}

// wardenGone waits until the warden of rec's last container is gone,
// ending it if it lingers: a vault task's warden revokes the task's
// tokens as it ends, which must not come after a new token is minted.
func (r *Runner) wardenGone(rec Record) {
	r.endWarden(rec)
	deadline := time.Now().Add(5 * time.Second)
	for warden.Alive(rec.WardenPID) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if warden.Alive(rec.WardenPID) {
		warden.Signal(rec.WardenPID, syscall.SIGKILL)
		for i := 0; warden.Alive(rec.WardenPID) && i < 100; i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// VaultUse is what show says of a task's use of the vault.
type VaultUse struct {
	Provider string   `json:"provider"`
	Tokens   []string `json:"tokens"`   // its live phantom tokens, masked
	Requests int      `json:"requests"` // requests its proxy served, from the vault's audit log
}

// VaultUse reads what a vault task's tokens and the vault's audit log say
// of it; nil for a task that uses no vault.
func (r *Runner) VaultUse(ctx context.Context, rec Record) (*VaultUse, error) {
	if rec.Vault == "" {
		return nil, nil
	}
	u := &VaultUse{Provider: rec.Vault, Tokens: []string{}}
	toks, err := r.VaultTokens().List(rec.ID)
	if err != nil {
		return u, err
	}
	for _, t := range toks {
		u.Tokens = append(u.Tokens, t.Masked)
	}
	err = vault.ReadAudit(ctx, r.Paths.VaultAudit(), rec.ID, false, func(vault.AuditEntry) error { u.Requests++; return nil })
	return u, err
}
