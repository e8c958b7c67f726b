package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/hostcheck"
	"github.com/terok-ai/terok-go/lib/shield"
)

// SetupCmd is `terok setup`: the one-time setup of a host (or of a user on
// it) for terok, safe to run again. It checks everything it will change
// before it changes anything, then makes the terok-<command> links,
// registers the shield's OCI hook and makes terok's own directories, and
// ends with the doctor's checks. It prints one record per step and check,
// in the doctor's shape.
type SetupCmd struct {
	BinDir   string `name:"bin-dir" help:"Directory for the terok-<command> links (default: this binary's directory when writable, else ~/.local/bin)." placeholder:"DIR" type:"path"`
	HooksDir string `name:"hooks-dir" help:"Hooks directory for the shield's registration (default: the first Podman reads; not as root, ~/.config/containers/oci/hooks.d)." placeholder:"DIR" type:"path"`
	NoCheck  bool   `name:"no-check" help:"Do not run the doctor's checks afterwards."`
	Image    string `help:"Image of the doctor's probe container (see terok doctor)." placeholder:"IMAGE"`
}

func (c *SetupCmd) Run(env *cli.Env) error {
	h, err := findHostPlaces(env, c.BinDir)
	if err != nil {
		return err
	}
	exe, uid, paths, binDir := h.exe, h.uid, h.paths, h.binDir
	hooksDirs := shield.PodmanHooksDirs()
	hooksDir := c.HooksDir
	if hooksDir == "" {
		hooksDir = shield.DefaultHookDir(uid, env.Getenv, hooksDirs)
	}

	// Check first: a step that would fail fails before any step acts.
	if err := checkLinks(binDir, linkNames()); err != nil {
		return err
	}
	if err := shield.CheckHookBinary(exe); err != nil {
		return cli.Failf("%v", err)
	}
	for _, d := range []string{binDir, hooksDir, paths.Config, paths.State, paths.Data} {
		if err := writableOrCreatable(d); err != nil {
			return cli.Failf("cannot write %s: %v", d, err).WithHint("run terok setup as root, or name another directory (--bin-dir, --hooks-dir)")
		}
	}

	var out []hostcheck.Result
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return cli.Failf("%v", err)
	}
	links, changed, err := installLinks(binDir, exe)
	if err != nil {
		return cli.Failf("%v", err)
	}
	out = append(out, stepResult("links", changed > 0,
		fmt.Sprintf("%d links in %s to %s", len(links), binDir, exe)))

	var hook shield.Installed
	file, bin, ferr := shield.FindHook()
	if c.HooksDir == "" && uid != 0 && ferr == nil && unix.Access(filepath.Dir(file), unix.W_OK) != nil {
		// Root registered a terok binary where Podman reads for everyone:
		// it runs for this user's tasks too, and a registration of the
		// user's own would not be read.
		hook = shield.Installed{Hook: file, Binary: bin, Registered: true}
	} else if hook, err = shield.InstallHook(hooksDir, exe, hooksDirs); err != nil {
		return cli.Failf("%v", err)
	}
	r := stepResult("hook", hook.Changed, hook.Hook+" runs "+hook.Binary)
	switch {
	case !sameFile(hook.Binary, exe):
		r.Status, r.Fix = hostcheck.Warn, "as root, run terok setup with "+exe+", or use "+hook.Binary
		r.Detail += "; your tasks get this registration (root's), which runs another terok binary than this one (" + exe + ")"
	case !hook.Registered:
		r.Status, r.Fix = hostcheck.Fail, "add "+hooksDir+" to hooks_dir in the [engine] table of containers.conf, or run terok setup without --hooks-dir"
		r.Detail += "; Podman does not read that directory, so tasks cannot start"
	}
	out = append(out, r)

	made := 0
	for _, d := range []string{paths.Config, paths.State, paths.Data} {
		if _, err := os.Stat(d); errors.Is(err, fs.ErrNotExist) {
			made++
		}
		if err := os.MkdirAll(d, 0o700); err != nil {
			return cli.Failf("%v", err)
		}
	}
	out = append(out, stepResult("dirs", made > 0,
		fmt.Sprintf("config %s, state %s, data %s", paths.Config, paths.State, paths.Data)))

	if !c.NoCheck {
		d := DoctorCmd{Image: c.Image}
		opts, early := d.options(env)
		out = append(out, early...)
		out = append(out, hostcheck.Run(env.Ctx, opts)...)
	}
	if err := cli.List(env, out, doctorColumns); err != nil {
		return err
	}
	if rank := hostcheck.Worst(out).Rank(); rank != 0 {
		return cli.ExitStatus(rank)
	}
	return nil
}

// hostPlaces are what setup and uninstall act on.
type hostPlaces struct {
	exe    string // this binary, links resolved
	uid    int
	paths  config.Paths
	binDir string // the links' directory
}

func findHostPlaces(env *cli.Env, binDir string) (hostPlaces, error) {
	exe, err := os.Executable()
	if err != nil {
		return hostPlaces{}, cli.Failf("cannot find this binary: %v", err)
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	h := hostPlaces{exe: exe, uid: os.Getuid(), binDir: binDir}
	if h.paths, err = config.ResolvePaths(env.Getenv, h.uid); err != nil {
		return h, cli.Failf("%v", err)
	}
	if h.binDir == "" {
		h.binDir = defaultBinDir(exe, env.Getenv)
	}
	return h, nil
}

// stepResult is a setup step's record: ok, saying whether it changed
// anything.
func stepResult(step string, changed bool, detail string) hostcheck.Result {
	if changed {
		detail = "set up: " + detail
	} else {
		detail = "already in place: " + detail
	}
	return hostcheck.Result{Check: step, Status: hostcheck.OK, Detail: detail}
}

func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
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

func linkNames() []string {
	names := make([]string, 0, len(Commands))
	for _, cm := range Commands {
		names = append(names, cm.Name)
	}
	sort.Strings(names)
	return names
}

// checkLinks refuses when a link's path holds something that is not a
// link: terok never replaces a file it did not make.
func checkLinks(dir string, names []string) error {
	for _, n := range names {
		p := filepath.Join(dir, n)
		fi, err := os.Lstat(p)
		if err == nil && fi.Mode()&fs.ModeSymlink == 0 {
			return cli.Failf("%s exists and is not a link; not replacing it", p)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			return cli.Failf("%v", err)
		}
	}
	return nil
}

// installLinks points a terok-<command> link per command in dir at target
// (each replaced atomically), and counts the links it changed: a link
// that already leads to target's file is left as it is.
func installLinks(dir, target string) (links []Link, changed int, err error) {
	names := linkNames()
	if err := checkLinks(dir, names); err != nil {
		return nil, 0, err
	}
	want, _ := filepath.EvalSymlinks(target)
	for _, n := range names {
		p := filepath.Join(dir, n)
		links = append(links, Link{Link: p, Target: target})
		if have, err := filepath.EvalSymlinks(p); err == nil && want != "" && have == want {
			continue
		}
		tmp := p + ".terok-new"
		os.Remove(tmp)
		if err := os.Symlink(target, tmp); err != nil {
			return links, changed, err
		}
		if err := os.Rename(tmp, p); err != nil {
			os.Remove(tmp)
			return links, changed, err
		}
		changed++
	}
	return links, changed, nil
}
