package task

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/terok-ai/terok-go/lib/agent"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/gate"
	"github.com/terok-ai/terok-go/lib/image"
	"github.com/terok-ai/terok-go/lib/policy"
	"github.com/terok-ai/terok-go/lib/project"
	"github.com/terok-ai/terok-go/lib/store"
	"github.com/terok-ai/terok-go/lib/vault"
)

// Mode is how a task runs its program.
type Mode string

// Modes of a task.
const (
	Headless    Mode = "headless"    // the agent with a prompt and a timeout; its output streams
	Interactive Mode = "interactive" // the agent in a tmux session a terminal attaches to
	Shell       Mode = "shell"       // a login shell in that session instead of the agent
)

// Workspace is where a task's workspace volume is mounted.
const Workspace = "/workspace"

// ImageMissingError: the project has no built image.
type ImageMissingError struct{ Project string }

func (e *ImageMissingError) Error() string {
	return fmt.Sprintf("project %s has no image yet", e.Project)
}
func (e *ImageMissingError) Hint() string  { return "build it: terok-image build " + e.Project }
func (e *ImageMissingError) ExitCode() int { return 3 }

// Runner creates, starts and follows tasks.
type Runner struct {
	Engine   *engine.Engine
	Paths    config.Paths
	Global   config.Global
	Roster   *agent.Roster
	Getenv   func(string) string
	Rootless bool
	// Exe is the terok binary the warden runs as.
	Exe string
	// Trace, if set, is told when each phase of Create and Start ends
	// (see cli.Env.Tracer).
	Trace func(phase string)
	// Vault opens the vault's store (lib/session: Session.OpenVault) for
	// the tasks whose agent reaches its provider through the vault: their
	// creation checks the credential, and their warden is handed the key.
	// Nil: such tasks cannot be made or started.
	Vault func(context.Context) (*vault.Store, error)
	// Routes are the vault's routes (lib/session: VaultRoutes); nil: the
	// built-in ones.
	Routes func() (vault.Routes, error)

	vaultStore *vault.Store // opened once, by openVault
}

func (r *Runner) trace(phase string) {
	if r.Trace != nil {
		r.Trace(phase)
	}
}

// Store is the runner's task store.
func (r *Runner) Store() Store { return Store{Dir: r.Paths.TasksDir()} }

// Request is what `terok-task run` asks for.
type Request struct {
	Project string
	Agent   string // "" for the project's default
	Prompt  string
	Model   string
	Timeout time.Duration // 0 for the configured one
	Mode    Mode
	Branch  string // the branch to start from; "" for the project's default
}

// secretPath is where a task's gate token is kept (0600, never in the
// record, which is printed).
func (r *Runner) secretPath(id string) string { return r.Paths.TaskSecret(id) }

// Create makes a task: its record, its gate token, its workspace volume
// and its container (not started). On failure nothing is left behind.
//
// It plans first (planCreate: what the request and the project's
// configuration ask for, decided without touching anything), then checks
// what the task needs from the host (the project's image, its gate, the
// egress policy's sources: taskNeeds), then makes the task (makeTask).
func (r *Runner) Create(ctx context.Context, req Request) (Record, error) {
	p, err := project.Store{Paths: r.Paths}.Load(req.Project)
	if err != nil {
		return Record{}, err
	}
	plan, err := planCreate(req, p, r.Global, r.Roster, r.Rootless)
	if err != nil {
		return Record{}, err
	}
	if plan.Record.Vault != "" {
		// A locked vault (exit 3 at once without a terminal) or a missing
		// credential stops the task before anything of it is made.
		if err := r.checkVault(ctx, plan.Record.Vault, plan.Record.Agent); err != nil {
			return Record{}, err
		}
		r.trace("create.vault")
	}
	needs, err := r.taskNeeds(ctx, req.Project, p)
	if err != nil {
		return Record{}, err
	}
	r.trace("create.checks")
	plan.Record.Image = needs.image
	return r.makeTask(ctx, plan, needs.shield)
}

// createPlan is a task as Create will make it.
type createPlan struct {
	Record Record            // without id, image or creation time
	Argv   []string          // the agent's command line (or the shell's)
	Env    map[string]string // the agent's environment
}

// planCreate decides what a new task of project p is: its agent (the
// one asked for, else the project's first), the agent's command line for
// the mode, its timeout (asked, else the project's, else the global one),
// its base branch and its hardening. It reads nothing and writes nothing.
func planCreate(req Request, p config.Project, g config.Global, roster *agent.Roster, rootless bool) (createPlan, error) {
	installed := p.EffectiveAgents(g)
	name := req.Agent
	if name == "" {
		if len(installed) == 0 {
			return createPlan{}, fmt.Errorf("project %s names no agent; pass --agent", req.Project)
		}
		name = installed[0]
	}
	ag, ok := roster.Get(name)
	if !ok {
		return createPlan{}, &agent.UnknownError{Name: name}
	}
	if !contains(installed, name) {
		return createPlan{}, fmt.Errorf("agent %s is not installed in project %s's image (its agents: %s)", name, req.Project, strings.Join(installed, ", "))
	}
	timeout := req.Timeout
	if timeout == 0 {
		timeout = p.Run.Timeout.D()
		if timeout == 0 {
			timeout = g.Run.Timeout.D()
		}
	}
	plan := createPlan{Argv: []string{"bash", "-l"}, Env: map[string]string{}}
	if req.Mode != Shell {
		launch := agent.Launch{Headless: req.Mode == Headless, Prompt: req.Prompt, Model: req.Model}
		if launch.Headless {
			launch.Timeout = timeout
		}
		cmd, err := ag.Command(launch)
		if err != nil {
			return createPlan{}, err
		}
		plan.Argv, plan.Env = cmd.Argv, cmd.Env
	}
	base := req.Branch
	if base == "" {
		base = p.Branch
	}
	if err := config.ValidBranch(base); err != nil {
		return createPlan{}, err
	}
	plan.Record = Record{
		Project: req.Project, Agent: name, Mode: req.Mode, Model: req.Model,
		BaseBranch: base, Hardening: HardeningFor(g, p, rootless),
	}
	// The agent reaches its provider through the vault; one that cannot
	// be pointed at it runs only where the project says so. A shell runs
	// no agent, and gets neither.
	if req.Mode != Shell {
		switch {
		case ag.Vault.Provider != "":
			plan.Record.Vault = ag.Vault.Provider
		case ag.Vault.Unsupported != "" && !contains(p.Vault.Unvaulted, name):
			return createPlan{}, &UnvaultedError{Agent: name, Project: req.Project, Why: ag.Vault.Unsupported}
		}
	}
	if req.Mode == Headless {
		plan.Record.Timeout = timeout.String()
		plan.Record.Prompts = []Prompt{newPrompt(PromptRun, req.Prompt, false)}
	}
	return plan, nil
}

// needs is what a new task needs from the host, found by taskNeeds.
type needs struct {
	image  string       // the project's image, built
	shield policy.State // the task's egress policy
}

// taskNeeds checks that project proj's image is built and makes its gate
// if it has none, then computes the new task's egress policy.
func (r *Runner) taskNeeds(ctx context.Context, proj string, p config.Project) (needs, error) {
	img, ok, err := image.LoadRecord(r.Paths, proj)
	if err != nil {
		return needs{}, err
	}
	if !ok {
		return needs{}, &ImageMissingError{Project: proj}
	}
	if found, _ := r.Engine.FirstLocalImage(ctx, img.Image()); found == "" {
		return needs{}, &ImageMissingError{Project: proj}
	}
	m, err := gate.New(r.Paths, proj, p, r.Global, r.Getenv)
	if err != nil {
		return needs{}, err
	}
	if exists, err := m.Exists(); err != nil {
		return needs{}, err
	} else if !exists {
		if _, err := m.Sync(ctx, false, false); err != nil {
			return needs{}, fmt.Errorf("making the project's gate: %w", err)
		}
	}
	sh, err := r.taskPolicy(ctx, p, img.Image())
	if err != nil {
		return needs{}, err
	}
	return needs{image: img.Image(), shield: sh}, nil
}

// makeTask makes a planned task: its record, its token, its policy
// state, its workspace volume and its container, in that order, undoing
// what it made when a later step fails.
func (r *Runner) makeTask(ctx context.Context, plan createPlan, shieldState policy.State) (rec Record, err error) {
	rec = plan.Record
	rec.Created = time.Now().UTC()
	st := r.Store()
	if err := st.Create(&rec); err != nil {
		return rec, err
	}
	// Undoing a failed creation: the failure is the error to report.
	cleanup := []func(){func() { _ = os.Remove(st.path(rec.ID)) }}
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				cleanup[i]()
			}
		}
	}()
	token, err := newToken()
	if err != nil {
		return rec, err
	}
	if err := os.MkdirAll(filepath.Dir(r.secretPath(rec.ID)), 0o700); err != nil {
		return rec, err
	}
	if err := store.WriteFile(r.secretPath(rec.ID), []byte(token+"\n"), 0o600); err != nil {
		return rec, err
	}
	cleanup = append(cleanup, func() { _ = os.Remove(r.secretPath(rec.ID)) })

	if err := os.MkdirAll(filepath.Dir(r.ShieldPath(rec.ID)), 0o700); err != nil {
		return rec, err
	}
	if err := shieldState.Save(r.ShieldPath(rec.ID)); err != nil {
		return rec, err
	}
	cleanup = append(cleanup, func() { _ = os.Remove(r.ShieldPath(rec.ID)) })
	env := plan.Env
	if rec.Vault != "" {
		if env, err = r.vaultEnv(ctx, rec, env); err != nil {
			return rec, err
		}
		cleanup = append(cleanup, func() { _ = r.RevokeVault(rec.ID) })
	}
	r.trace("create.record")
	if err := r.Engine.CreateVolume(ctx, rec.Volume, r.taskLabels(rec)); err != nil {
		return rec, fmt.Errorf("creating the workspace: %w", err)
	}
	cleanup = append(cleanup, func() { _ = r.Engine.RemoveVolume(context.Background(), rec.Volume) })

	r.trace("create.volume")
	spec, err := r.containerSpec(rec, plan.Argv, env, token)
	if err != nil {
		return rec, err
	}
	unlock, err := r.engineLock()
	if err != nil {
		return rec, err
	}
	r.trace("create.spec")
	_, err = r.Engine.CreateContainer(ctx, spec)
	unlock()
	r.trace("create.container")
	if err != nil {
		return rec, fmt.Errorf("creating the container: %w", err)
	}
	cleanup = append(cleanup, func() { _ = r.Engine.RemoveContainer(context.Background(), rec.Container) })
	if err := st.Update(rec.ID, func(x *Record) error { *x = rec; return nil }); err != nil {
		return rec, err
	}
	if len(rec.Hardening.OptOuts) > 0 {
		// Every weakening of the defaults is on record where tasks cannot
		// write.
		if err := store.AppendJSON(r.AuditLog(), AuditEntry{Time: time.Now().UTC(), Task: rec.ID,
			Project: rec.Project, Event: "hardening-opt-out", OptOuts: rec.Hardening.OptOuts}); err != nil {
			return rec, err
		}
	}
	return rec, nil
}

// AuditLog is the tasks' audit log.
func (r *Runner) AuditLog() string { return filepath.Join(r.Paths.AuditDir(), "tasks.jsonl") }

// AuditEntry is a line of the tasks' audit log.
type AuditEntry struct {
	Time    time.Time `json:"time"`
	Task    string    `json:"task"`
	Project string    `json:"project"`
	Event   string    `json:"event"`
	OptOuts []string  `json:"opt_outs,omitempty"`
}

// engineLock serialises the container changes of concurrent terok
// commands on this host: Podman 4.3 was seen to deadlock its storage when
// many containers with automatic user namespaces were created, initialised
// and started at once. The lock is the engine's, not the state tree's: for
// the rootful engine one for the host (/run/lock), for a rootless one one
// per user (XDG_RUNTIME_DIR), whatever TEROK_RUNTIME_DIR says.
func (r *Runner) engineLock() (func(), error) {
	return EngineLock(r.Paths, r.Getenv, r.Rootless)
}

// Token reads a task's gate token.
func (r *Runner) Token(id string) (string, error) {
	b, err := os.ReadFile(r.secretPath(id))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func newToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// gitIdentity is the agents' commit author: config, else the host user's
// git identity, else terok's.
func (r *Runner) gitIdentity() (string, string) {
	name, email := r.Global.Git.Name, r.Global.Git.Email
	hostGit := func(key string) string {
		out, err := exec.Command("git", "config", "--global", "--get", key).Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	if name == "" {
		name = hostGit("user.name")
	}
	if email == "" {
		email = hostGit("user.email")
	}
	if name == "" {
		name = "terok agent"
	}
	if email == "" {
		email = "agent@terok.invalid"
	}
	return name, email
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ErrNoContainer: the task's container is gone.
var ErrNoContainer = errors.New("the task's container is gone")
