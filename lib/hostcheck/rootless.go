package hostcheck

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/BurntSushi/toml"
	"golang.org/x/sys/unix"
)

// The rootless checks say whether this user's account can run rootless
// Podman, piece by piece, each with the one line that fixes it: the
// subordinate ids, the runtime directory, the storage driver, /dev/net/tun
// and the id-mapping helpers. `terok setup` runs them for a user before it
// changes anything and refuses, naming every missing piece, when one fails.
// A workstation whose logins go through systemd has them all (useradd adds
// the ids, logind makes the runtime directory); a host without systemd
// logins needs an administrator first (README, "Rootless").

// Rootless checks this user's account (uid, not root) for rootless Podman:
// one result per piece, in the order subids, runtime-dir, storage, tun,
// idmap.
func Rootless(uid int, getenv func(string) string) []Result {
	u := accountOf(uid)
	var ids SubIDs
	var idErr error
	for _, f := range []struct {
		path string
		dst  *[]SubIDRange
	}{{SubUIDFile, &ids.UID}, {SubGIDFile, &ids.GID}} {
		ranges, err := readSubIDs(f.path)
		if err != nil && idErr == nil {
			idErr = fmt.Errorf("%s: %v", f.path, err)
		}
		*f.dst = ranges
	}
	subids := JudgeSubIDs(uid, u.name, ids)
	if idErr != nil {
		subids = Result{Status: Fail, Detail: idErr.Error(), Fix: subIDFix(uid, u.name)}
	}
	subids.Check = "subids"

	xdg := getenv("XDG_RUNTIME_DIR")
	rd := RuntimeDirFacts{Env: xdg, TerokEnv: getenv("TEROK_RUNTIME_DIR"), Default: "/run/user/" + strconv.Itoa(uid)}
	rd.Stat, rd.StatErr = statOwner(xdg)
	if xdg == "" {
		rd.DefaultStat, _ = statOwner(rd.Default)
	}

	return []Result{
		subids,
		JudgeRuntimeDir(u, rd),
		JudgeStorage(readStorage(getenv)),
		JudgeTun(statDevice(TunDevice)),
		JudgeIDMaps(readIDMap("newuidmap", unix.CAP_SETUID), readIDMap("newgidmap", unix.CAP_SETGID)),
	}
}

// Account is the user the fixes name.
type Account struct {
	uid         int
	name, group string
}

// NewAccount is an account for the checks' fixes (tests make their own).
func NewAccount(uid int, name, group string) Account {
	return Account{uid: uid, name: name, group: group}
}

func accountOf(uid int) Account {
	a := Account{uid: uid, name: strconv.Itoa(uid), group: strconv.Itoa(uid)}
	if u, err := user.LookupId(a.name); err == nil {
		a.name = u.Username
		a.group = u.Gid
		if g, err := user.LookupGroupId(u.Gid); err == nil {
			a.group = g.Name
		}
	}
	return a
}

// Owned is what a check needs of a file: its type and mode, and its owner.
type Owned struct {
	Mode fs.FileMode
	UID  int
	Rdev uint64 // a device's number
}

// statOwner stats path (links followed); nil when path is "".
func statOwner(path string) (*Owned, error) {
	if path == "" {
		return nil, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	o := &Owned{Mode: st.Mode()}
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		o.UID, o.Rdev = int(s.Uid), s.Rdev
	}
	return o, nil
}

// RuntimeDirFacts is what the runtime-dir check reads: XDG_RUNTIME_DIR
// and what is there, TEROK_RUNTIME_DIR, and when XDG_RUNTIME_DIR is not
// set, the directory a systemd login would have made (/run/user/UID).
type RuntimeDirFacts struct {
	Env, TerokEnv string
	Stat          *Owned
	StatErr       error
	Default       string
	DefaultStat   *Owned
}

// JudgeRuntimeDir: XDG_RUNTIME_DIR names a directory the user owns, mode
// 0700 (as the XDG base directory specification requires; Podman keeps
// its sockets and locks there, terok its tasks' control sockets). Without
// it terok would fall back to /tmp/terok-UID, a name another local user
// can take first; with TEROK_RUNTIME_DIR set terok uses that instead, and
// Podman its own fallback, which it checks.
func JudgeRuntimeDir(a Account, f RuntimeDirFacts) Result {
	r := Result{Check: "runtime-dir", Status: OK}
	makeDir := func(dir string) string {
		return fmt.Sprintf("as root: install -d -m 0700 -o %s -g %s %s", a.name, a.group, dir)
	}
	switch {
	case f.Env == "" && f.TerokEnv != "":
		r.Detail = "XDG_RUNTIME_DIR is not set; terok uses TEROK_RUNTIME_DIR (" + f.TerokEnv + "), Podman its own fallback"
	case f.Env == "" && f.DefaultStat != nil && f.DefaultStat.Mode.IsDir() && f.DefaultStat.UID == a.uid && f.DefaultStat.Mode.Perm() == 0o700:
		r.Status = Fail
		r.Detail = "XDG_RUNTIME_DIR is not set (" + f.Default + " is there): terok would keep its sockets in /tmp/terok-" + strconv.Itoa(a.uid) + ", which another user can make first"
		r.Fix = "export XDG_RUNTIME_DIR=" + f.Default + " (in ~/.profile, for every login)"
	case f.Env == "" && f.DefaultStat != nil:
		r.Status = Fail
		r.Detail = "XDG_RUNTIME_DIR is not set, and " + f.Default + " is not a directory of yours with mode 0700"
		r.Fix = fmt.Sprintf("as root: chown %s:%s %s && chmod 0700 %s, then export XDG_RUNTIME_DIR=%s in ~/.profile", a.name, a.group, f.Default, f.Default, f.Default)
	case f.Env == "":
		r.Status = Fail
		r.Detail = "XDG_RUNTIME_DIR is not set and " + f.Default + " does not exist (no systemd login made it): terok would keep its sockets in /tmp/terok-" + strconv.Itoa(a.uid) + ", which another user can make first"
		r.Fix = makeDir(f.Default) + " (at every boot), then export XDG_RUNTIME_DIR=" + f.Default + " in ~/.profile"
	case errors.Is(f.StatErr, fs.ErrNotExist):
		r.Status = Fail
		r.Detail = "XDG_RUNTIME_DIR=" + f.Env + " does not exist"
		r.Fix = makeDir(f.Env)
	case f.StatErr != nil:
		r.Status = Fail
		r.Detail = "XDG_RUNTIME_DIR: " + f.StatErr.Error()
		r.Fix = makeDir(f.Env)
	case !f.Stat.Mode.IsDir():
		r.Status = Fail
		r.Detail = "XDG_RUNTIME_DIR=" + f.Env + " is not a directory"
		r.Fix = "point XDG_RUNTIME_DIR at your runtime directory (" + makeDir(f.Default) + ")"
	case f.Stat.UID != a.uid:
		r.Status = Fail
		r.Detail = fmt.Sprintf("XDG_RUNTIME_DIR=%s belongs to uid %d, not to %s", f.Env, f.Stat.UID, a.name)
		r.Fix = fmt.Sprintf("as root: chown %s:%s %s && chmod 0700 %s", a.name, a.group, f.Env, f.Env)
	case f.Stat.Mode.Perm() != 0o700:
		r.Status = Fail
		r.Detail = fmt.Sprintf("XDG_RUNTIME_DIR=%s has mode %04o; it must be 0700", f.Env, f.Stat.Mode.Perm())
		r.Fix = "chmod 0700 " + f.Env
	default:
		r.Detail = "XDG_RUNTIME_DIR=" + f.Env + ", yours, mode 0700"
	}
	return r
}

// StorageFacts is what the storage check reads: the driver storage.conf
// names (and the file), the drivers whose layers are already in the
// user's store, the overlay mount program, the kernel's version, and
// whether fuse-overlayfs and /dev/fuse are there.
type StorageFacts struct {
	ConfFile, Driver string   // "" when no file names a driver
	InUse            []string // drivers with a <driver>-layers directory in the store
	Store            string
	MountProgram     string
	Kernel           [2]int // major, minor
	FuseOverlayfs    string // its path, "" when missing
	Fuse             *Owned // /dev/fuse
	BadConf          error
}

// nativeOverlayKernel is the first Linux whose overlay file system mounts
// in a user namespace, so that rootless Podman needs no fuse-overlayfs.
var nativeOverlayKernel = [2]int{5, 13}

// overlayConf is the line that makes a user's storage overlay.
const overlayConf = `mkdir -p ~/.config/containers && printf '[storage]\ndriver = "overlay"\n' > ~/.config/containers/storage.conf`

// JudgeStorage: the driver Podman will use for this user can work
// rootless. overlay works natively from Linux 5.13, else through
// fuse-overlayfs; vfs works but copies every image for every container
// (measured here: a project image built in 12 minutes instead of about
// one, a task took 45 s to start), so it is ok with the line that
// switches to overlay. A store made with one driver while storage.conf now
// names another makes Podman refuse to start: that fails.
func JudgeStorage(f StorageFacts) Result {
	r := Result{Check: "storage", Status: OK}
	conf := f.ConfFile
	if conf == "" {
		conf = "no storage.conf names a driver"
	}
	if f.BadConf != nil {
		r.Status, r.Detail = Fail, f.BadConf.Error()
		r.Fix = "correct the file's TOML (man containers-storage.conf)"
		return r
	}
	driver := f.Driver
	if len(f.InUse) > 0 {
		if f.Driver != "" && f.Driver != f.InUse[0] {
			r.Status = Fail
			r.Detail = fmt.Sprintf("your store %s was made with %s, and %s now names %s: Podman refuses to start", f.Store, f.InUse[0], f.ConfFile, f.Driver)
			r.Fix = fmt.Sprintf("podman system reset --force (removes your images and containers), or set driver = %q in %s again", f.InUse[0], f.ConfFile)
			return r
		}
		driver = f.InUse[0]
	}
	native := f.Kernel[0] > nativeOverlayKernel[0] || f.Kernel[0] == nativeOverlayKernel[0] && f.Kernel[1] >= nativeOverlayKernel[1]
	kernel := fmt.Sprintf("Linux %d.%d", f.Kernel[0], f.Kernel[1])
	switch driver {
	case "", "vfs":
		r.Detail = "vfs (" + conf + "): it works, but every container copies its image, so builds and task starts take far longer"
		if driver == "" {
			r.Detail = "Podman picks the driver when it first runs, vfs unless overlay is named (" + conf + "): vfs copies every image for every container"
		}
		r.Fix = overlayConf
		if len(f.InUse) > 0 {
			r.Fix = "podman system reset --force (removes your images and containers), then " + overlayConf
		}
	case "overlay":
		switch prog := f.MountProgram; {
		case prog != "" && !fileExists(prog):
			r.Status, r.Detail = Fail, "overlay through "+prog+", which is not installed"
			r.Fix = "as root: apt-get install -y fuse-overlayfs"
		case prog != "" || !native:
			if prog == "" {
				prog = f.FuseOverlayfs
			}
			switch {
			case prog == "":
				r.Status, r.Detail = Fail, "overlay: "+kernel+" cannot mount it in a user namespace (5.13 can), and fuse-overlayfs is not installed"
				r.Fix = "as root: apt-get install -y fuse-overlayfs"
			case f.Fuse == nil || f.Fuse.Mode&0o006 != 0o006:
				r.Status, r.Detail = Fail, "overlay through "+prog+", but /dev/fuse is missing or not usable by every user"
				r.Fix = "as root: chmod 666 /dev/fuse (modprobe fuse if it is missing)"
			default:
				r.Detail = "overlay through " + prog + " (" + conf + ")"
			}
		default:
			r.Detail = "overlay, native (" + kernel + "; " + conf + ")"
		}
	default:
		r.Detail = driver + " (" + conf + ")"
	}
	if len(f.InUse) > 0 {
		r.Detail += "; in use in " + f.Store
	}
	if len(f.InUse) > 1 && r.Status == OK {
		r.Status = Warn
		r.Detail += fmt.Sprintf(", which holds layers of %s: what one made, the other does not see", strings.Join(f.InUse, " and "))
		r.Fix = "podman system reset --force (removes your images and containers)"
	}
	return r
}

// storageConf is the part of storage.conf read here.
type storageConf struct {
	Storage struct {
		Driver             string `toml:"driver"`
		RootlessStoragePth string `toml:"rootless_storage_path"`
		Options            struct {
			MountProgram string `toml:"mount_program"`
			Overlay      struct {
				MountProgram string `toml:"mount_program"`
			} `toml:"overlay"`
		} `toml:"options"`
	} `toml:"storage"`
}

// StorageConfFiles are the storage.conf files Podman reads for a user, in
// order of precedence: $CONTAINERS_STORAGE_CONF alone when set; else the
// user's own, then /etc/containers/storage.conf, then the vendor's.
func StorageConfFiles(getenv func(string) string) []string {
	if p := getenv("CONTAINERS_STORAGE_CONF"); p != "" {
		return []string{p}
	}
	var out []string
	if x := getenv("XDG_CONFIG_HOME"); x != "" {
		out = append(out, filepath.Join(x, "containers", "storage.conf"))
	} else if h := getenv("HOME"); h != "" {
		out = append(out, filepath.Join(h, ".config", "containers", "storage.conf"))
	}
	return append(out, "/etc/containers/storage.conf", "/usr/share/containers/storage.conf")
}

// readStorage reads the first storage.conf that exists, the user's store
// and the kernel.
func readStorage(getenv func(string) string) StorageFacts {
	var f StorageFacts
	var c storageConf
	for _, p := range StorageConfFiles(getenv) {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if _, err := toml.DecodeFile(p, &c); err != nil {
			f.BadConf = fmt.Errorf("%s: %v", p, err)
		}
		f.ConfFile = p
		break
	}
	f.Driver = c.Storage.Driver
	if f.Driver == "" {
		f.ConfFile = ""
	}
	f.MountProgram = c.Storage.Options.Overlay.MountProgram
	if f.MountProgram == "" {
		f.MountProgram = c.Storage.Options.MountProgram
	}
	f.Store = userStore(getenv, c.Storage.RootlessStoragePth)
	for _, d := range []string{"overlay", "vfs", "btrfs", "zfs", "aufs"} {
		if st, err := os.Stat(filepath.Join(f.Store, d+"-layers")); err == nil && st.IsDir() {
			f.InUse = append(f.InUse, d)
		}
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		f.Kernel = ParseKernel(unix.ByteSliceToString(u.Release[:]))
	}
	f.FuseOverlayfs = findBinary("fuse-overlayfs")
	f.Fuse, _ = statOwner("/dev/fuse")
	return f
}

// userStore is the user's graph root: rootless_storage_path (with $HOME,
// $UID and $USER expanded, as containers/storage does) or the XDG default.
func userStore(getenv func(string) string, configured string) string {
	if configured != "" {
		return os.Expand(configured, func(k string) string {
			switch k {
			case "UID":
				return strconv.Itoa(os.Getuid())
			case "HOME", "USER":
				return getenv(k)
			}
			return ""
		})
	}
	if x := getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "containers", "storage")
	}
	return filepath.Join(getenv("HOME"), ".local", "share", "containers", "storage")
}

// ParseKernel reads "6.1.0-18-amd64" as {6, 1}; {0, 0} when it cannot.
func ParseKernel(release string) [2]int {
	var v [2]int
	parts := strings.SplitN(release, ".", 3)
	for i := 0; i < 2 && i < len(parts); i++ {
		n := 0
		for _, c := range parts[i] {
			if c < '0' || c > '9' {
				break
			}
			n = n*10 + int(c-'0')
		}
		v[i] = n
	}
	return v
}

// TunDevice is the device slirp4netns and pasta open to give a rootless
// container its network.
const TunDevice = "/dev/net/tun"

func statDevice(path string) *Owned {
	o, _ := statOwner(path)
	return o
}

// JudgeTun: /dev/net/tun exists and every user may read and write it. It
// is opened from inside the container's user namespace, where the host's
// root is nobody, so the mode's bits for others are what count.
func JudgeTun(dev *Owned) Result {
	r := Result{Check: "tun", Status: OK}
	switch {
	case dev == nil || dev.Mode&fs.ModeCharDevice == 0:
		r.Status, r.Detail = Fail, TunDevice+" is missing: rootless containers have no network (slirp4netns, pasta)"
		r.Fix = "as root: modprobe tun (in a container host: mkdir -p /dev/net && mknod -m 666 /dev/net/tun c 10 200)"
	case dev.Mode&0o006 != 0o006:
		r.Status = Fail
		r.Detail = fmt.Sprintf("%s has mode %04o: rootless containers cannot open it for their network", TunDevice, dev.Mode.Perm())
		r.Fix = "as root: chmod 666 " + TunDevice
	default:
		r.Detail = fmt.Sprintf("%s, mode %04o", TunDevice, dev.Mode.Perm())
	}
	return r
}

// IDMap is what the idmap check reads of newuidmap or newgidmap: where it
// is, its mode and owner, and whether its file capabilities grant the one
// capability it needs.
type IDMap struct {
	Tool, Path string
	File       *Owned
	Cap        bool // permitted and effective in security.capability
	CapName    string
}

func readIDMap(tool string, capability int) IDMap {
	m := IDMap{Tool: tool, Path: findBinary(tool), CapName: "cap_setuid"}
	if capability == unix.CAP_SETGID {
		m.CapName = "cap_setgid"
	}
	if m.Path == "" {
		return m
	}
	m.File, _ = statOwner(m.Path)
	buf := make([]byte, 64)
	if n, err := unix.Getxattr(m.Path, "security.capability", buf); err == nil {
		m.Cap = FileCapGrants(buf[:n], capability)
	}
	return m
}

// FileCapGrants reads a security.capability attribute (vfs_cap_data,
// revisions 1 to 3) and says whether it makes cap effective and permitted.
func FileCapGrants(b []byte, capability int) bool {
	if len(b) < 8 || capability < 0 || capability > 31 {
		return false
	}
	magic := binary.LittleEndian.Uint32(b[0:4])
	const effective = 0x000001
	if magic&0xFF000000 == 0 || magic&effective == 0 {
		return false
	}
	return binary.LittleEndian.Uint32(b[4:8])&(1<<capability) != 0
}

// JudgeIDMaps: newuidmap and newgidmap are installed and may write
// another user's id map: set-uid root, or with the file capability
// (cap_setuid, cap_setgid) that some distributions give them instead.
func JudgeIDMaps(maps ...IDMap) Result {
	r := Result{Check: "idmap", Status: OK}
	var found []string
	for _, m := range maps {
		switch {
		case m.Path == "" || m.File == nil:
			r.Status, r.Detail = Fail, m.Tool+" is not installed: Podman cannot map your subordinate ids"
			r.Fix = "as root: apt-get install -y uidmap (dnf install -y shadow-utils)"
			return r
		case m.File.Mode&fs.ModeSetuid != 0 && m.File.UID == 0:
			found = append(found, m.Path+" set-uid root")
		case m.Cap:
			found = append(found, m.Path+" with "+m.CapName)
		default:
			r.Status = Fail
			r.Detail = m.Path + " is neither set-uid root nor has " + m.CapName + ": it cannot write your id map"
			r.Fix = fmt.Sprintf("as root: chmod u+s %s (or setcap %s+ep %s)", m.Path, m.CapName, m.Path)
			return r
		}
	}
	r.Detail = strings.Join(found, ", ")
	return r
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
