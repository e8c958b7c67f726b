package egresssvc

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/terok-ai/terok-go/lib/netns"
)

// soOriginalDst is SO_ORIGINAL_DST (netfilter_ipv4.h) and
// IP6T_SO_ORIGINAL_DST (ip6_tables.h): both 80, at SOL_IP and SOL_IPV6.
const soOriginalDst = 80

// OriginalDst returns the destination a redirected connection was sent to
// before the nat rule changed it: SO_ORIGINAL_DST for IPv4,
// IP6T_SO_ORIGINAL_DST for IPv6.
func OriginalDst(c *net.TCPConn) (netip.AddrPort, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, err
	}
	local, _ := c.LocalAddr().(*net.TCPAddr)
	v6 := local != nil && local.IP.To4() == nil
	var ap netip.AddrPort
	var serr error
	err = rc.Control(func(fd uintptr) {
		if v6 {
			// IPv6MTUInfo begins with a sockaddr_in6: the size the kernel
			// writes for IP6T_SO_ORIGINAL_DST.
			var info *unix.IPv6MTUInfo
			info, serr = unix.GetsockoptIPv6MTUInfo(int(fd), unix.SOL_IPV6, soOriginalDst)
			if serr == nil {
				a := info.Addr
				ap = netip.AddrPortFrom(netip.AddrFrom16(a.Addr), binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&a.Port))[:]))
			}
			return
		}
		// IPv6Mreq is 20 bytes: room for the sockaddr_in the kernel writes.
		var m *unix.IPv6Mreq
		m, serr = unix.GetsockoptIPv6Mreq(int(fd), unix.SOL_IP, soOriginalDst)
		if serr == nil {
			b := m.Multiaddr // family(2) port(2, big endian) addr(4)
			ap = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), binary.BigEndian.Uint16(b[2:4]))
		}
	})
	if err == nil {
		err = serr
	}
	return ap, err
}

// DialInNetNS returns a Config.Dial that connects from inside the network
// namespace of process pid, with SO_MARK mark on its socket (the ruleset
// exempts that mark from the redirect; setting it needs CAP_NET_ADMIN in
// the namespace's user namespace).
func DialInNetNS(pid int, mark int) func(ctx context.Context, dst netip.AddrPort) (*net.TCPConn, error) {
	return func(ctx context.Context, dst netip.AddrPort) (*net.TCPConn, error) {
		var c net.Conn
		err := netns.Do(pid, func() (err error) {
			c, err = MarkedDialer(mark).DialContext(ctx, "tcp", dst.String())
			return err
		})
		if err != nil {
			return nil, err
		}
		return c.(*net.TCPConn), nil
	}
}

// MarkedDialer is a dialer whose sockets carry SO_MARK mark.
func MarkedDialer(mark int) *net.Dialer {
	return &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, mark)
		}); err != nil {
			return err
		}
		return serr
	}}
}
