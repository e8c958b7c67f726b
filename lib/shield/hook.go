package shield

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	podmanconfig "go.podman.io/common/pkg/config"

	"github.com/terok-ai/terok-go/lib/taskid"
)

// Annotation is the container annotation that makes Podman run terok's
// OCI hook; its value is the task's id.
const Annotation = "terok.shield"

// The hook's registration.
const (
	// HookFile is the file name of the registration in a hooks directory.
	HookFile = "terok-shield.json"
	// HookStage: createRuntime hooks run after the container's namespaces
	// exist (its network namespace, with the runtime's process in it) and
	// before the container's own process starts; a failing one stops the
	// start. They run on every start of a container, restarts included.
	HookStage = "createRuntime"
	// HookTimeout bounds the hook's run, in seconds.
	HookTimeout = 10
	// HookCommand is the name the binary is run by (argv[0]): the terok
	// binary dispatches on it.
	HookCommand = "terok-shield"
	// HookBinaryName is the hook's own binary (cmd/terok-shield-hook),
	// installed beside terok: it links only what the hook runs, and starts
	// in a fraction of terok's time on every task's start
	// (docs/decisions.md, "Start time"). It takes the same arguments.
	HookBinaryName = "terok-shield-hook"
)

// HookBinary is the binary a registration made by the terok binary exe
// runs: the hook's own binary beside exe (links resolved) when there is
// an executable one, else exe itself.
func HookBinary(exe string) string {
	dir := filepath.Dir(exe)
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		dir = filepath.Dir(r)
	}
	own := filepath.Join(dir, HookBinaryName)
	if CheckHookBinary(own) == nil {
		return own
	}
	return exe
}

// HookInputError is a hook run refused for what it was given: a state
// that is not a task container's.
type HookInputError struct{ Msg string }

func (e *HookInputError) Error() string { return e.Msg }

// Hook is the hook's run (terok-shield hook, and the hook's own binary):
// it reads the container's state from stdin, checks that the container
// is a task's (its annotation a task id), and installs the default-deny
// ruleset in its network namespace (Install). It returns the task's id,
// and a *HookInputError for a state it refuses.
func Hook(stdin io.Reader) (string, error) {
	st, err := ReadHookState(stdin)
	if err != nil {
		return "", &HookInputError{err.Error()}
	}
	id, ok := st.Annotations[Annotation]
	if !ok {
		return "", &HookInputError{"the container has no " + Annotation + " annotation"}
	}
	if taskid.Valid(id) != nil {
		if len(id) > 40 {
			id = id[:40] + "..."
		}
		return "", &HookInputError{fmt.Sprintf("the %s annotation %s is not a task id", Annotation, strconv.Quote(id))}
	}
	if err := Install(st.Pid); err != nil {
		return id, fmt.Errorf("task %s: %w", id, err)
	}
	return id, nil
}

// Podman's hooks directories: the ones it reads as root when
// containers.conf names none (a rootless Podman then reads none at all).
const (
	HooksDirDistribution = "/usr/share/containers/oci/hooks.d"
	HooksDirAdmin        = "/etc/containers/oci/hooks.d"
)

// HookState is what an OCI runtime gives a hook on stdin (the container's
// state). Everything in it is outside input.
type HookState struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Status      string            `json:"status"`
	Pid         int               `json:"pid"`
	Bundle      string            `json:"bundle"`
	Annotations map[string]string `json:"annotations"`
}

// MaxHookState bounds the state read from stdin.
const MaxHookState = 1 << 20

// ReadHookState reads and checks the state: one JSON object, no more than
// MaxHookState bytes, with a process id.
func ReadHookState(r io.Reader) (HookState, error) {
	var st HookState
	b, err := io.ReadAll(io.LimitReader(r, MaxHookState+1))
	if err != nil {
		return st, fmt.Errorf("reading the container's state: %w", err)
	}
	if len(b) > MaxHookState {
		return st, fmt.Errorf("the container's state on stdin is larger than %d bytes", MaxHookState)
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	if err := d.Decode(&st); err != nil {
		return st, fmt.Errorf("the container's state on stdin is not valid JSON: %v", err)
	}
	if d.More() {
		return st, errors.New("the container's state on stdin has more than one JSON value")
	}
	if st.Pid <= 0 {
		return st, errors.New("the container's state has no process id: the hook must run at a stage where the container has one (createRuntime)")
	}
	return st, nil
}

// Install installs the default-deny ruleset — no task-specific entries,
// the host's addresses restricted, no heartbeat — in the network namespace
// of process pid, and verifies it. It refuses the host's own namespace
// (a container run with --network=host).
func Install(pid int) error {
	host, err := SharesHostNetNS(pid)
	if err != nil {
		return err
	}
	if host {
		return errors.New("the container shares the host's network namespace (--network=host); refusing to firewall the host")
	}
	c, err := Open(pid)
	if err != nil {
		return err
	}
	defer c.Close()
	var p Policy // Apply adds the host's addresses
	if err := c.Apply(p); err != nil {
		return err
	}
	if _, err := c.VerifyPolicy(p); err != nil {
		return fmt.Errorf("verifying the ruleset just applied: %w", err)
	}
	return nil
}

// hookConfig is an OCI hook registration, schema 1.0.0.
type hookConfig struct {
	Version string `json:"version"`
	Hook    struct {
		Path    string   `json:"path"`
		Args    []string `json:"args"`
		Timeout int      `json:"timeout"`
	} `json:"hook"`
	When struct {
		Annotations map[string]string `json:"annotations"`
	} `json:"when"`
	Stages []string `json:"stages"`
}

// HookJSON is the registration of terok's hook, run as binary (an
// absolute path to the terok binary) for every container that carries
// the annotation.
func HookJSON(binary string) ([]byte, error) {
	if !filepath.IsAbs(binary) {
		return nil, fmt.Errorf("the hook's binary must be an absolute path, not %q", binary)
	}
	var h hookConfig
	h.Version = "1.0.0"
	h.Hook.Path = binary
	h.Hook.Args = []string{HookCommand, "hook"}
	h.Hook.Timeout = HookTimeout
	h.When.Annotations = map[string]string{"^" + strings.ReplaceAll(Annotation, ".", `\.`) + "$": ".+"}
	h.Stages = []string{HookStage}
	b, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// WriteHook writes the registration into dir (made if missing) atomically
// and returns its path.
func WriteHook(dir, binary string) (string, error) {
	b, err := HookJSON(binary)
	if err != nil {
		return "", err
	}
	if err := CheckHookBinary(binary); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	p := filepath.Join(dir, HookFile)
	if err := writeAtomic(p, b); err != nil {
		return "", err
	}
	return p, nil
}

// writeAtomic writes a file readable by all by temporary file, fsync and
// rename, so Podman never reads half of it. No lock file: the directory
// is Podman's, and only .json files in it are hooks.
func writeAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp) // the write's error is the one to report
	}
	return err
}

// Installed describes a hook registration that InstallHook wrote or found
// in place.
type Installed struct {
	Hook       string `json:"hook"`       // the registration file
	Binary     string `json:"binary"`     // the terok binary it runs
	Registered bool   `json:"registered"` // Podman reads its directory
	Changed    bool   `json:"changed"`    // it was written, not already in place
}

// DefaultHookDir is the hooks directory a registration goes to when none
// is named: for root the first directory Podman reads; for another user
// their own ~/.config/containers/oci/hooks.d (the global ones are root's).
func DefaultHookDir(uid int, getenv func(string) string, hooksDirs []string) string {
	switch {
	case uid != 0:
		base := getenv("XDG_CONFIG_HOME")
		if base == "" {
			base = filepath.Join(getenv("HOME"), ".config")
		}
		return filepath.Join(base, "containers", "oci", "hooks.d")
	case len(hooksDirs) > 0:
		return hooksDirs[0]
	default:
		return HooksDirDistribution
	}
}

// InstallHook writes the registration for binary (links resolved) into
// dir, unless the same registration is already there, and says whether
// Podman reads that directory (hooksDirs).
func InstallHook(dir, binary string, hooksDirs []string) (Installed, error) {
	out, err := PlanInstallHook(dir, binary, hooksDirs)
	if err != nil || !out.Changed {
		return out, err
	}
	if _, err := WriteHook(dir, out.Binary); err != nil {
		out.Changed = false
		return out, err
	}
	return out, nil
}

// PlanInstallHook says what InstallHook would do, writing nothing: the
// registration it would leave, with Changed when it would write it.
func PlanInstallHook(dir, binary string, hooksDirs []string) (Installed, error) {
	if r, err := filepath.EvalSymlinks(binary); err == nil {
		binary = r
	}
	out := Installed{Hook: filepath.Join(dir, HookFile), Binary: binary, Registered: HookRegistered(dir, hooksDirs)}
	want, err := HookJSON(binary)
	if err != nil {
		return out, err
	}
	if err := CheckHookBinary(binary); err != nil {
		return out, err
	}
	have, err := os.ReadFile(out.Hook)
	out.Changed = err != nil || !bytes.Equal(have, want)
	return out, nil
}

// CheckHookBinary says whether binary can be the hook's: an absolute path
// to an executable file.
func CheckHookBinary(binary string) error {
	if !filepath.IsAbs(binary) {
		return fmt.Errorf("the hook's binary must be an absolute path, not %q", binary)
	}
	st, err := os.Stat(binary)
	if err != nil {
		return fmt.Errorf("the hook's binary: %w", err)
	}
	if !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("the hook's binary %s is not an executable file", binary)
	}
	return nil
}

// UninstallHook removes terok's registration from dir when it runs
// binary or the hook's own binary beside it (the same file, or one that no
// longer exists). A registration of
// another terok binary is left alone and its binary returned.
func UninstallHook(dir, binary string) (removed bool, other string, err error) {
	remove, other, err := PlanUninstallHook(dir, binary)
	if err != nil || !remove {
		return false, other, err
	}
	if err := os.Remove(filepath.Join(dir, HookFile)); err != nil {
		return false, "", err
	}
	return true, "", nil
}

// PlanUninstallHook says what UninstallHook would do, removing nothing:
// remove when dir has a registration that runs binary or the hook's own
// binary beside it (HookBinary; the same file, or one that no longer
// exists); other, the binary that another terok's registration there runs.
func PlanUninstallHook(dir, binary string) (remove bool, other string, err error) {
	p := filepath.Join(dir, HookFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, "", nil
	}
	if err != nil {
		return false, "", err
	}
	var h hookConfig
	if err := json.Unmarshal(b, &h); err != nil {
		return false, "", fmt.Errorf("%s: %w", p, err)
	}
	theirs, err := os.Stat(h.Hook.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return true, "", nil
	}
	for _, b := range []string{binary, HookBinary(binary)} {
		if ours, oerr := os.Stat(b); err == nil && oerr == nil && os.SameFile(ours, theirs) {
			return true, "", nil
		}
	}
	return false, h.Hook.Path, nil
}

// HookRegistered reports whether dir is among hooksDirs, the directories
// Podman reads (compared after resolving links).
func HookRegistered(dir string, hooksDirs []string) bool {
	clean := func(p string) string {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return r
		}
		return filepath.Clean(p)
	}
	return slices.ContainsFunc(hooksDirs, func(d string) bool { return clean(d) == clean(dir) })
}

// PodmanHooksDirs are the hooks directories Podman reads, from its own
// configuration (containers.conf), the way Podman works them out: when
// none are configured, root reads the distribution's and the admin's.
func PodmanHooksDirs() []string {
	conf, err := podmanconfig.Default()
	if err != nil {
		return nil
	}
	dirs := conf.Engine.HooksDir.Get()
	if len(dirs) == 0 && os.Getuid() == 0 {
		dirs = []string{HooksDirDistribution, HooksDirAdmin}
	}
	return dirs
}

// FindHook finds terok's hook registration in the directories Podman reads
// and checks that the binary it runs is there. Podman skips a hook whose
// binary is missing without a word, and a task would then start with no
// ruleset: its warden refuses to serve it, so nothing leaks, but nothing
// works either.
func FindHook() (file, binary string, err error) {
	dirs := PodmanHooksDirs()
	for _, d := range dirs {
		p := filepath.Join(d, HookFile)
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var h hookConfig
		if err := json.Unmarshal(b, &h); err != nil {
			return p, "", fmt.Errorf("%s: %w", p, err)
		}
		fi, err := os.Stat(h.Hook.Path)
		if err != nil || fi.Mode()&0o111 == 0 || !fi.Mode().IsRegular() {
			return p, h.Hook.Path, fmt.Errorf("%s runs %s, which is not an executable file", p, h.Hook.Path)
		}
		return p, h.Hook.Path, nil
	}
	return "", "", fmt.Errorf("no %s in Podman's hooks directories (%s)", HookFile, strings.Join(dirs, ", "))
}
