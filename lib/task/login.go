package task

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/terok-ai/terok-go/lib/agent"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/image"
	"github.com/terok-ai/terok-go/lib/policy"
	"github.com/terok-ai/terok-go/lib/project"
	"github.com/terok-ai/terok-go/lib/warden"
)

// A login (`terok-vault login AGENT`) runs the agent's own sign-in in a
// throwaway task: a container of the project's image made and hardened
// like every task's, with its warden and shield, but whose policy lets it
// reach nothing but the provider's sign-in and token hosts (the roster's
// [login] hosts and the route's token endpoint), and which clones no
// workspace. The person's terminal is attached to its session, as for
// `terok-task run -i`. When the sign-in ends, the credential file it
// wrote is read out of the stopped container through the engine, and the
// task is removed without a trace: container, workspace, warden, record,
// token, policy and logs.

// MaxCredentialFile bounds the credential file a login reads out of its
// container (lib/vault's bound for a credential file).
const MaxCredentialFile = 1 << 20

// LoginFrom is the From of a login's allow entries: "login: AGENT".
const LoginFrom = "login: "

// LoginRequest is what `terok-vault login` asks for.
type LoginRequest struct {
	Project string // whose image runs the sign-in; it must have the agent
	Agent   string
	// Attach puts the person's terminal on the login's session until it
	// ends (Runner.Attach with the command's terminal).
	Attach func(context.Context, Record) (Attached, error)
	// Started, if not nil, is told the login's task once it runs.
	Started func(Record)
}

// NoLoginError: the agent's roster entry has no [login] table.
type NoLoginError struct{ Agent string }

func (e *NoLoginError) Error() string {
	return fmt.Sprintf("agent %s has no login of its own in the roster (its entry has no [login] table)", e.Agent)
}
func (e *NoLoginError) Hint() string {
	return "'terok-image agents' says which agents have one; store a credential with 'terok-vault import PROVIDER FILE' or 'terok-vault set PROVIDER' instead"
}
func (e *NoLoginError) ExitCode() int { return 2 }

// LoginAbandonedError: the person detached from the login's session, or
// the login was interrupted.
type LoginAbandonedError struct{ Agent, Why string }

func (e *LoginAbandonedError) Error() string {
	return fmt.Sprintf("agent %s's login was %s; nothing was stored, and its container is gone", e.Agent, e.Why)
}
func (e *LoginAbandonedError) Hint() string  { return "run 'terok-vault login " + e.Agent + "' again" }
func (e *LoginAbandonedError) ExitCode() int { return 1 }

// LoginFailedError: the agent's sign-in ended with an error, or wrote no
// credential file.
type LoginFailedError struct {
	Agent string
	Code  int    // the sign-in's exit code (0 when it wrote no file)
	File  string // the credential file it should have written
}

func (e *LoginFailedError) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("agent %s's login exited with code %d; nothing was stored", e.Agent, e.Code)
	}
	return fmt.Sprintf("agent %s's login ended without writing %s; nothing was stored", e.Agent, e.File)
}
func (e *LoginFailedError) ExitCode() int { return 1 }

// Login runs agent's own sign-in in a throwaway task of project's image
// (see above) and returns the credential file it wrote. Whatever
// happens, nothing of the task is left when it returns.
func (r *Runner) Login(ctx context.Context, req LoginRequest) (data []byte, err error) {
	p, err := project.Store{Paths: r.Paths}.Load(req.Project)
	if err != nil {
		return nil, err
	}
	ag, ok := r.Roster.Get(req.Agent)
	if !ok {
		return nil, &agent.UnknownError{Name: req.Agent, Known: r.Roster.Names()}
	}
	if !ag.HasLogin() {
		return nil, &NoLoginError{Agent: ag.Name}
	}
	img, err := r.loginImage(ctx, req.Project, ag.Name)
	if err != nil {
		return nil, err
	}
	sh, err := r.loginPolicy(ag)
	if err != nil {
		return nil, err
	}
	plan := createPlan{
		Record: Record{Project: req.Project, Agent: ag.Name, Mode: Interactive, BaseBranch: p.Branch, Image: img,
			Hardening: HardeningFor(r.Global, loginProject(p), r.Rootless), Login: true},
		Argv: ag.LoginArgv(), Env: cloneEnv(ag.Env),
	}
	rec, err := r.makeTask(ctx, plan, sh)
	if err != nil {
		return nil, err // makeTask left nothing
	}
	defer func() {
		if perr := r.purge(context.WithoutCancel(ctx), rec.ID); perr != nil {
			err = errors.Join(err, fmt.Errorf("removing the login's task %s: %w", rec.ID, perr))
			data = nil
		}
	}()
	if rec, err = r.Start(ctx, rec); err != nil {
		return nil, err
	}
	if req.Started != nil {
		req.Started(rec)
	}
	a, err := req.Attach(ctx, rec)
	switch {
	case ctx.Err() != nil:
		return nil, &LoginAbandonedError{Agent: ag.Name, Why: "interrupted"}
	case err != nil:
		return nil, err
	case a.Detached:
		return nil, &LoginAbandonedError{Agent: ag.Name, Why: "left (detached)"}
	case a.Outcome.Status == Missing:
		return nil, fmt.Errorf("the login's container vanished")
	case a.Outcome.Code != 0:
		return nil, &LoginFailedError{Agent: ag.Name, Code: a.Outcome.Code}
	}
	return r.readLoginFile(ctx, rec, ag)
}

// NoLoginImageError: no project's image (or not the one asked for) has
// the agent.
type NoLoginImageError struct {
	Agent   string
	Project string   // "" when no project was named
	Agents  []string // the named project's image's agents
}

func (e *NoLoginImageError) Error() string {
	if e.Project == "" {
		return fmt.Sprintf("no project has an image with agent %s to run its login", e.Agent)
	}
	return fmt.Sprintf("project %s's image has no agent %s (its agents: %s)", e.Project, e.Agent, strings.Join(e.Agents, ", "))
}
func (e *NoLoginImageError) Hint() string {
	return "build the image of a project whose agents include " + e.Agent + " ('terok-image build PROJECT'), and name it with --project"
}
func (e *NoLoginImageError) ExitCode() int { return 3 }

// loginImage is project proj's image, built, when it has agent name.
func (r *Runner) loginImage(ctx context.Context, proj, name string) (string, error) {
	img, ok, err := image.LoadRecord(r.Paths, proj)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", &ImageMissingError{Project: proj}
	}
	if !contains(img.Agents, name) {
		return "", &NoLoginImageError{Agent: name, Project: proj, Agents: img.Agents}
	}
	if found, err := r.Engine.FirstLocalImage(ctx, img.Image()); err != nil {
		return "", err
	} else if found == "" {
		return "", &ImageMissingError{Project: proj}
	}
	return img.Image(), nil
}

// LoginProject is the first project, by name, whose image is built and
// has agent name: where `terok-vault login` runs when no project is named.
func (r *Runner) LoginProject(ctx context.Context, name string) (string, error) {
	names, err := project.Store{Paths: r.Paths}.Names()
	if err != nil {
		return "", err
	}
	for _, n := range names {
		_, err := r.loginImage(ctx, n, name)
		var (
			im *ImageMissingError
			nl *NoLoginImageError
		)
		switch {
		case err == nil:
			return n, nil
		case !errors.As(err, &im) && !errors.As(err, &nl):
			return "", err
		}
	}
	return "", &NoLoginImageError{Agent: name}
}

// readLoginFile reads the credential file the sign-in wrote, out of its
// stopped container through the engine. Podman 4.3 was seen to find
// nothing in a container it had just stopped (see carryHome), so absence
// is retried for a while before it counts.
func (r *Runner) readLoginFile(ctx context.Context, rec Record, ag *agent.Agent) ([]byte, error) {
	file := path.Join(AgentHome, ag.Login.File)
	for i := 0; ; i++ {
		b, err := r.Engine.ReadFile(ctx, rec.Container, file, MaxCredentialFile)
		switch {
		case err == nil:
			return b, nil
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("reading the credential file: %w", err)
		case i == 10:
			return nil, &LoginFailedError{Agent: ag.Name, File: "~/" + ag.Login.File}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// loginProject is project p as a login's hardening sees it: its limits,
// none of its opt-outs (a container that handles a credential gets the
// full confinement, whatever the project's agents need).
func loginProject(p config.Project) config.Project {
	p.Run.CapAdd = nil
	p.Run.NoNewPrivileges = true
	p.Run.GPUs = nil
	return p
}

func cloneEnv(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// loginPolicy is the egress policy of agent ag's login: its [login] hosts
// and its provider's token endpoint allowed, nothing else; every
// provider's real hosts denied as in every task, but for those allowed.
func (r *Runner) loginPolicy(ag *agent.Agent) (policy.State, error) {
	routes, err := r.VaultRoutes()
	if err != nil {
		return policy.State{}, err
	}
	rt, ok := routes[ag.Vault.Provider]
	if !ok {
		return policy.State{}, fmt.Errorf("the vault has no route for provider %s (agent %s's): configure one in config.toml [vault.providers.%s]", ag.Vault.Provider, ag.Name, ag.Vault.Provider)
	}
	hosts := slices.Clone(ag.Login.Hosts)
	if u, err := url.Parse(rt.TokenURL); err == nil && rt.TokenURL != "" && !loopback(u.Hostname()) {
		hosts = append(hosts, u.Hostname())
	}
	st := policy.State{Posture: policy.PostureUp}
	seen := map[string]bool{}
	for _, h := range hosts {
		t, err := config.ParseTarget(h)
		if err != nil {
			return policy.State{}, fmt.Errorf("agent %s's login host: %w", ag.Name, err)
		}
		if !seen[t.String()] {
			seen[t.String()] = true
			st.Allow = append(st.Allow, policy.Entry{Target: t, Text: t.String(), From: LoginFrom + ag.Name})
		}
	}
	denied := map[string][]string{}
	for _, prov := range routes.Providers() {
		for _, h := range routes.Hosts(prov) {
			lifted := slices.ContainsFunc(st.Allow, func(e policy.Entry) bool { return e.Text == h || e.Target.Matches(h) })
			if !lifted {
				denied[prov] = append(denied[prov], h)
			}
		}
	}
	if err := st.DenyProviders(denied, nil); err != nil {
		return policy.State{}, err
	}
	return st, nil
}

// loopback: a name or address a task's own loopback would answer, never
// a host to allow.
func loopback(h string) bool {
	if h == "" || strings.EqualFold(h, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

// purge removes task id without a trace: its container (stopped if it
// runs), its warden, its workspace volume, its token, its policy and
// shield audit log, its warden's log and its record, the record last, so
// that a purge that fails half-way leaves a task 'terok-task rm' removes.
// (A task's other logs, ID.output-N.log, come from replacing its
// container, which a login never does.)
func (r *Runner) purge(ctx context.Context, id string) error {
	rec, err := r.Store().Load(id)
	if err != nil {
		return err
	}
	if err := r.removeContainer(ctx, rec.Container); err != nil {
		return err
	}
	r.wardenGone(rec)
	if err := r.Engine.RemoveVolume(ctx, rec.Volume); err != nil {
		return fmt.Errorf("removing the workspace: %w", err)
	}
	files := []string{r.secretPath(id), r.ShieldPath(id), r.ShieldAuditLog(id), r.wardenLog(id),
		warden.ControlPath(r.Paths.Runtime, id), r.Store().path(id)}
	for _, f := range files {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
