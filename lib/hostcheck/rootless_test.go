package hostcheck

import (
	"encoding/binary"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestJudgeRuntimeDir(t *testing.T) {
	a := NewAccount(1002, "ann", "staff")
	dir := func(mode fs.FileMode, uid int) *Owned { return &Owned{Mode: fs.ModeDir | mode, UID: uid} }
	for _, tc := range []struct {
		name   string
		f      RuntimeDirFacts
		status Status
		detail string
		fix    string
	}{
		{"ready", RuntimeDirFacts{Env: "/run/user/1002", Stat: dir(0o700, 1002)}, OK, "XDG_RUNTIME_DIR=/run/user/1002, yours, mode 0700", ""},
		{"not set, none made", RuntimeDirFacts{Default: "/run/user/1002"}, Fail,
			"XDG_RUNTIME_DIR is not set and /run/user/1002 does not exist (no systemd login made it): terok would keep its sockets in /tmp/terok-1002, which another user can make first",
			"as root: install -d -m 0700 -o ann -g staff /run/user/1002 (at every boot), then export XDG_RUNTIME_DIR=/run/user/1002 in ~/.profile"},
		{"not set, one made", RuntimeDirFacts{Default: "/run/user/1002", DefaultStat: dir(0o700, 1002)}, Fail,
			"XDG_RUNTIME_DIR is not set (/run/user/1002 is there): terok would keep its sockets in /tmp/terok-1002, which another user can make first",
			"export XDG_RUNTIME_DIR=/run/user/1002 (in ~/.profile, for every login)"},
		{"not set, someone else's made", RuntimeDirFacts{Default: "/run/user/1002", DefaultStat: dir(0o700, 0)}, Fail,
			"XDG_RUNTIME_DIR is not set, and /run/user/1002 is not a directory of yours with mode 0700",
			"as root: chown ann:staff /run/user/1002 && chmod 0700 /run/user/1002, then export XDG_RUNTIME_DIR=/run/user/1002 in ~/.profile"},
		{"not set, terok's own named", RuntimeDirFacts{TerokEnv: "/srv/run", Default: "/run/user/1002"}, OK,
			"XDG_RUNTIME_DIR is not set; terok uses TEROK_RUNTIME_DIR (/srv/run), Podman its own fallback", ""},
		{"missing", RuntimeDirFacts{Env: "/run/user/1002", StatErr: fs.ErrNotExist}, Fail,
			"XDG_RUNTIME_DIR=/run/user/1002 does not exist", "as root: install -d -m 0700 -o ann -g staff /run/user/1002"},
		{"a file", RuntimeDirFacts{Env: "/run/user/1002", Stat: &Owned{Mode: 0o600, UID: 1002}}, Fail,
			"XDG_RUNTIME_DIR=/run/user/1002 is not a directory", "point XDG_RUNTIME_DIR"},
		{"another's", RuntimeDirFacts{Env: "/tmp/r", Stat: dir(0o700, 0)}, Fail,
			"XDG_RUNTIME_DIR=/tmp/r belongs to uid 0, not to ann", "as root: chown ann:staff /tmp/r && chmod 0700 /tmp/r"},
		{"open to others", RuntimeDirFacts{Env: "/tmp/r", Stat: dir(0o755, 1002)}, Fail,
			"XDG_RUNTIME_DIR=/tmp/r has mode 0755; it must be 0700", "chmod 0700 /tmp/r"},
	} {
		r := JudgeRuntimeDir(a, tc.f)
		if r.Check != "runtime-dir" || r.Status != tc.status || tc.detail != "" && r.Detail != tc.detail || !strings.HasPrefix(r.Fix, tc.fix) || tc.fix == "" && r.Fix != "" {
			t.Errorf("%s: %+v", tc.name, r)
		}
	}
}

func TestJudgeStorage(t *testing.T) {
	fuse := &Owned{Mode: fs.ModeCharDevice | 0o666}
	for _, tc := range []struct {
		name   string
		f      StorageFacts
		status Status
		detail string // a part of it
		fix    string // a part of it
	}{
		{"overlay, native", StorageFacts{Driver: "overlay", ConfFile: "/home/a/.config/containers/storage.conf", Kernel: [2]int{6, 1}},
			OK, "overlay, native (Linux 6.1; /home/a/.config/containers/storage.conf)", ""},
		{"overlay, 5.13 exactly", StorageFacts{Driver: "overlay", Kernel: [2]int{5, 13}}, OK, "overlay, native", ""},
		{"overlay, old kernel, fuse-overlayfs", StorageFacts{Driver: "overlay", Kernel: [2]int{5, 10}, FuseOverlayfs: "/usr/bin/fuse-overlayfs", Fuse: fuse},
			OK, "overlay through /usr/bin/fuse-overlayfs", ""},
		{"overlay, old kernel, nothing", StorageFacts{Driver: "overlay", Kernel: [2]int{5, 10}}, Fail,
			"Linux 5.10 cannot mount it in a user namespace", "apt-get install -y fuse-overlayfs"},
		{"overlay, /dev/fuse closed", StorageFacts{Driver: "overlay", Kernel: [2]int{4, 19}, FuseOverlayfs: "/usr/bin/fuse-overlayfs", Fuse: &Owned{Mode: fs.ModeCharDevice | 0o600}},
			Fail, "/dev/fuse is missing", "chmod 666 /dev/fuse"},
		{"mount program missing", StorageFacts{Driver: "overlay", Kernel: [2]int{6, 1}, MountProgram: "/nonexistent/fuse-overlayfs"},
			Fail, "which is not installed", "fuse-overlayfs"},
		{"vfs named", StorageFacts{Driver: "vfs", ConfFile: "/etc/containers/storage.conf"}, OK, "vfs (/etc/containers/storage.conf)", `driver = "overlay"`},
		{"none named", StorageFacts{}, OK, "Podman picks the driver when it first runs", "printf '[storage]"},
		{"vfs in use", StorageFacts{InUse: []string{"vfs"}, Store: "/home/a/store"}, OK, "in use in /home/a/store", "podman system reset --force"},
		{"overlay named, vfs in use", StorageFacts{Driver: "overlay", ConfFile: "/c", InUse: []string{"vfs"}, Store: "/s", Kernel: [2]int{6, 1}},
			Fail, "your store /s was made with vfs, and /c now names overlay: Podman refuses to start", `or set driver = "vfs" in /c again`},
		{"overlay in use", StorageFacts{InUse: []string{"overlay"}, Store: "/s", Kernel: [2]int{6, 1}}, OK, "overlay, native", ""},
		{"two drivers' layers", StorageFacts{Driver: "overlay", ConfFile: "/c", InUse: []string{"overlay", "vfs"}, Store: "/s", Kernel: [2]int{6, 1}},
			Warn, "in use in /s, which holds layers of overlay and vfs: what one made, the other does not see", "podman system reset --force"},
	} {
		r := JudgeStorage(tc.f)
		if r.Check != "storage" || r.Status != tc.status || !strings.Contains(r.Detail, tc.detail) || !strings.Contains(r.Fix, tc.fix) || tc.fix == "" && r.Fix != "" {
			t.Errorf("%s: %+v", tc.name, r)
		}
	}
}

func TestJudgeTun(t *testing.T) {
	if r := JudgeTun(&Owned{Mode: fs.ModeDevice | fs.ModeCharDevice | 0o666}); r.Status != OK || r.Detail != "/dev/net/tun, mode 0666" {
		t.Errorf("ok: %+v", r)
	}
	if r := JudgeTun(&Owned{Mode: fs.ModeDevice | fs.ModeCharDevice | 0o660}); r.Status != Fail || r.Fix != "as root: chmod 666 /dev/net/tun" {
		t.Errorf("closed: %+v", r)
	}
	if r := JudgeTun(nil); r.Status != Fail || !strings.HasPrefix(r.Fix, "as root: modprobe tun") {
		t.Errorf("missing: %+v", r)
	}
}

// capData is a security.capability attribute, revision 2, granting caps.
func capData(effective bool, caps ...int) []byte {
	b := make([]byte, 20)
	magic := uint32(0x02000000)
	if effective {
		magic |= 1
	}
	binary.LittleEndian.PutUint32(b, magic)
	var perm uint32
	for _, c := range caps {
		perm |= 1 << c
	}
	binary.LittleEndian.PutUint32(b[4:], perm)
	return b
}

func TestJudgeIDMaps(t *testing.T) {
	if !FileCapGrants(capData(true, unix.CAP_SETUID), unix.CAP_SETUID) || FileCapGrants(capData(false, unix.CAP_SETUID), unix.CAP_SETUID) ||
		FileCapGrants(capData(true, unix.CAP_SETGID), unix.CAP_SETUID) || FileCapGrants([]byte{1, 2}, unix.CAP_SETUID) {
		t.Error("FileCapGrants")
	}
	suid := &Owned{Mode: fs.ModeSetuid | 0o755}
	plain := &Owned{Mode: 0o755}
	uid := IDMap{Tool: "newuidmap", Path: "/usr/bin/newuidmap", File: suid, CapName: "cap_setuid"}
	gid := IDMap{Tool: "newgidmap", Path: "/usr/bin/newgidmap", File: plain, Cap: true, CapName: "cap_setgid"}
	if r := JudgeIDMaps(uid, gid); r.Status != OK || r.Detail != "/usr/bin/newuidmap set-uid root, /usr/bin/newgidmap with cap_setgid" {
		t.Errorf("ok: %+v", r)
	}
	gid.Cap = false
	if r := JudgeIDMaps(uid, gid); r.Status != Fail || r.Fix != "as root: chmod u+s /usr/bin/newgidmap (or setcap cap_setgid+ep /usr/bin/newgidmap)" {
		t.Errorf("neither: %+v", r)
	}
	uid.File = &Owned{Mode: fs.ModeSetuid | 0o755, UID: 1000}
	if r := JudgeIDMaps(uid, gid); r.Status != Fail || !strings.Contains(r.Detail, "newuidmap is neither") {
		t.Errorf("set-uid someone else: %+v", r)
	}
	if r := JudgeIDMaps(IDMap{Tool: "newuidmap"}); r.Status != Fail || !strings.Contains(r.Fix, "apt-get install -y uidmap") {
		t.Errorf("missing: %+v", r)
	}
}

func TestParseKernel(t *testing.T) {
	for in, want := range map[string][2]int{"6.1.0-18-amd64": {6, 1}, "5.13": {5, 13}, "6.18.44-fc-v1098": {6, 18}, "junk": {0, 0}, "4.19rc1": {4, 19}} {
		if got := ParseKernel(in); got != want {
			t.Errorf("%q: %v", in, got)
		}
	}
}

// TestRootless runs the checks on this host: one result per piece, in
// order, each failed one with a fix; and reads a user's storage.conf and
// store.
func TestRootless(t *testing.T) {
	home := t.TempDir()
	conf := home + "/.config/containers/storage.conf"
	if err := os.MkdirAll(home+"/.config/containers", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("[storage]\ndriver = \"overlay\"\n[storage.options.overlay]\nmount_program = \"/nonexistent/fuse-overlayfs\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(home+"/.local/share/containers/storage/vfs-layers", 0o755); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == "HOME" {
			return home
		}
		return ""
	}
	rs := Rootless(os.Getuid(), getenv)
	var names []string
	for _, r := range rs {
		names = append(names, r.Check)
		if r.Status == Fail && r.Fix == "" {
			t.Errorf("%s fails without a fix: %+v", r.Check, r)
		}
	}
	if !slices.Equal(names, []string{"subids", "runtime-dir", "storage", "tun", "idmap"}) {
		t.Errorf("checks %q", names)
	}
	if s := rs[2]; s.Status != Fail || !strings.Contains(s.Detail, "was made with vfs, and "+conf+" now names overlay") {
		t.Errorf("storage: %+v", s)
	}
	if r := rs[1]; r.Status != Fail || !strings.Contains(r.Detail, "XDG_RUNTIME_DIR is not set") {
		t.Errorf("runtime-dir without XDG_RUNTIME_DIR: %+v", r)
	}
}
