// Package nflog reads the packets a firewall logs to an NFLOG group: the
// blocked connection attempts of a task, as its shield's ruleset logs them
// in the task's own network namespace.
//
// It speaks nfnetlink_log directly (a raw netlink socket, the standard
// library's netlink message parser, mdlayher/netlink's attribute codec):
// the socket is made by the caller's thread, so made inside netns.Do it
// reads that namespace's log and no other — never silently the host's.
package nflog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// From linux/netfilter/nfnetlink_log.h and nfnetlink.h.
const (
	subsysULOG      = 4
	msgPacket       = 0
	msgConfig       = 1
	attrPacketHdr   = 1
	attrTimestamp   = 3
	attrPayload     = 9
	attrPrefix      = 10
	cfgCmd          = 1
	cfgMode         = 2
	cfgQThresh      = 5
	cfgTimeout      = 4
	cmdBind         = 1
	copyPacket      = 2
	copyRange       = 128 // enough for the IP and transport headers
	nlmsgHeaderSize = 16
)

// Event is one logged packet.
type Event struct {
	Time     time.Time  `json:"time"`
	Prefix   string     `json:"prefix,omitempty"`   // the log rule's prefix
	Protocol string     `json:"protocol"`           // tcp, udp, icmp, icmpv6, or the number
	Src      netip.Addr `json:"src"`                //
	Dst      netip.Addr `json:"dst"`                //
	SrcPort  uint16     `json:"src_port,omitempty"` // tcp and udp
	DstPort  uint16     `json:"dst_port,omitempty"` // tcp and udp
	ICMPType *uint8     `json:"icmp_type,omitempty"`
}

// Reader is a bound NFLOG group.
type Reader struct {
	f     *os.File
	group uint16
	seq   uint32
	buf   []byte
}

// Open binds NFLOG group in the calling thread's network namespace. Only
// one socket may bind a group in a namespace. It needs CAP_NET_ADMIN over
// that namespace.
func Open(group uint16) (*Reader, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("nflog: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		_ = unix.Close(fd) // the bind's error is the one to report
		return nil, fmt.Errorf("nflog: %w", err)
	}
	// A burst of blocked packets must not be lost to a small buffer. It is
	// a margin (the kernel caps it at net.core.rmem_max anyway): without it
	// the reader still works.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	r := &Reader{f: os.NewFile(uintptr(fd), "nflog"), group: group, buf: make([]byte, 1<<16)}
	mode := make([]byte, 6)
	binary.BigEndian.PutUint32(mode, copyRange)
	mode[4] = copyPacket
	one := binary.BigEndian.AppendUint32(nil, 1)
	for _, attrs := range [][]netlink.Attribute{
		{{Type: cfgCmd, Data: []byte{cmdBind}}},
		{{Type: cfgMode, Data: mode}},
		// Deliver each packet at once, not in batches.
		{{Type: cfgQThresh, Data: one}},
		{{Type: cfgTimeout, Data: binary.BigEndian.AppendUint32(nil, 0)}},
	} {
		if err := r.config(attrs); err != nil {
			_ = r.Close() // the configuration's error is the one to report
			return nil, fmt.Errorf("nflog: binding group %d: %w", group, err)
		}
	}
	return r, nil
}

// config sends one configuration message and waits for its ack.
func (r *Reader) config(attrs []netlink.Attribute) error {
	body, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		return err
	}
	r.seq++
	msg := make([]byte, nlmsgHeaderSize+4, nlmsgHeaderSize+4+len(body))
	msg = append(msg, body...)
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], subsysULOG<<8|msgConfig)
	binary.NativeEndian.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	binary.NativeEndian.PutUint32(msg[8:], r.seq)
	msg[16] = unix.AF_UNSPEC                              // nfgen_family
	msg[17] = 0                                           // version
	binary.BigEndian.PutUint16(msg[18:], uint16(r.group)) // res_id: the group
	if _, err := r.f.Write(msg); err != nil {
		return err
	}
	// Without the deadline a missing ack would block Open for ever.
	if err := r.f.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return err
	}
	defer func() { _ = r.f.SetReadDeadline(time.Time{}) }() // it was just set, so clearing it works too
	for {
		n, err := r.f.Read(r.buf)
		if err != nil {
			return err
		}
		msgs, err := syscall.ParseNetlinkMessage(r.buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Type != unix.NLMSG_ERROR || m.Header.Seq != r.seq {
				continue
			}
			if len(m.Data) < 4 {
				return errors.New("short netlink ack")
			}
			if errno := int32(binary.NativeEndian.Uint32(m.Data)); errno != 0 {
				return syscall.Errno(-errno)
			}
			return nil
		}
	}
}

// Close unbinds the group; a Read in progress returns.
func (r *Reader) Close() error { return r.f.Close() }

// Read returns the next logged packets (one or more). It blocks until
// there are some, the deadline passes, or the Reader is closed.
func (r *Reader) Read() ([]Event, error) {
	for {
		n, err := r.f.Read(r.buf)
		if err != nil {
			return nil, err
		}
		msgs, err := syscall.ParseNetlinkMessage(r.buf[:n])
		if err != nil {
			continue // a torn datagram: skip it, keep reading
		}
		var out []Event
		for _, m := range msgs {
			if m.Header.Type != subsysULOG<<8|msgPacket || len(m.Data) < 4 {
				continue
			}
			if ev, ok := parsePacketMsg(m.Data[4:]); ok {
				out = append(out, ev)
			}
		}
		if len(out) > 0 {
			return out, nil
		}
	}
}

// SetReadDeadline bounds Read.
func (r *Reader) SetReadDeadline(t time.Time) error { return r.f.SetReadDeadline(t) }

// parsePacketMsg decodes the attributes of one NFULNL_MSG_PACKET.
func parsePacketMsg(b []byte) (Event, bool) {
	attrs, err := netlink.UnmarshalAttributes(b)
	if err != nil {
		return Event{}, false
	}
	ev := Event{Time: time.Now().UTC()}
	var payload []byte
	for _, a := range attrs {
		switch a.Type & 0x7fff { // without NLA_F_NESTED/NET_BYTEORDER
		case attrPrefix:
			ev.Prefix = string(trimNUL(a.Data))
		case attrPayload:
			payload = a.Data
		case attrTimestamp:
			if len(a.Data) == 16 {
				sec := binary.BigEndian.Uint64(a.Data)
				usec := binary.BigEndian.Uint64(a.Data[8:])
				ev.Time = time.Unix(int64(sec), int64(usec)*1000).UTC()
			}
		}
	}
	if !ParsePacket(payload, &ev) {
		return Event{}, false
	}
	return ev, true
}

// ParsePacket fills ev's addresses, protocol and ports from an IPv4 or
// IPv6 packet (from its network header on). It reports false for anything
// it cannot read; it never reads past b.
func ParsePacket(b []byte, ev *Event) bool {
	if len(b) < 1 {
		return false
	}
	var proto uint8
	var l4 []byte
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return false
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return false
		}
		proto = b[9]
		ev.Src = netip.AddrFrom4([4]byte(b[12:16]))
		ev.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		// A fragment after the first carries no transport header.
		if binary.BigEndian.Uint16(b[6:8])&0x1fff == 0 {
			l4 = b[ihl:]
		}
	case 6:
		if len(b) < 40 {
			return false
		}
		proto = b[6]
		ev.Src = netip.AddrFrom16([16]byte(b[8:24]))
		ev.Dst = netip.AddrFrom16([16]byte(b[24:40]))
		l4 = b[40:]
	default:
		return false
	}
	switch proto {
	case unix.IPPROTO_TCP, unix.IPPROTO_UDP:
		ev.Protocol = map[uint8]string{unix.IPPROTO_TCP: "tcp", unix.IPPROTO_UDP: "udp"}[proto]
		if len(l4) >= 4 {
			ev.SrcPort = binary.BigEndian.Uint16(l4)
			ev.DstPort = binary.BigEndian.Uint16(l4[2:])
		}
	case unix.IPPROTO_ICMP, unix.IPPROTO_ICMPV6:
		ev.Protocol = "icmp"
		if proto == unix.IPPROTO_ICMPV6 {
			ev.Protocol = "icmpv6"
		}
		if len(l4) >= 1 {
			t := l4[0]
			ev.ICMPType = &t
		}
	default:
		ev.Protocol = fmt.Sprint(proto)
	}
	return true
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}
