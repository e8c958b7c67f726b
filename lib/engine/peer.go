package engine

import (
	"bufio"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// PeerUID returns the uid of the process serving the unix socket at path,
// as the kernel recorded it when that process (or the systemd that
// activates it) made the socket: 0 for a rootful Podman, the user's uid for
// a rootless one.
func PeerUID(path string) (uint32, error) {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	raw, err := c.(*net.UnixConn).SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, cerr
	}
	return cred.Uid, nil
}

// hostUID maps a uid as this process's user namespace sees it to the
// initial user namespace's, through /proc/self/uid_map; false when it is
// not mapped (the kernel then reports the overflow uid).
func hostUID(uid uint32) (uint32, bool) {
	f, err := os.Open("/proc/self/uid_map")
	if err != nil {
		return uid, true
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 {
			continue
		}
		in, e1 := strconv.ParseUint(fs[0], 10, 32)
		out, e2 := strconv.ParseUint(fs[1], 10, 32)
		n, e3 := strconv.ParseUint(fs[2], 10, 64)
		if e1 != nil || e2 != nil || e3 != nil {
			continue
		}
		if uint64(uid) >= in && uint64(uid) < in+n {
			return uint32(out + uint64(uid) - in), true
		}
	}
	return 0, false
}
