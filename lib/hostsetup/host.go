// Package hostsetup sets a host (or a user on it) up for terok, and undoes
// it: the terok-<command> links, the shield's OCI hook registration,
// terok's own directories, the man pages and shell completions, for a user
// the clearance's desktop notifier at login, and with a purge the tasks
// too. For a user, setup first checks that the account can
// run rootless Podman. It is the logic of `terok setup`, `terok uninstall`
// and `terok install-links`.
//
// Each works in two steps. A check (CheckSetup, CheckUninstall,
// CheckLinks) looks at the host and returns a Plan: per step, what it
// will change and what refuses it, with nothing touched. Apply refuses a
// plan that anything refuses, and otherwise carries it out and returns
// one record per step in the doctor's shape (lib/hostcheck).
package hostsetup

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/hostcheck"
	"github.com/terok-ai/terok-go/lib/shield"
)

// Host is what setup and uninstall act on.
type Host struct {
	Exe    string       // this terok binary, links resolved
	UID    int          // the user set up
	Paths  config.Paths // terok's directories for that user
	BinDir string       // the terok-<command> links' directory
	Links  []string     // the links' names, one per command

	// HooksDir is the hooks directory named for the shield's registration,
	// "" for the default: for setup shield.DefaultHookDir, for uninstall
	// every directory Podman reads and the user's own.
	HooksDir        string
	PodmanHooksDirs []string // the hooks directories Podman reads
	Getenv          func(string) string
	// FindHook finds the registration that Podman reads now (as
	// shield.FindHook does); nil when there is none to find.
	FindHook func() (file, binary string, err error)

	// Comforts are the man pages and completions and where they go;
	// setup and uninstall leave them out while Comforts.Files is nil.
	Comforts Comforts
	// Rootless checks a user's account for rootless Podman before setup
	// changes anything (hostcheck.Rootless); nil: no check (root).
	Rootless func() []hostcheck.Result
	// Login runs the clearance's desktop notifier at the user's login;
	// nil: setup and uninstall leave it out (root, whose setup is the
	// system's, not a desktop user's; terok setup --no-notifier).
	Login *Login
}

// BashCompletionScript is the bash-completion package's script, which
// loads a command's completion from the directories it searches.
const BashCompletionScript = "/usr/share/bash-completion/bash_completion"

// FindHost finds the places on this host: this binary (links resolved),
// terok's directories for this user, the links' directory (binDir, by
// default the binary's own where it may be written, else ~/.local/bin),
// the hooks directories Podman reads, and the comforts' places (for
// /usr/local as root and ~/.local for a user, or, with binDir named, for
// its parent: see ComfortsFor). hooksDir and links are kept as given; the
// comforts' files are the caller's to set. For a user, setup checks the
// account for rootless Podman first.
func FindHost(getenv func(string) string, binDir, hooksDir string, links []string) (Host, error) {
	exe, err := os.Executable()
	if err != nil {
		return Host{}, fmt.Errorf("cannot find this binary: %v", err)
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	h := Host{Exe: exe, UID: os.Getuid(), BinDir: binDir, Links: links, HooksDir: hooksDir,
		PodmanHooksDirs: shield.PodmanHooksDirs(), Getenv: getenv, FindHook: shield.FindHook}
	if h.Paths, err = config.ResolvePaths(getenv, h.UID); err != nil {
		return h, err
	}
	prefix := filepath.Dir(h.BinDir)
	if h.BinDir == "" {
		h.BinDir = defaultBinDir(exe, getenv)
		prefix = SystemPrefix
		if h.UID != 0 {
			prefix = filepath.Join(getenv("HOME"), ".local")
		}
	}
	h.Comforts = ComfortsFor(prefix, getenv)
	_, err = exec.LookPath("zsh")
	h.Comforts.HaveZsh = err == nil
	h.Comforts.HaveBashCompletion = exists(BashCompletionScript)
	if h.UID != 0 {
		h.Rootless = func() []hostcheck.Result { return hostcheck.Rootless(h.UID, getenv) }
		h.Login = findLogin(getenv, h.UID, h.BinDir)
	}
	return h, nil
}

// defaultBinDir is the links' directory: the binary's own, where it may be
// written (make install puts terok in PREFIX/bin), else ~/.local/bin.
func defaultBinDir(exe string, getenv func(string) string) string {
	dir := filepath.Dir(exe)
	if unix.Access(dir, unix.W_OK) == nil {
		return dir
	}
	return filepath.Join(getenv("HOME"), ".local", "bin")
}

// writableOrCreatable says whether dir, or its nearest existing ancestor,
// may be written by this process.
func writableOrCreatable(dir string) error {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			return unix.Access(d, unix.W_OK)
		}
		if d == filepath.Dir(d) {
			return fs.ErrNotExist
		}
	}
}

// exists says whether path names something (a link is not followed).
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}
