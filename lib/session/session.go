// Package session gives a command what it works on, set up one way for
// every command (in the spirit of gh's cmdutil.Factory): terok's paths and
// configuration, loaded once when the session opens, and the Podman engine,
// the agent roster and a task runner, opened only when first asked for and
// closed by Close. A command opens one session, defers its Close, and never
// resolves paths, loads config.toml or connects to Podman by hand.
//
// Its errors are the cli package's, with their exit codes and hints: a path
// that cannot be resolved is "not set up" (exit 3), a broken configuration
// file is a failure whose hint says what to fix (ConfigError), whichever
// command met it.
//
// (A task's interactive session, the tmux session in its container, is
// lib/task's; this is a command's session with terok.)
package session

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/terok-ai/terok-go/lib/agent"
	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/project"
	"github.com/terok-ai/terok-go/lib/task"
	"github.com/terok-ai/terok-go/lib/vault"
	"github.com/terok-ai/terok-go/lib/warden"
)

// Session is one command's view of terok on this host. It is not safe for
// concurrent use: a command opens what it needs from one goroutine.
type Session struct {
	Env   *cli.Env
	Paths config.Paths
	// Global is config.toml, loaded by Open. A session from OpenPaths
	// loads it only when the engine or a runner needs it.
	Global config.Global

	loaded bool
	engine *engine.Engine
	roster *agent.Roster
	runner *task.Runner

	// connect is engine.Connect; tests replace it.
	connect func(context.Context, engine.Options) (*engine.Engine, error)
}

// Open resolves terok's paths and loads config.toml.
func Open(env *cli.Env) (*Session, error) {
	s, err := OpenPaths(env)
	if err != nil {
		return nil, err
	}
	if err := s.loadConfig(); err != nil {
		return nil, err
	}
	return s, nil
}

// OpenPaths resolves terok's paths only, for verbs that must work whatever
// config.toml says: those that talk to a task's warden, read its records or
// audit logs, or check the configuration themselves.
func OpenPaths(env *cli.Env) (*Session, error) {
	p, err := config.ResolvePaths(env.Getenv, os.Getuid())
	if err != nil {
		return nil, cli.NotSetUpf("%v", err)
	}
	if err := p.CheckSharedRuntime(os.Getuid()); err != nil {
		return nil, cli.NotSetUpf("%v", err).WithHint("set XDG_RUNTIME_DIR (or TEROK_RUNTIME_DIR) to a directory of your own, mode 0700")
	}
	return &Session{Env: env, Paths: p, connect: engine.Connect}, nil
}

func (s *Session) loadConfig() error {
	if s.loaded {
		return nil
	}
	g, err := config.LoadGlobal(s.Paths.ConfigFile())
	if err != nil {
		return ConfigError(err)
	}
	s.Global, s.loaded = g, true
	return nil
}

// ConfigError turns a problem in a file terok reads (config.toml, a
// project.toml, an agent's or a profile's file) into a failure with the
// hint that says what to fix; other errors pass unchanged.
func ConfigError(err error) error {
	var fe *config.FileError
	if errors.As(err, &fe) {
		e := cli.Failf("%s", fe.Error())
		e.Hint = fe.Hint
		return e
	}
	return err
}

// Projects is the store of projects.
func (s *Session) Projects() project.Store { return project.Store{Paths: s.Paths} }

// Engine connects to Podman the first time it is called (see
// engine.Connect: terok's own service is started when no socket answers)
// and returns the same engine afterwards. ctx bounds the engine's life:
// the command's context, or a shorter one for a command that must not
// wait for Podman long (terok panic).
func (s *Session) Engine(ctx context.Context) (*engine.Engine, error) {
	if s.engine != nil {
		return s.engine, nil
	}
	if err := s.loadConfig(); err != nil {
		return nil, err
	}
	e, err := s.connect(ctx, engine.OptionsFromConfig(s.Paths, s.Global, s.Env.Getenv))
	if err != nil {
		return nil, err
	}
	s.engine = e
	return e, nil
}

// Roster loads the agent roster (built in, with the user's overrides) the
// first time it is called.
func (s *Session) Roster() (*agent.Roster, error) {
	if s.roster != nil {
		return s.roster, nil
	}
	r, err := agent.Load(s.Paths.AgentsDir())
	if err != nil {
		return nil, ConfigError(err)
	}
	s.roster = r
	return r, nil
}

// Runner returns a task runner with everything it needs: the engine
// (connected within ctx, as Engine), whether it is rootless, the roster,
// and this binary, which the task's warden runs as. It is made once.
func (s *Session) Runner(ctx context.Context) (*task.Runner, error) {
	if s.runner != nil {
		return s.runner, nil
	}
	e, err := s.Engine(ctx)
	if err != nil {
		return nil, err
	}
	rootless, err := e.Rootless(ctx)
	if err != nil {
		return nil, err
	}
	roster, err := s.Roster()
	if err != nil {
		return nil, err
	}
	exe, err := wardenExe()
	if err != nil {
		return nil, err
	}
	s.runner = &task.Runner{Engine: e, Paths: s.Paths, Global: s.Global, Roster: roster,
		Getenv: s.Env.Getenv, Rootless: rootless, Exe: exe, Vault: s.OpenVault, Routes: s.vaultRoutes}
	return s.runner, nil
}

// wardenExe is the binary a task's warden runs as: the warden's own,
// terok-warden, installed beside this one (it links only what a warden
// runs; docs/decisions.md "A lean warden"); without it, as before it
// existed, this binary, which answers to terok and terok-task
// (warden.Args). Under another command's name — a hard link or a copy named
// terok-vault, as the tests' binaries are; installed links are symbolic,
// and resolve to terok — it is the terok-task beside it.
func wardenExe() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if own := filepath.Join(filepath.Dir(exe), warden.BinaryName); fileExists(own) {
		return own, nil
	}
	if b := filepath.Base(exe); b != "terok" && b != "terok-task" {
		if sib := filepath.Join(filepath.Dir(exe), "terok-task"); fileExists(sib) {
			return sib, nil
		}
	}
	return exe, nil
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// VaultKeySource is how this session finds the vault's key (see
// vault.KeySource): the kernel keyring, config's passphrase_command, and a
// password prompt only when a person is at a terminal. Without a terminal
// and without those, opening the vault fails at once with a
// *vault.LockedError (exit 3): cron and systemd timers never hang.
func (s *Session) VaultKeySource() (vault.KeySource, error) {
	if err := s.loadConfig(); err != nil {
		return vault.KeySource{}, err
	}
	ks := vault.KeySource{
		Keyring:        true,
		Command:        s.Global.Vault.PassphraseCommand,
		CommandTimeout: time.Duration(s.Global.Vault.PassphraseTimeout),
	}
	if s.Env.Interactive() {
		ks.Prompt = func(context.Context) (string, error) {
			return s.Env.AskSecret("Vault passphrase", "set vault.passphrase_command, or run 'terok-vault unlock' first")
		}
	}
	return ks, nil
}

// OpenVault opens the vault's store with VaultKeySource.
func (s *Session) OpenVault(ctx context.Context) (*vault.Store, error) {
	ks, err := s.VaultKeySource()
	if err != nil {
		return nil, err
	}
	return vault.Open(ctx, s.Paths.VaultDir(), ks)
}

// RunnerWithoutEngine returns a task runner that never reaches Podman, for
// what needs none: task records, the shield's state and audit logs, the
// tasks' wardens (a warden itself; terok panic, which must cut tasks off
// before Podman answers). Calling a method that needs the engine on it is a
// programming error.
func (s *Session) RunnerWithoutEngine() *task.Runner {
	return &task.Runner{Paths: s.Paths, Global: s.Global, Getenv: s.Env.Getenv, Routes: s.vaultRoutes}
}

func (s *Session) vaultRoutes() (vault.Routes, error) {
	if err := s.loadConfig(); err != nil {
		return nil, err
	}
	return VaultRoutes(s.Global)
}

// ResolveTask turns a task id or a unique prefix of one into the task's
// id: exit 4 when no task has it, 2 when it is ambiguous or not an id.
func (s *Session) ResolveTask(ref string) (string, error) {
	id, err := s.RunnerWithoutEngine().Store().Resolve(ref)
	switch {
	case errors.Is(err, task.ErrNotFound):
		return "", cli.NotFoundf("no task %q", ref).WithHint("'terok-task ls' lists tasks")
	case errors.Is(err, task.ErrAmbiguous):
		return "", cli.Usagef("%v", err).WithHint("give more characters of the id")
	case err != nil:
		return "", cli.Usagef("%v", err)
	}
	return id, nil
}

// Close closes what the session opened (the engine's connection; terok's
// own Podman service, if it started one, exits when idle). A session may
// be closed more than once.
func (s *Session) Close() {
	if s.engine != nil {
		s.engine.Close()
		s.engine, s.runner = nil, nil
	}
}
