package hostsetup

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/terok-ai/terok-go/lib/hostcheck"
)

// The clearance's desktop notifier (`terok-clearance notify`) at login:
// where systemd runs the user's session, a user unit enabled for
// default.target (as systemctl --user enable does it: a link in
// default.target.wants); elsewhere an XDG autostart entry, which every
// desktop that follows the XDG Autostart specification starts at login.
// Either file says it is terok's (LoginMark): only such a file is
// replaced or removed.

// LoginUnit is the user unit's and the autostart entry's base name.
const LoginUnit = "terok-clearance-notify"

// LoginMark is in the first line of the unit and the autostart entry
// that setup writes.
const LoginMark = "Written by terok setup: the clearance's desktop notifier"

// Login is where and how setup runs the notifier at login.
type Login struct {
	// Command is the notifier's program: the terok-clearance link.
	Command string
	// Desktop says what shows a desktop session here (XDG_CURRENT_DESKTOP,
	// WAYLAND_DISPLAY, DISPLAY); "" when there is none: the step then
	// changes nothing.
	Desktop string
	// Systemd says that systemd runs the user's session (its user
	// manager runs): a user unit rather than an autostart entry.
	Systemd bool
	// ConfigHome is $XDG_CONFIG_HOME, else ~/.config.
	ConfigHome string
}

// findLogin is a user's Login: the desktop session from the environment,
// systemd's user manager from its directory in the runtime directory.
func findLogin(getenv func(string) string, uid int, binDir string) *Login {
	l := &Login{Command: filepath.Join(binDir, "terok-clearance"), ConfigHome: getenv("XDG_CONFIG_HOME")}
	if l.ConfigHome == "" && getenv("HOME") != "" {
		l.ConfigHome = filepath.Join(getenv("HOME"), ".config")
	}
	for _, k := range []string{"XDG_CURRENT_DESKTOP", "WAYLAND_DISPLAY", "DISPLAY"} {
		if v := getenv(k); v != "" {
			l.Desktop = k + "=" + v
			break
		}
	}
	run := getenv("XDG_RUNTIME_DIR")
	if run == "" {
		run = filepath.Join("/run/user", strconv.Itoa(uid))
	}
	l.Systemd = exists("/run/systemd/system") && exists(filepath.Join(run, "systemd"))
	return l
}

// files are the unit (or the autostart entry) and, for the unit, the link
// that enables it.
func (l Login) files() (file, link string) {
	if l.Systemd {
		dir := filepath.Join(l.ConfigHome, "systemd", "user")
		return filepath.Join(dir, LoginUnit+".service"), filepath.Join(dir, "default.target.wants", LoginUnit+".service")
	}
	return filepath.Join(l.ConfigHome, "autostart", LoginUnit+".desktop"), ""
}

// text is the unit's or the autostart entry's contents. cmd is quoted for
// both formats; plainPath keeps it to characters that need no escape.
func (l Login) text() string {
	if l.Systemd {
		return "# " + LoginMark + "; terok setup rewrites it, terok uninstall removes it.\n" +
			"[Unit]\nDescription=terok: Allow or Deny blocked connections of terok tasks, as desktop notifications\n" +
			"Documentation=man:terok-clearance(1)\nAfter=dbus.socket\n\n" +
			"[Service]\nExecStart=\"" + l.Command + "\" notify\nRestart=on-failure\nRestartSec=10\n\n" +
			"[Install]\nWantedBy=default.target\n"
	}
	return "# " + LoginMark + "; terok setup rewrites it, terok uninstall removes it.\n" +
		"[Desktop Entry]\nType=Application\nName=terok clearance notifier\n" +
		"Comment=Allow or Deny blocked connections of terok tasks, as desktop notifications\n" +
		"Exec=\"" + l.Command + "\" notify\nTerminal=false\nNoDisplay=true\nX-GNOME-Autostart-enabled=true\n"
}

// plainPath says whether p needs no quoting inside double quotes in a
// unit's ExecStart and a desktop entry's Exec (no quote, backslash,
// dollar, backtick, percent, control character or non-ASCII).
func plainPath(p string) bool {
	for _, c := range []byte(p) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || bytes.IndexByte([]byte("/._-+@,: "), c) >= 0
		if !ok {
			return false
		}
	}
	return p != ""
}

// ourLoginFile says what is at path: nothing (err), a file of terok's
// (with its contents), or something else.
func ourLoginFile(path string) (ours bool, have []byte, err error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return false, nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > 64<<10 {
		return false, nil, nil
	}
	have, err = os.ReadFile(path)
	first, _, _ := bytes.Cut(have, []byte("\n"))
	return err == nil && bytes.Contains(first, []byte(LoginMark)), have, err
}

// planLogin is setup's notifier step: the unit (and its link) or the
// autostart entry, written when missing or an older terok's. Nothing
// refuses it: without a desktop session it changes nothing, and a file
// that is not terok's at its place stays, as a warning, so the rest of
// setup goes ahead.
func planLogin(l Login) Action {
	a := Action{Step: "notifier", Words: setUpWords}
	file, link := l.files()
	switch {
	case l.Desktop == "":
		a.Words[1] = "left out"
		a.Detail = "no desktop session here (no XDG_CURRENT_DESKTOP, WAYLAND_DISPLAY or DISPLAY); terok setup in a desktop session runs it at login"
		return a
	case !filepath.IsAbs(l.ConfigHome):
		a.Words[1] = "left out"
		a.Detail, a.Status, a.Fix = "HOME is not set", hostcheck.Warn, "set HOME"
		return a
	case !plainPath(l.Command):
		a.Words[1] = "left out"
		a.Detail, a.Status = l.Command+" has characters a unit or an autostart entry would need escaped", hostcheck.Warn
		a.Fix = "run terok-clearance notify at login by hand, or install terok elsewhere (--bin-dir)"
		return a
	}
	want := []byte(l.text())
	if mk := planDir(&a, filepath.Dir(file), 0o755); mk != nil {
		a.Changes = append(a.Changes, *mk)
	}
	ours, have, err := ourLoginFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist) || err == nil && ours && !bytes.Equal(have, want):
		a.Changes = append(a.Changes, Change{Op: WriteText, Path: file, Text: string(want), Mode: 0o644})
	case err != nil:
		a.Refusals = append(a.Refusals, err)
	case !ours:
		a.Words[1] = "left out"
		a.Detail, a.Status = file+" exists and is not terok's; left as it is", hostcheck.Warn
		a.Fix = "remove it and run terok setup again, or keep your own"
		return a
	}
	if link != "" {
		if mk := planDir(&a, filepath.Dir(link), 0o755); mk != nil {
			a.Changes = append(a.Changes, *mk)
		}
		target, err := os.Readlink(link)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			a.Changes = append(a.Changes, Change{Op: MakeLink, Path: link, Target: file})
		case err == nil && target != file:
			if _, serr := os.Stat(link); serr == nil && sameFile(link, file) {
				break // enabled by systemctl, with its own spelling of the path
			}
			a.Changes = append(a.Changes, Change{Op: MakeLink, Path: link, Target: file})
		case err != nil && !exists(link):
			a.Refusals = append(a.Refusals, err)
		case err != nil:
			a.Status, a.Fix = hostcheck.Warn, "remove "+link+" and run terok setup again"
			a.Detail = "; " + link + " is not a link, so the unit is not enabled"
		}
	}
	if l.Systemd {
		a.Detail = fmt.Sprintf("the systemd user unit %s (%s)", file, l.Desktop) + a.Detail
		if a.Fix == "" && len(a.Changes) > 0 {
			a.Fix = "it starts at your next login; to start it now: systemctl --user daemon-reload && systemctl --user start " + LoginUnit
		}
	} else {
		a.Detail = fmt.Sprintf("the autostart entry %s (%s)", file, l.Desktop)
		if len(a.Changes) > 0 {
			a.Fix = "it starts at your next login; to start it now: terok-clearance notify &"
		}
	}
	return a
}

// planUnlogin is uninstall's notifier step: terok's unit, its link and
// its autostart entry go (both kinds are looked for: the session may have
// changed since setup); anything else stays.
func planUnlogin(l Login) Action {
	a := Action{Step: "notifier", Words: removedWords}
	if !filepath.IsAbs(l.ConfigHome) {
		a.Detail = "no login files to look for: HOME is not set"
		return a
	}
	var found []string
	for _, systemd := range []bool{true, false} {
		k := l
		k.Systemd = systemd
		file, link := k.files()
		ours, _, err := ourLoginFile(file)
		switch {
		case err == nil && ours:
			found = append(found, file)
			if link != "" {
				if t, err := os.Readlink(link); err == nil && (t == file || sameFile(link, file)) {
					a.Changes = append(a.Changes, Change{Op: RemoveLink, Path: link})
				}
			}
			a.Changes = append(a.Changes, Change{Op: RemoveFile, Path: file})
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			a.Refusals = append(a.Refusals, err)
		}
	}
	a.Detail = fmt.Sprintf("%d login files of terok's in %s", len(found), l.ConfigHome)
	if len(found) > 0 {
		a.Fix = "a notifier running now runs until you log out (systemctl --user stop " + LoginUnit + ")"
	}
	return a
}
