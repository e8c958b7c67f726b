package shield

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"syscall"
)

// HostAddresses returns the addresses of the network namespace the
// calling thread is in (the host's, when called from the host or from an
// OCI hook), loopback excepted. They are rejected from a task unless
// allowed.
func HostAddresses() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("reading the host's addresses: %w", err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if ip.IsLoopback() {
			continue
		}
		out = append(out, ip)
	}
	return out, nil
}

// SharesHostNetNS reports whether the network namespace of process pid is
// the one this process runs in, or PID 1's: a container run with
// --network=host. terok never installs its ruleset there — it would
// firewall the host.
func SharesHostNetNS(pid int) (bool, error) {
	target, err := nsID(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return false, err
	}
	// This thread's namespace, not /proc/self's: that is the main thread's,
	// which a locked goroutine that entered a task's namespace and ended
	// leaves wedged there. A locked thread running this goroutine never
	// entered one (such threads run nothing else).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, p := range []string{"/proc/thread-self/ns/net", "/proc/1/ns/net"} {
		id, err := nsID(p)
		if err != nil {
			if p == "/proc/1/ns/net" {
				continue // not ours to read (rootless)
			}
			return false, err
		}
		if id == target {
			return true, nil
		}
	}
	return false, nil
}

type nsKey struct{ dev, ino uint64 }

func nsID(path string) (nsKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nsKey{}, fmt.Errorf("reading the network namespace: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nsKey{}, fmt.Errorf("%s: no inode", path)
	}
	return nsKey{uint64(st.Dev), st.Ino}, nil
}
