package task

import (
	"context"
	"path/filepath"
	"slices"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/policy"
	"github.com/terok-ai/terok-go/lib/warden"
)

// A task's shield: its egress policy is computed when the task is created
// and kept with the task (ShieldPath); its warden enforces it and writes
// the shield's audit log (ShieldAuditLog); commands reach the warden with
// Warden.

// ShieldPath is where a task's policy state (policy.State) is kept: the
// policy computed when the task was created, with every live change, so a
// restarted warden enforces the same.
func (r *Runner) ShieldPath(id string) string { return r.Paths.TaskShieldState(id) }

// ShieldAuditLog is a task's shield audit log: blocked attempts, refused
// names and rule changes, as JSON lines the task cannot write.
func (r *Runner) ShieldAuditLog(id string) string { return r.Paths.TaskShieldAudit(id) }

// LoadShield reads a task's shield state.
func (r *Runner) LoadShield(id string) (policy.State, error) {
	return policy.LoadState(r.ShieldPath(id))
}

// Warden is the client of task id's warden (which runs while the task
// does).
func (r *Runner) Warden(id string) *warden.Client { return warden.NewClient(r.Paths.Runtime, id) }

// taskPolicy computes the egress policy of a new task of project p.
func (r *Runner) taskPolicy(ctx context.Context, p config.Project, image string) (policy.State, error) {
	home := r.Getenv("HOME")
	host := policy.Host{Lookup: policy.CachedHostLookup(policy.HostLookup(r.Getenv, home),
		filepath.Join(r.Paths.Cache, "shield", "host-sources.json"), r.Getenv, home)}
	names := p.Shield.Profiles
	if len(names) == 0 {
		names = r.Global.Shield.Profiles
	}
	all, err := policy.Profiles(r.Paths)
	if err != nil {
		return policy.State{}, err
	}
	for _, n := range names {
		if slices.Contains(all[n].Follow, "distribution-mirrors") {
			host.Mirrors = policy.ImageMirrors(ctx, r.Paths, image, r.probe)
			break
		}
	}
	pol, err := policy.For(r.Paths, r.Global, p, host)
	if err != nil {
		return policy.State{}, err
	}
	st := policy.State{Allow: pol.Allow, Deny: pol.Deny, Notes: pol.Notes, Posture: policy.PostureUp}
	// Every task is kept from the model providers' real hosts (its agent
	// reaches its provider through the vault), but for those its project
	// lifts explicitly.
	routes, err := r.VaultRoutes()
	if err != nil {
		return policy.State{}, err
	}
	hosts := map[string][]string{}
	for _, prov := range routes.Providers() {
		hosts[prov] = routes.Hosts(prov)
	}
	if err := st.DenyProviders(hosts, p.Vault.Direct); err != nil {
		return policy.State{}, err
	}
	return st, nil
}

// probe runs a command in a throwaway container (a policy.Probe).
func (r *Runner) probe(ctx context.Context, image string, command ...string) (string, int, error) {
	p, err := r.Engine.RunProbe(ctx, image, command...)
	return p.Output, p.ExitCode, err
}
