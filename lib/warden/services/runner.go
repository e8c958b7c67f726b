package services

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/taskid"
	"github.com/terok-ai/terok-go/lib/vault"
	"github.com/terok-ai/terok-go/lib/warden"
)

// Runner is what a warden knows of terok: its paths, config.toml and the
// environment. It is not lib/task's Runner, whose package links the
// container engine's client (the Podman bindings, containers/image): a
// warden has no use for them, and their code and their init()s' heap
// would be resident in every task's warden (docs/decisions.md "A lean
// warden").
type Runner struct {
	Paths  config.Paths
	Global config.Global
	Getenv func(string) string
	// Routes are the vault's routes; nil: vault.ConfiguredRoutes(Global).
	Routes func() (vault.Routes, error)
}

// record is what a warden reads of a task's record (lib/task.Record, which
// writes it).
type record struct {
	ID      string `json:"id"`
	Project string `json:"project"`
	Vault   string `json:"vault,omitempty"`
}

// records reads task records.
type records struct{ paths config.Paths }

// Load reads task id's record.
func (s records) Load(id string) (record, error) {
	var rec record
	b, err := os.ReadFile(s.paths.TaskRecord(id))
	if errors.Is(err, os.ErrNotExist) {
		return rec, fmt.Errorf("no such task: %s", id)
	}
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("task %s's record: %w", id, err)
	}
	return rec, nil
}

// Store reads the task records.
func (r *Runner) Store() records { return records{r.Paths} }

// Token is task id's gate token.
func (r *Runner) Token(id string) (string, error) {
	b, err := os.ReadFile(r.Paths.TaskSecret(id))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// ShieldPath is task id's shield state.
func (r *Runner) ShieldPath(id string) string { return r.Paths.TaskShieldState(id) }

// ShieldAuditLog is task id's shield audit log.
func (r *Runner) ShieldAuditLog(id string) string { return r.Paths.TaskShieldAudit(id) }

// VaultRoutes are the vault's routes.
func (r *Runner) VaultRoutes() (vault.Routes, error) {
	if r.Routes != nil {
		return r.Routes()
	}
	return vault.ConfiguredRoutes(r.Global)
}

// VaultTokens is the phantom tokens' file.
func (r *Runner) VaultTokens() *vault.Tokens { return vault.OpenTokens(r.Paths.VaultTokens()) }

// Name is the warden's own binary, installed beside terok: a task's warden
// runs it (warden.Args), and links only what Main needs.
const Name = warden.BinaryName

// Command is the terok-warden process: Main with the process's arguments,
// environment and standard streams, until SIGINT or SIGTERM ends it (then
// it closes its services, and exits 128 plus the signal, as terok's
// commands do).
func Command() int {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	var got atomic.Int32
	go func() {
		s := (<-ch).(syscall.Signal)
		got.Store(int32(s))
		cancel()
	}()
	code := Main(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	signal.Stop(ch)
	cancel()
	if s := got.Load(); s != 0 && code == 0 {
		return 128 + int(s)
	}
	return code
}

// Main is the terok-warden binary: `terok-warden ID --pid PID
// [--vault-key-stdin]`, as lib/task starts it (warden.Spawn), with terok's
// paths in the environment. It serves task ID until the container's process
// PID exits or a signal ends it, and returns the exit code: 0 when the task
// ended, 2 for a bad command line, 1 for any other failure, said on stderr
// (the warden's log).
func Main(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	fail := func(code int, err error) int {
		fmt.Fprintf(stderr, "%s: %v\n", Name, err)
		return code
	}
	fs := flag.NewFlagSet(Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	pid := fs.Int("pid", 0, "the container's first process")
	keyStdin := fs.Bool(strings.TrimPrefix(warden.VaultKeyFlag, "--"), false, "read the vault's key from stdin")
	if len(args) < 1 || strings.HasPrefix(args[0], "-") {
		return fail(2, errors.New("usage: terok-warden ID --pid PID [--vault-key-stdin]"))
	}
	id := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *pid <= 0 {
		return fail(2, errors.New("usage: terok-warden ID --pid PID [--vault-key-stdin]"))
	}
	if err := taskid.Valid(id); err != nil {
		return fail(2, err)
	}
	paths, err := config.ResolvePaths(getenv, os.Getuid())
	if err != nil {
		return fail(1, err)
	}
	if err := paths.CheckSharedRuntime(os.Getuid()); err != nil {
		return fail(1, err)
	}
	g, err := config.LoadGlobal(paths.ConfigFile())
	if err != nil {
		return fail(1, err)
	}
	var key *vault.Key
	if *keyStdin {
		if key, err = vault.ReadKey(stdin); err != nil {
			return fail(1, err)
		}
	}
	r := &Runner{Paths: paths, Global: g, Getenv: getenv}
	err = Serve(ctx, r, id, *pid, key, func() { fmt.Fprintln(stdout, warden.ReadyLine) })
	if err != nil && ctx.Err() == nil {
		return fail(1, err)
	}
	return 0
}
