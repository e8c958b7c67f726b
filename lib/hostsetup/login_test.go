package hostsetup

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/hostcheck"
)

// loginHost is testHost with the notifier's login for a desktop session.
func loginHost(t *testing.T, systemd bool) (Host, *Login) {
	t.Helper()
	h := testHost(t)
	l := &Login{Command: filepath.Join(h.BinDir, "terok-clearance"), Desktop: "XDG_CURRENT_DESKTOP=GNOME",
		Systemd: systemd, ConfigHome: filepath.Join(h.root(), "home", ".config")}
	h.Login = l
	return h, l
}

func notifierStep(t *testing.T, p Plan) Action {
	t.Helper()
	for _, a := range p.Actions {
		if a.Step == "notifier" {
			return a
		}
	}
	t.Fatal("no notifier step")
	return Action{}
}

// Where systemd runs the session: the user unit, enabled by its link in
// default.target.wants; a second setup changes nothing; uninstall removes
// both and leaves the rest.
func TestLoginSystemd(t *testing.T) {
	h, l := loginHost(t, true)
	unit := filepath.Join(l.ConfigHome, "systemd", "user", LoginUnit+".service")
	link := filepath.Join(l.ConfigHome, "systemd", "user", "default.target.wants", LoginUnit+".service")
	out := apply(t, CheckSetup(h))
	r := out[len(out)-1]
	if r.Check != "notifier" || r.Status != hostcheck.OK || !strings.HasPrefix(r.Detail, "set up: the systemd user unit "+unit) ||
		!strings.Contains(r.Fix, "systemctl --user start "+LoginUnit) {
		t.Fatalf("the record: %+v", r)
	}
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if !strings.HasPrefix(text, "# "+LoginMark) || !strings.Contains(text, "\nExecStart=\""+l.Command+"\" notify\n") ||
		!strings.Contains(text, "\nWantedBy=default.target\n") {
		t.Fatalf("the unit:\n%s", text)
	}
	if target, err := os.Readlink(link); err != nil || target != unit {
		t.Fatalf("the unit is not enabled: %q %v", target, err)
	}
	before := tree(t, h.root())
	again := CheckSetup(h)
	if a := notifierStep(t, again); len(a.Changes) != 0 || !strings.HasPrefix(a.Record().Detail, "already in place: ") {
		t.Fatalf("a second setup: %+v", a)
	}
	apply(t, again)
	if after := tree(t, h.root()); !maps.Equal(before, after) {
		t.Fatal("a second setup changed files")
	}
	un := CheckUninstall(context.Background(), h, nil)
	a := notifierStep(t, un)
	if len(a.Changes) != 2 || a.Changes[0].Op != RemoveLink || a.Changes[1].Op != RemoveFile {
		t.Fatalf("uninstall: %+v", a)
	}
	apply(t, un)
	if exists(unit) || exists(link) {
		t.Fatal("uninstall left the unit")
	}
}

// Elsewhere: an XDG autostart entry.
func TestLoginAutostart(t *testing.T) {
	h, l := loginHost(t, false)
	entry := filepath.Join(l.ConfigHome, "autostart", LoginUnit+".desktop")
	out := apply(t, CheckSetup(h))
	if r := out[len(out)-1]; r.Status != hostcheck.OK || r.Detail != "set up: the autostart entry "+entry+" (XDG_CURRENT_DESKTOP=GNOME)" {
		t.Fatalf("the record: %+v", r)
	}
	b, err := os.ReadFile(entry)
	if err != nil || !strings.Contains(string(b), "\n[Desktop Entry]\nType=Application\n") || !strings.Contains(string(b), "\nExec=\""+l.Command+"\" notify\n") {
		t.Fatalf("the entry: %s %v", b, err)
	}
	if exists(filepath.Join(l.ConfigHome, "systemd")) {
		t.Fatal("a unit was written too")
	}
	// An older terok's entry is rewritten.
	if err := os.WriteFile(entry, []byte("# "+LoginMark+"\nExec=old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if a := notifierStep(t, CheckSetup(h)); len(a.Changes) != 1 || a.Changes[0].Op != WriteText {
		t.Fatalf("an older entry: %+v", a)
	}
	// Uninstall looks for both kinds, whatever the session is now.
	h.Login.Systemd = true
	if a := notifierStep(t, CheckUninstall(context.Background(), h, nil)); len(a.Changes) != 1 || a.Changes[0].Path != entry {
		t.Fatalf("uninstall: %+v", a)
	}
}

// Nothing is written without a desktop session, with a command path that
// would need escaping, or over a file that is not terok's (which stays,
// as a warning, without stopping the rest of setup).
func TestLoginLeftOut(t *testing.T) {
	h, l := loginHost(t, false)
	l.Desktop = ""
	a := notifierStep(t, CheckSetup(h))
	if len(a.Changes) != 0 || a.Status != "" || !strings.HasPrefix(a.Record().Detail, "left out: no desktop session") {
		t.Fatalf("no desktop session: %+v", a.Record())
	}

	h, l = loginHost(t, true)
	l.Command = "/opt/odd\"dir/terok-clearance"
	if a := notifierStep(t, CheckSetup(h)); len(a.Changes) != 0 || a.Status != hostcheck.Warn {
		t.Fatalf("an odd path: %+v", a.Record())
	}

	h, l = loginHost(t, true)
	unit := filepath.Join(l.ConfigHome, "systemd", "user", LoginUnit+".service")
	if err := os.MkdirAll(filepath.Dir(unit), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(unit, []byte("[Service]\nExecStart=/usr/bin/mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := CheckSetup(h)
	if a := notifierStep(t, p); len(a.Changes) != 0 || a.Status != hostcheck.Warn || !strings.Contains(a.Detail, "is not terok's") || p.Refused() != nil {
		t.Fatalf("a unit of the user's: %+v", a.Record())
	}
	apply(t, p)
	if b, _ := os.ReadFile(unit); string(b) != "[Service]\nExecStart=/usr/bin/mine\n" {
		t.Fatalf("the user's unit was changed: %s", b)
	}
	if a := notifierStep(t, CheckUninstall(context.Background(), h, nil)); len(a.Changes) != 0 {
		t.Fatalf("uninstall would remove the user's unit: %+v", a)
	}
}

// The desktop session and the config home come from the environment.
func TestFindLogin(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	l := findLogin(env(map[string]string{"HOME": "/home/u", "WAYLAND_DISPLAY": "wayland-0"}), 1000, "/home/u/.local/bin")
	if l.Command != "/home/u/.local/bin/terok-clearance" || l.ConfigHome != "/home/u/.config" || l.Desktop != "WAYLAND_DISPLAY=wayland-0" {
		t.Fatalf("%+v", l)
	}
	l = findLogin(env(map[string]string{"HOME": "/home/u", "XDG_CONFIG_HOME": "/cfg"}), 1000, "/b")
	if l.ConfigHome != "/cfg" || l.Desktop != "" {
		t.Fatalf("%+v", l)
	}
}
