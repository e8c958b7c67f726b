package hostsetup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/terok-ai/terok-go/lib/hostcheck"
	"github.com/terok-ai/terok-go/lib/shield"
)

// CheckSetup plans terok setup, touching nothing. Its steps, in order:
// rootless (for a user: the account can run rootless Podman, see
// hostcheck.Rootless), links (a terok-<command> link per command in
// h.BinDir, to h.Exe), hook (the shield's OCI hook registration), dirs
// (terok's configuration, state and data directories), man and
// completions (the man pages and the bash, zsh and fish completions, see
// ComfortsFor), notifier (for a user, the clearance's desktop notifier at
// login, see planLogin). A new step is one more entry here.
func CheckSetup(h Host) Plan {
	var acts []Action
	if h.Rootless != nil {
		acts = append(acts, planRootless(h.Rootless()))
	}
	acts = append(acts, planLinks(h), planHook(h), planDirs(h))
	if h.Comforts.Files != nil {
		acts = append(acts, planComforts(h.Comforts, "man"), planComforts(h.Comforts, "completions"))
	}
	if h.Login != nil {
		acts = append(acts, planLogin(*h.Login))
	}
	return Plan{Actions: acts, files: h.Comforts.Files}
}

// planRootless is a user's first step: the account's pieces for rootless
// Podman. One that fails refuses the setup, so nothing changes, with every
// piece in the refusal (NotReady) for the command to print; a warning
// makes the step's record a warning; the others' advice is its fix.
func planRootless(checks []hostcheck.Result) Action {
	a := Action{Step: "rootless", Words: [2]string{"", "ready"}}
	var details, fixes []string
	failed := false
	for _, r := range checks {
		details = append(details, r.Check+" "+r.Detail)
		switch r.Status {
		case hostcheck.Fail:
			failed = true
		case hostcheck.Warn:
			a.Status = hostcheck.Warn
		}
		if r.Fix != "" {
			fixes = append(fixes, r.Check+": "+r.Fix)
		}
	}
	if failed {
		a.Refusals = append(a.Refusals, &NotReady{Checks: checks})
	}
	a.Detail = strings.Join(details, "; ")
	a.Fix = strings.Join(fixes, "; ")
	return a
}

// NotReady refuses setup for a user whose account lacks a piece that
// rootless Podman needs. Checks are every piece, failed or not, each with
// its fix; it exits 3 (the host is not set up).
type NotReady struct{ Checks []hostcheck.Result }

func (e *NotReady) failed() []hostcheck.Result {
	var out []hostcheck.Result
	for _, r := range e.Checks {
		if r.Status == hostcheck.Fail {
			out = append(out, r)
		}
	}
	return out
}

func (e *NotReady) Error() string {
	var names []string
	for _, r := range e.failed() {
		names = append(names, r.Check)
	}
	return "this account cannot run rootless Podman yet (" + strings.Join(names, ", ") + "); nothing was changed"
}

func (e *NotReady) Hint() string {
	if f := e.failed(); len(f) == 1 {
		return f[0].Fix
	}
	return "each missing piece's record says what fixes it"
}

func (e *NotReady) ExitCode() int { return 3 }

// CheckLinks plans the terok-<command> links (names) in dir, an existing
// directory, to target: terok install-links.
func CheckLinks(dir, target string, names []string) Plan {
	a := linksTo(dir, target, names)
	a.Detail = fmt.Sprintf("%d links in %s to %s", len(names), dir, target)
	return Plan{Actions: []Action{a}}
}

// planLinks is setup's links step: the links' directory made when
// missing, then every link that does not already lead to h.Exe's file.
func planLinks(h Host) Action {
	a := linksTo(h.BinDir, h.Exe, h.Links)
	if mk := planDir(&a, h.BinDir, 0o755); mk != nil {
		a.Changes = append([]Change{*mk}, a.Changes...)
	}
	a.Detail = fmt.Sprintf("%d links in %s to %s", len(h.Links), h.BinDir, h.Exe)
	return a
}

// linksTo plans a link per name in dir to target. A link that already
// leads to target's file stays; another link is replaced; anything else
// there refuses the step: terok never replaces a file it did not make.
func linksTo(dir, target string, names []string) Action {
	a := Action{Step: "links", Words: setUpWords}
	want, _ := filepath.EvalSymlinks(target)
	for _, n := range names {
		p := filepath.Join(dir, n)
		fi, err := os.Lstat(p)
		switch {
		case err == nil && fi.Mode()&fs.ModeSymlink == 0:
			a.refuse(p+" exists and is not a link; not replacing it", "")
			continue
		case err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission):
			a.Refusals = append(a.Refusals, err)
			continue
		}
		if have, err := filepath.EvalSymlinks(p); err == nil && want != "" && have == want {
			continue
		}
		a.Changes = append(a.Changes, Change{Op: MakeLink, Path: p, Target: target})
	}
	return a
}

// planHook is setup's hook step: the shield's registration of h.Exe (of
// the hook's own binary beside it when there is one: shield.HookBinary) in
// the hooks directory, written unless the same one is there. Not as
// root, with no directory named, a registration that Podman already reads
// and this user cannot write (root's) is left as it is: it runs for this
// user's tasks too, and one of the user's own would not be read. The step
// warns when that registration runs another terok binary, and fails when
// Podman does not read the directory.
func planHook(h Host) Action {
	a := Action{Step: "hook", Words: setUpWords}
	dir := h.HooksDir
	if dir == "" {
		dir = shield.DefaultHookDir(h.UID, h.Getenv, h.PodmanHooksDirs)
	}
	binErr := shield.CheckHookBinary(h.Exe)
	hookBin := h.Exe
	if binErr == nil {
		hookBin = shield.HookBinary(h.Exe)
	}
	if binErr != nil {
		a.Refusals = append(a.Refusals, binErr)
	}
	refuseUnwritable(&a, dir)

	var hook shield.Installed
	if file, bin, ok := h.rootsHook(); ok {
		hook = shield.Installed{Hook: file, Binary: bin, Registered: true}
	} else if binErr == nil {
		var err error
		if hook, err = shield.PlanInstallHook(dir, hookBin, h.PodmanHooksDirs); err != nil {
			a.Refusals = append(a.Refusals, err)
		}
		if hook.Changed {
			a.Changes = append(a.Changes, Change{Op: WriteHook, Path: dir, Target: hook.Binary})
		}
	}
	a.Detail = hook.Hook + " runs " + hook.Binary
	switch {
	case !sameFile(hook.Binary, hookBin):
		a.Status, a.Fix = hostcheck.Warn, "as root, run terok setup with "+h.Exe+", or use "+hook.Binary
		a.Detail += "; your tasks get this registration (root's), which runs another terok binary than this one (" + hookBin + ")"
	case !hook.Registered:
		a.Status, a.Fix = hostcheck.Fail, "add "+dir+" to hooks_dir in the [engine] table of containers.conf, or run terok setup without --hooks-dir"
		a.Detail += "; Podman does not read that directory, so tasks cannot start"
	}
	return a
}

// rootsHook finds, for a user other than root who named no hooks
// directory, a registration that Podman reads in a directory this user
// cannot write.
func (h Host) rootsHook() (file, binary string, ok bool) {
	if h.HooksDir != "" || h.UID == 0 || h.FindHook == nil {
		return "", "", false
	}
	file, binary, err := h.FindHook()
	if err != nil || unix.Access(filepath.Dir(file), unix.W_OK) == nil {
		return "", "", false
	}
	return file, binary, true
}

// planDirs is setup's dirs step: terok's configuration, state and data
// directories, made when missing.
func planDirs(h Host) Action {
	a := Action{Step: "dirs", Words: setUpWords,
		Detail: fmt.Sprintf("config %s, state %s, data %s", h.Paths.Config, h.Paths.State, h.Paths.Data)}
	for _, d := range []string{h.Paths.Config, h.Paths.State, h.Paths.Data} {
		if mk := planDir(&a, d, 0o700); mk != nil {
			a.Changes = append(a.Changes, *mk)
		}
	}
	return a
}

// planDir checks that dir can be made or is a directory (else a refusal
// in a), and returns the change that makes it when it is missing.
func planDir(a *Action, dir string, mode fs.FileMode) *Change {
	refuseUnwritable(a, dir)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &Change{Op: MakeDir, Path: dir, Mode: mode}
	case err == nil && !st.IsDir():
		a.refuse(dir+" is not a directory", "")
	}
	return nil
}

// refuseUnwritable refuses a when neither dir nor its nearest existing
// parent may be written.
func refuseUnwritable(a *Action, dir string) {
	if err := writableOrCreatable(dir); err != nil {
		a.refuse(fmt.Sprintf("cannot write %s: %v", dir, err),
			"run terok setup as root, or name another directory (--bin-dir, --hooks-dir)")
	}
}
