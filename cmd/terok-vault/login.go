package vaultcmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/terok-ai/terok-go/lib/agent"
	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/project"
	"github.com/terok-ai/terok-go/lib/session"
	"github.com/terok-ai/terok-go/lib/task"
	"github.com/terok-ai/terok-go/lib/vault"
)

// LoginCmd is `terok-vault login`.
type LoginCmd struct {
	Agent   string `arg:"" help:"The agent whose own sign-in runs ('terok-image agents' says which have one)." completion:"agent"`
	Project string `help:"The project whose image runs it (default: the first project, by name, whose built image has the agent)." placeholder:"P" completion:"project"`
}

func (c *LoginCmd) Run(env *cli.Env) error {
	// A person signs in, in a browser, and types or pastes what it
	// shows: nothing is made without one.
	if !env.Interactive() {
		return cli.Usagef("login runs the agent's own sign-in, which needs a person at a terminal, and stdin or stdout is not one").
			WithHint("without one, store an agent's credential file with 'terok-vault import PROVIDER FILE', or an API key with 'terok-vault set PROVIDER'")
	}
	s, err := openSession(env, true)
	if err != nil {
		return err
	}
	defer s.Close()
	roster, err := s.Roster()
	if err != nil {
		return err
	}
	ag, ok := roster.Get(c.Agent)
	if !ok {
		ue := &agent.UnknownError{Name: c.Agent, Known: roster.Names()}
		return cli.Usagef("%v", ue).WithHint("%s", ue.Hint())
	}
	if !ag.HasLogin() {
		return loginError(&task.NoLoginError{Agent: ag.Name})
	}
	provider := ag.Vault.Provider
	if _, err := knownProvider(s, provider); err != nil {
		return err
	}
	if c.Project != "" {
		if err := config.ValidName(c.Project); err != nil {
			return cli.Usagef("--project: %v", err)
		}
		if _, err := s.Projects().Load(c.Project); errors.Is(err, project.ErrNotFound) {
			return cli.NotFoundf("no project named %q", c.Project).WithHint("'terok-project ls' lists projects")
		} else if err != nil {
			return session.ConfigError(err)
		}
	}
	// The vault opens before the sign-in: a wrong passphrase costs no
	// login in a browser.
	store, err := s.OpenVault(env.Ctx)
	if err != nil {
		return mapError(err)
	}
	r, err := s.Runner(env.Ctx)
	if err != nil {
		return err
	}
	proj := c.Project
	if proj == "" {
		if proj, err = r.LoginProject(env.Ctx, ag.Name); err != nil {
			return loginError(err)
		}
	}
	data, err := r.Login(env.Ctx, task.LoginRequest{
		Project: proj, Agent: ag.Name,
		Started: func(rec task.Record) {
			fmt.Fprintf(env.Stderr, "%s: %s's own sign-in runs in a throwaway container (task %s of project %s's image), which reaches only %s's sign-in hosts; C-b d abandons it\n",
				env.Prog, ag.Label, rec.ID, proj, provider)
		},
		Attach: func(ctx context.Context, rec task.Record) (task.Attached, error) {
			return r.Attach(ctx, rec, env.Getenv("TERM"), env.Stdin, env.Stdout)
		},
	})
	if err != nil {
		return loginError(err)
	}
	p, cred, err := vault.ParseCredentialFile(data)
	clear(data)
	if err != nil {
		return cli.Failf("the file %s's login wrote: %v; nothing was stored", ag.Name, err).
			WithHint("run 'terok-vault login %s' again", ag.Name)
	}
	if p != provider {
		return cli.Failf("%s's login wrote a credential for %s, not %s; nothing was stored", ag.Name, p, provider)
	}
	cred.Source = "login:" + ag.Name
	if err := store.Set(provider, cred); err != nil {
		return mapError(err)
	}
	return printStored(env, s, Stored{Type: "logged_in", Provider: provider, Kind: cred.Kind, Expiry: cred.Expiry, Source: cred.Source})
}

// loginError maps lib/task's login errors to exit codes and hints; those
// that carry their own (a missing image, no image with the agent, an
// abandoned login) pass as they are.
func loginError(err error) error {
	var nl *task.NoLoginError
	if errors.As(err, &nl) {
		return cli.Usagef("%v", nl).WithHint("%s", nl.Hint())
	}
	return session.ConfigError(err)
}
