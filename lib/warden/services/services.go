package services

import (
	"context"
	"errors"
	"fmt"

	"github.com/terok-ai/terok-go/lib/clearance"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/gate"
	"github.com/terok-ai/terok-go/lib/gate/endpoint"
	"github.com/terok-ai/terok-go/lib/project"
	"github.com/terok-ai/terok-go/lib/vault"
	"github.com/terok-ai/terok-go/lib/warden"
	"github.com/terok-ai/terok-go/lib/warden/clearsvc"
	"github.com/terok-ai/terok-go/lib/warden/gatesvc"
	"github.com/terok-ai/terok-go/lib/warden/shieldsvc"
	"github.com/terok-ai/terok-go/lib/warden/vaultsvc"
	"github.com/terok-ai/terok-go/lib/warden/websvc"
)

// Serve is the warden process of task id: it runs the task's services
// until the container's process pid exits (or ctx ends). ready is called
// once every service serves. key is the vault's key, handed over by the
// command that started the task (nil when the task's agent uses no vault).
func Serve(ctx context.Context, r *Runner, id string, pid int, key *vault.Key, ready func()) error {
	warden.Lean() // many idle wardens on one host (docs/decisions.md "A lean warden")
	announce := ready
	ready = func() {
		if announce != nil {
			announce()
		}
		warden.Settle()
	}
	rec, err := r.Store().Load(id)
	if err != nil {
		return err
	}
	token, err := r.Token(id)
	if err != nil {
		return fmt.Errorf("reading the task's token: %w", err)
	}
	p, err := project.Store{Paths: r.Paths}.Load(rec.Project)
	if err != nil {
		return err
	}
	m, err := gate.New(r.Paths, rec.Project, p, r.Global, r.Getenv)
	if err != nil {
		return err
	}
	var vs *vaultsvc.Service
	var cs *clearsvc.Service
	cfg := shieldsvc.Config{State: r.ShieldPath(id), Audit: r.ShieldAuditLog(id), Resolvers: r.Global.Shield.Resolvers,
		// Quarantine revokes the task's vault tokens at once, whatever
		// becomes of the warden afterwards.
		OnQuarantine: func() {
			if vs != nil {
				vs.Revoke()
			}
		},
		// Refused names and blocked connections become the clearance's
		// pending requests (dropped until its queue is open).
		OnAttempt: func(a clearance.Attempt) { cs.Attempt(a) }}
	// Hold mode: the resolver holds a name outside the policy while its
	// request is pending, and the firewall drops what it would reject.
	if mode, hold := p.EffectiveClearance(r.Global); mode == config.ClearanceHold {
		cfg.Hold = func(ctx context.Context, a clearance.Attempt) bool { return cs.Hold(ctx, a) }
		cfg.HoldTimeout = hold
	}
	// Name-bound egress: TCP to learned addresses is checked by the name
	// it presents.
	if nb := r.Global.Shield.NameBinding; nb != config.NameBindingOff {
		cfg.Names = &shieldsvc.Names{PolicyBinding: nb == config.NameBindingPolicy}
		for _, p := range r.Global.Shield.AddressPorts {
			cfg.Names.AddressPorts = append(cfg.Names.AddressPorts, uint16(p))
		}
	}
	shield := shieldsvc.New(cfg)
	// The clearance's queue: defaults until the project configures it.
	cs = clearsvc.New(clearsvc.Config{Project: rec.Project, Shield: shield})
	w := &warden.Warden{
		ID: id, Pid: pid, Control: warden.ControlPath(r.Paths.Runtime, id), Ready: ready,
		// Started in this order, closed in the reverse one. The shield
		// first: the agent starts only once the gate answers, and the gate
		// answers only once the task's policy is applied and verified; the
		// vault's proxy after them, so nothing reaches a provider before
		// the policy that denies the providers' real hosts is in force.
		// The clearance right after the shield, whose changes and audit
		// log it uses (and closed before it).
		Services: []warden.Service{
			shield,
			cs,
			&gatesvc.Service{Endpoint: &endpoint.Endpoint{Mirror: m, Tokens: []endpoint.Token{{Secret: token, Task: id}}}, Closed: shield.Quarantined},
			websvc.New(r.Paths, id),
		},
	}
	if rec.Vault != "" {
		if vs, err = vaultService(ctx, r, rec, key, shield.Quarantined); err != nil {
			return err
		}
		w.Services = append(w.Services, vs)
	}
	return w.Run(ctx)
}

// vaultService is the vault's proxy of task rec, over the store opened
// with key; closed says whether the task is quarantined.
func vaultService(ctx context.Context, r *Runner, rec record, key *vault.Key, closed func() bool) (*vaultsvc.Service, error) {
	if key == nil {
		return nil, errors.New("the task's agent uses the vault, and no key was handed to its warden")
	}
	st, err := vault.Open(ctx, r.Paths.VaultDir(), vault.KeySource{Key: key})
	if err != nil {
		return nil, fmt.Errorf("the task's vault: %w", err)
	}
	routes, err := r.VaultRoutes()
	if err != nil {
		return nil, err
	}
	return vaultsvc.New(vaultsvc.Config{
		Project: rec.Project, Tokens: r.VaultTokens(), Credentials: &vault.Refresher{Store: st, Routes: routes},
		Routes: routes, Audit: r.Paths.VaultAudit(), MaxBody: int64(r.Global.Vault.MaxBody), Closed: closed,
	}), nil
}
