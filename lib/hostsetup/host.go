// Package hostsetup sets a host (or a user on it) up for terok, and undoes
// it: the terok-<command> links, the shield's OCI hook registration,
// terok's own directories, and with a purge the tasks too. It is the
// logic of `terok setup`, `terok uninstall` and `terok install-links`.
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
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/terok-ai/terok-go/lib/config"
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
}

// FindHost finds the places on this host: this binary (links resolved),
// terok's directories for this user, the links' directory (binDir, by
// default the binary's own where it may be written, else ~/.local/bin),
// and the hooks directories Podman reads. hooksDir and links are kept as
// given.
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
	if h.BinDir == "" {
		h.BinDir = defaultBinDir(exe, getenv)
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
