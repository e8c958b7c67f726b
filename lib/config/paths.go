package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Paths are the four roots terok keeps things under, resolved once per
// command from the environment.
type Paths struct {
	Config  string `json:"config_dir"`
	State   string `json:"state_dir"`
	Data    string `json:"data_dir"`
	Runtime string `json:"runtime_dir"`
	Cache   string `json:"cache_dir"`
	// Source says where each root came from: "env", "xdg", "home" or "system".
	Source map[string]string `json:"-"`
}

// ResolvePaths computes the roots. TEROK_CONFIG_DIR, TEROK_STATE_DIR,
// TEROK_DATA_DIR, TEROK_RUNTIME_DIR and TEROK_CACHE_DIR override each one;
// otherwise root uses the system locations and everyone else the XDG base
// directories.
func ResolvePaths(getenv func(string) string, uid int) (Paths, error) {
	p := Paths{Source: map[string]string{}}
	home := getenv("HOME")
	type root struct {
		dst                 *string
		name, env, xdg      string
		homeRel, systemPath string
	}
	runtimeDefault := ""
	if x := getenv("XDG_RUNTIME_DIR"); x == "" {
		runtimeDefault = filepath.Join(os.TempDir(), "terok-"+strconv.Itoa(uid))
	}
	roots := []root{
		{&p.Config, "config", "TEROK_CONFIG_DIR", "XDG_CONFIG_HOME", ".config", "/etc/terok"},
		{&p.State, "state", "TEROK_STATE_DIR", "XDG_STATE_HOME", ".local/state", "/var/lib/terok/state"},
		{&p.Data, "data", "TEROK_DATA_DIR", "XDG_DATA_HOME", ".local/share", "/var/lib/terok/data"},
		{&p.Runtime, "runtime", "TEROK_RUNTIME_DIR", "XDG_RUNTIME_DIR", "", "/run/terok"},
		{&p.Cache, "cache", "TEROK_CACHE_DIR", "XDG_CACHE_HOME", ".cache", SystemCacheDir},
	}
	for _, r := range roots {
		switch {
		case getenv(r.env) != "":
			*r.dst, p.Source[r.name] = getenv(r.env), "env"
		case uid == 0:
			*r.dst, p.Source[r.name] = r.systemPath, "system"
		case getenv(r.xdg) != "":
			*r.dst, p.Source[r.name] = filepath.Join(getenv(r.xdg), "terok"), "xdg"
		case r.name == "runtime":
			*r.dst, p.Source[r.name] = runtimeDefault, "tmp"
		case home != "":
			*r.dst, p.Source[r.name] = filepath.Join(home, r.homeRel, "terok"), "home"
		default:
			return Paths{}, fmt.Errorf("cannot place the %s directory: neither %s, %s nor HOME is set", r.name, r.env, r.xdg)
		}
		if !filepath.IsAbs(*r.dst) {
			return Paths{}, fmt.Errorf("%s directory %q is not an absolute path", r.name, *r.dst)
		}
		*r.dst = filepath.Clean(*r.dst)
	}
	return p, nil
}

// SystemCacheDir is root's cache root. Its rootfs/ directory also serves
// other users: a base root file system made there once can be imported by
// anyone (see terok-image base).
const SystemCacheDir = "/var/cache/terok"

// ConfigFile is the global config.toml.
func (p Paths) ConfigFile() string { return filepath.Join(p.Config, "config.toml") }

// ProjectsDir holds one directory per project.
func (p Paths) ProjectsDir() string { return filepath.Join(p.Config, "projects") }

// ProjectDir is a project's config directory; name must be valid (ValidName).
func (p Paths) ProjectDir(name string) string { return filepath.Join(p.ProjectsDir(), name) }

// ProjectFile is a project's project.toml.
func (p Paths) ProjectFile(name string) string {
	return filepath.Join(p.ProjectDir(name), "project.toml")
}

// AgentsDir holds the user's agent roster files (NAME.toml), which extend
// and override the built-in roster.
func (p Paths) AgentsDir() string { return filepath.Join(p.Config, "agents") }

// ImagesDir holds terok-image's records: the last build of each project and
// the package family of each base image seen.
func (p Paths) ImagesDir() string { return filepath.Join(p.State, "images") }

// RootfsDir keeps base root file systems as tarballs, so that a base image
// is made once and imported again in seconds.
func (p Paths) RootfsDir() string { return filepath.Join(p.Cache, "rootfs") }

// ArchiveDir keeps what `rm` verbs removed.
func (p Paths) ArchiveDir() string { return filepath.Join(p.State, "archive") }

// PodmanSocket is the socket of the Podman API service terok starts itself
// when none answers.
func (p Paths) PodmanSocket() string { return filepath.Join(p.Runtime, "podman", "podman.sock") }

// GateDir holds the git gate's mirrors, one bare repository per project.
func (p Paths) GateDir() string { return filepath.Join(p.Data, "gate") }

// MirrorDir is a project's gate mirror; name must be valid (ValidName).
func (p Paths) MirrorDir(name string) string { return filepath.Join(p.GateDir(), name+".git") }

// GateStateDir holds the gate's records of a project (which task owns
// which branch, what each backup was); name must be valid.
func (p Paths) GateStateDir(name string) string { return filepath.Join(p.State, "gate", name) }

// AuditDir holds the audit logs, JSON lines that tasks cannot write.
func (p Paths) AuditDir() string { return filepath.Join(p.State, "audit") }

// VaultDir holds the vault: its wrapped key and its encrypted store.
func (p Paths) VaultDir() string { return filepath.Join(p.Data, "vault") }

// VaultTokens is the phantom tokens' file (hashes only, not encrypted).
func (p Paths) VaultTokens() string { return filepath.Join(p.State, "vault", "tokens.json") }

// VaultAudit is the vault proxy's audit log, one JSON line per request.
func (p Paths) VaultAudit() string { return filepath.Join(p.AuditDir(), "vault.jsonl") }

// SchedulesDir holds the definitions of scheduled runs (NAME.toml), from
// which their systemd units and crontab lines are generated.
func (p Paths) SchedulesDir() string { return filepath.Join(p.Config, "schedules") }

// ScheduleStateDir holds each schedule's lock and the record of its runs.
func (p Paths) ScheduleStateDir() string { return filepath.Join(p.State, "schedules") }

// NamedPath is one resolved path, as `config paths` prints it.
type NamedPath struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Source string `json:"source,omitempty"`
	Exists bool   `json:"exists"`
}

// List returns every resolved path, in a stable order.
func (p Paths) List() []NamedPath {
	out := []NamedPath{
		{Name: "config_dir", Path: p.Config, Source: p.Source["config"]},
		{Name: "config_file", Path: p.ConfigFile()},
		{Name: "projects_dir", Path: p.ProjectsDir()},
		{Name: "agents_dir", Path: p.AgentsDir()},
		{Name: "state_dir", Path: p.State, Source: p.Source["state"]},
		{Name: "archive_dir", Path: p.ArchiveDir()},
		{Name: "audit_dir", Path: p.AuditDir()},
		{Name: "vault_dir", Path: p.VaultDir()},
		{Name: "data_dir", Path: p.Data, Source: p.Source["data"]},
		{Name: "gate_dir", Path: p.GateDir()},
		{Name: "runtime_dir", Path: p.Runtime, Source: p.Source["runtime"]},
		{Name: "podman_socket", Path: p.PodmanSocket()},
		{Name: "images_dir", Path: p.ImagesDir()},
		{Name: "cache_dir", Path: p.Cache, Source: p.Source["cache"]},
		{Name: "rootfs_dir", Path: p.RootfsDir()},
	}
	for i := range out {
		_, err := os.Stat(out[i].Path)
		out[i].Exists = err == nil
	}
	return out
}

// CheckSharedRuntime makes sure a runtime root that falls back to the
// shared temporary directory (no XDG_RUNTIME_DIR: Source "tmp") is this
// user's alone: it is made 0700 if missing; one that exists must be a real
// directory owned by uid with no access for group or other. Another local
// user could otherwise make it first and own the tasks' control sockets and
// locks. Other sources are left as they are (the system's or the user's).
func (p Paths) CheckSharedRuntime(uid int) error {
	if p.Source["runtime"] != "tmp" {
		return nil
	}
	if err := os.Mkdir(p.Runtime, 0o700); err != nil && !os.IsExist(err) {
		return fmt.Errorf("making the runtime directory %s: %w", p.Runtime, err)
	}
	fi, err := os.Lstat(p.Runtime)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return fmt.Errorf("runtime directory %s is not a directory (a link or a file someone made)", p.Runtime)
	case !ok || int(st.Uid) != uid:
		return fmt.Errorf("runtime directory %s belongs to another user", p.Runtime)
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("runtime directory %s is open to others (mode %04o)", p.Runtime, fi.Mode().Perm())
	}
	return nil
}
