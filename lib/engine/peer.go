package engine

import (
	"net"
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
