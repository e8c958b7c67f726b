package vaultcmd

import (
	"fmt"
	"slices"
	"strings"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/session"
	"github.com/terok-ai/terok-go/lib/vault"
)

// TokensCmd is `terok-vault tokens`.
type TokensCmd struct {
	Task string `arg:"" optional:"" help:"Only this task's tokens (id or unique prefix; default: every task's)."`
}

var tokenColumns = []cli.Column[vault.TokenInfo]{
	{Header: "TASK", Value: func(t vault.TokenInfo) string { return t.Task }},
	{Header: "PROJECT", Value: func(t vault.TokenInfo) string { return t.Project }},
	{Header: "PROVIDER", Value: func(t vault.TokenInfo) string { return t.Provider }},
	{Header: "TOKEN", Value: func(t vault.TokenInfo) string { return t.Masked }},
	{Header: "CREATED", Value: func(t vault.TokenInfo) string { return when(t.Created) }},
}

func (c *TokensCmd) Run(env *cli.Env) error {
	s, err := openSession(env, false)
	if err != nil {
		return err
	}
	defer s.Close()
	toks := vault.OpenTokens(s.Paths.VaultTokens())
	id := ""
	if c.Task != "" {
		others, err := tokenTasks(toks)
		if err != nil {
			return err
		}
		if id, err = taskID(s, c.Task, others); err != nil {
			return err
		}
	}
	live, err := toks.List(id)
	if err != nil {
		return mapError(err)
	}
	return cli.List(env, live, tokenColumns)
}

// RevokeCmd is `terok-vault revoke`.
type RevokeCmd struct {
	Tasks []string `arg:"" optional:"" name:"task" help:"Tasks whose tokens are revoked, or - to read them from stdin (a task's id, or the task or id field of a JSON line)."`
	All   bool     `help:"Revoke every task's tokens (asks first on a terminal)."`
	Yes   bool     `short:"y" help:"Do not ask for confirmation (--all)."`
}

// Revoked is the JSON line of revoke, one per task (one in all for --all).
type Revoked struct {
	Type   string `json:"type"`
	Task   string `json:"task,omitempty"`
	Tokens int    `json:"tokens"`
}

var revokedColumns = []cli.Column[Revoked]{
	{Header: "TASK", Value: func(r Revoked) string {
		if r.Task == "" {
			return "(all)"
		}
		return r.Task
	}},
	{Header: "REVOKED", Value: func(r Revoked) string { return fmt.Sprint(r.Tokens) }},
}

func (c *RevokeCmd) Run(env *cli.Env) error {
	if c.All && len(c.Tasks) > 0 {
		return cli.Usagef("give tasks or --all, not both")
	}
	if !c.All && len(c.Tasks) == 0 {
		return cli.Usagef("missing TASK (or --all)").WithHint("'terok-vault tokens' lists the live tokens")
	}
	s, err := openSession(env, false)
	if err != nil {
		return err
	}
	defer s.Close()
	toks := vault.OpenTokens(s.Paths.VaultTokens())
	if c.All {
		live, err := toks.List("")
		if err != nil {
			return mapError(err)
		}
		if len(live) == 0 {
			return cli.List(env, []Revoked{{Type: "revoked"}}, revokedColumns)
		}
		if err := env.Confirm(fmt.Sprintf("Revoke all %s? Running tasks lose the vault until they restart.", plural(len(live), "phantom token")), c.Yes); err != nil {
			return err
		}
		n, err := toks.RevokeAll()
		if err != nil {
			return mapError(err)
		}
		return cli.List(env, []Revoked{{Type: "revoked", Tokens: n}}, revokedColumns)
	}
	refs, _, err := env.Targets(c.Tasks, "task", "id")
	if err != nil {
		return err
	}
	// Every target is resolved before any token is revoked.
	others, err := tokenTasks(toks)
	if err != nil {
		return err
	}
	var ids []string
	for _, r := range refs {
		id, err := taskID(s, r, others)
		if err != nil {
			return err
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	out := make([]Revoked, 0, len(ids))
	for _, id := range ids {
		n, err := toks.Revoke(id)
		if err != nil {
			_ = cli.List(env, out, revokedColumns) // what was done so far; the failure is the error to report
			return mapError(err)
		}
		out = append(out, Revoked{Type: "revoked", Task: id, Tokens: n})
	}
	return cli.List(env, out, revokedColumns)
}

// AuditCmd is `terok-vault audit`.
type AuditCmd struct {
	Task   string `arg:"" optional:"" help:"Only this task's requests (id or unique prefix; default: every task's)."`
	Follow bool   `short:"f" help:"Wait for new requests and print them as they come, until interrupted."`
}

var auditColumns = []cli.Column[vault.AuditEntry]{
	{Header: "TIME", Value: func(e vault.AuditEntry) string { return e.Time.Local().Format("2006-01-02 15:04:05") }},
	{Header: "TASK", Value: func(e vault.AuditEntry) string { return e.Task }},
	{Header: "PROVIDER", Value: func(e vault.AuditEntry) string { return e.Provider }},
	{Header: "METHOD", Value: func(e vault.AuditEntry) string { return e.Method }},
	{Header: "PATH", Value: func(e vault.AuditEntry) string { return e.Path }},
	{Header: "STATUS", Value: func(e vault.AuditEntry) string { return fmt.Sprint(e.Status) }},
	{Header: "IN/OUT", Value: func(e vault.AuditEntry) string { return fmt.Sprintf("%d/%d", e.BytesIn, e.BytesOut) }},
	{Header: "MS", Value: func(e vault.AuditEntry) string { return fmt.Sprintf("%.0f", e.DurationMS) }},
	{Header: "OUTCOME", Value: func(e vault.AuditEntry) string { return e.Outcome }},
}

func (c *AuditCmd) Run(env *cli.Env) error {
	s, err := openSession(env, false)
	if err != nil {
		return err
	}
	defer s.Close()
	id := ""
	if c.Task != "" {
		if id, err = taskID(s, c.Task, nil); err != nil {
			return err
		}
	}
	out := &cli.Stream[vault.AuditEntry]{Env: env, Columns: auditColumns}
	return vault.ReadAudit(env.Ctx, s.Paths.VaultAudit(), id, c.Follow, out.Print)
}

// RoutesCmd is `terok-vault routes`.
type RoutesCmd struct {
	Quiet bool `short:"q" help:"Print the providers' names only."`
}

// Route is the JSON line of routes: where a provider's requests go and
// how the real credential is presented.
type Route struct {
	Provider      string   `json:"provider"`
	Upstream      string   `json:"upstream"`
	Header        string   `json:"header"`
	Prefix        string   `json:"prefix,omitempty"`
	OAuthUpstream string   `json:"oauth_upstream,omitempty"`
	TokenURL      string   `json:"token_url,omitempty"`
	BasePath      string   `json:"base_path,omitempty"`
	Paths         []string `json:"paths,omitempty"`
	Agents        []string `json:"agents"`
	Configured    bool     `json:"configured"`
}

var routeColumns = []cli.Column[Route]{
	{Header: "PROVIDER", Value: func(r Route) string { return r.Provider }},
	{Header: "UPSTREAM", Value: func(r Route) string { return r.Upstream }},
	{Header: "HEADER", Value: func(r Route) string { return r.Header + ": " + r.Prefix + "KEY" }},
	{Header: "AGENTS", Value: func(r Route) string { return strings.Join(r.Agents, ",") }},
	{Header: "CONFIG", Value: func(r Route) string { return map[bool]string{true: "config.toml", false: "built-in"}[r.Configured] }},
}

func (c *RoutesCmd) Run(env *cli.Env) error {
	s, err := openSession(env, true)
	if err != nil {
		return err
	}
	defer s.Close()
	rs, err := routes(s)
	if err != nil {
		return err
	}
	names := sortedKeys(rs)
	if c.Quiet {
		for _, n := range names {
			fmt.Fprintln(env.Stdout, n)
		}
		return nil
	}
	out := make([]Route, 0, len(names))
	for _, n := range names {
		r, err := routeView(s, rs[n])
		if err != nil {
			return err
		}
		out = append(out, r)
	}
	return cli.List(env, out, routeColumns)
}

func routeView(s *session.Session, rt vault.Route) (Route, error) {
	agents, err := agentsOf(s, rt.Provider)
	if err != nil {
		return Route{}, err
	}
	if agents == nil {
		agents = []string{}
	}
	_, configured := s.Global.Vault.Providers[rt.Provider]
	return Route{Provider: rt.Provider, Upstream: rt.Upstream, Header: rt.APIKeyHeader, Prefix: rt.APIKeyPrefix,
		OAuthUpstream: rt.OAuthUpstream, TokenURL: rt.TokenURL, BasePath: rt.BasePath, Paths: rt.Paths,
		Agents: agents, Configured: configured}, nil
}
