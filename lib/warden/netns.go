package warden

import (
	"net"

	"github.com/terok-ai/terok-go/lib/netns"
)

// ListenInNetNS opens a TCP listener on addr inside the network namespace
// of process pid (a task's container). A socket keeps the namespace it was
// made in, so the listener serves that namespace alone — here, the task's
// loopback — while this process stays in the host's namespaces (see
// netns.Do).
func ListenInNetNS(pid int, addr string) (net.Listener, error) {
	var l net.Listener
	err := netns.Do(pid, func() (err error) {
		l, err = net.Listen("tcp", addr)
		return err
	})
	return l, err
}

// ListenPacketInNetNS is ListenInNetNS for a UDP socket.
func ListenPacketInNetNS(pid int, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := netns.Do(pid, func() (err error) {
		c, err = net.ListenPacket("udp", addr)
		return err
	})
	return c, err
}
