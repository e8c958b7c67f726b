package nflog

import (
	"encoding/binary"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/netns"
	"github.com/terok-ai/terok-go/lib/testenv"
)

func ipv4(proto uint8, src, dst string, l4 []byte) []byte {
	b := make([]byte, 20, 20+len(l4))
	b[0] = 0x45
	b[9] = proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	return append(b, l4...)
}

func ports(src, dst uint16) []byte {
	b := binary.BigEndian.AppendUint16(nil, src)
	return binary.BigEndian.AppendUint16(b, dst)
}

func TestParsePacket(t *testing.T) {
	var ev Event
	if !ParsePacket(ipv4(6, "10.0.0.2", "192.0.2.7", ports(40000, 443)), &ev) ||
		ev.Protocol != "tcp" || ev.Dst.String() != "192.0.2.7" || ev.DstPort != 443 || ev.SrcPort != 40000 {
		t.Fatalf("tcp: %+v", ev)
	}
	ev = Event{}
	v6 := make([]byte, 40)
	v6[0], v6[6] = 0x60, 17
	d := netip.MustParseAddr("2001:db8::9").As16()
	copy(v6[24:], d[:])
	if !ParsePacket(append(v6, ports(5000, 53)...), &ev) || ev.Protocol != "udp" || ev.Dst.String() != "2001:db8::9" || ev.DstPort != 53 {
		t.Fatalf("udp6: %+v", ev)
	}
	ev = Event{}
	if !ParsePacket(ipv4(1, "10.0.0.2", "192.0.2.7", []byte{8, 0}), &ev) || ev.Protocol != "icmp" || ev.ICMPType == nil || *ev.ICMPType != 8 {
		t.Fatalf("icmp: %+v", ev)
	}
	for _, bad := range [][]byte{nil, {0x45}, {0x4f, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 39), {0x70}} {
		if ParsePacket(bad, &Event{}) {
			t.Errorf("parsed %x", bad)
		}
	}
}

func FuzzParsePacket(f *testing.F) {
	f.Add(ipv4(6, "10.0.0.2", "192.0.2.7", ports(1, 2)))
	f.Add([]byte{0x60})
	f.Fuzz(func(t *testing.T, b []byte) {
		var ev Event
		if ParsePacket(b, &ev) && !ev.Dst.IsValid() {
			t.Fatalf("parsed without a destination: %x", b)
		}
		parsePacketMsg(b)
	})
}

// A real NFLOG group in a real network namespace: packets a rule logs
// there arrive with their destination, port, protocol and prefix.
func TestReadInNamespace(t *testing.T) {
	testenv.Need(t, os.Geteuid() == 0, "needs root (network namespaces, nftables)")
	nft := testenv.Tool(t, "nft", "nftables")
	testenv.Tool(t, "ip", "iproute2")
	// A process in a namespace of its own stands in for a task.
	pid := testenv.NetNSHolder(t)
	in := func(args ...string) {
		t.Helper()
		out, err := exec.Command("nsenter", append([]string{"-t", strconv.Itoa(pid), "-n"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	in("ip", "link", "set", "lo", "up")
	in("ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1")
	in("ip", "addr", "add", "10.77.0.1/24", "dev", "d0")
	in("ip", "link", "set", "d0", "up")
	in("ip", "link", "set", "d1", "up")
	in("ip", "route", "add", "default", "via", "10.77.0.2")
	in(nft, "add", "table", "inet", "t")
	in(nft, "add", "chain", "inet", "t", "o", "{ type filter hook output priority 0 ; }")
	in(nft, "add", "rule", "inet", "t", "o", "ip", "daddr", "192.0.2.0/24", "log", "group", "7", "prefix", `"terok-test"`,
		"reject", "with", "icmpx", "admin-prohibited")

	var r *Reader
	if err := netns.Do(pid, func() (err error) { r, err = Open(7); return err }); err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	in("sh", "-c", "bash -c 'echo > /dev/tcp/192.0.2.5/443' 2>/dev/null; bash -c 'echo x > /dev/udp/192.0.2.6/5353' 2>/dev/null; true")
	if err := r.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	want := []string{"tcp 192.0.2.5:443 terok-test", "udp 192.0.2.6:5353 terok-test"}
	var seen []string
	for !(slices.Contains(seen, want[0]) && slices.Contains(seen, want[1])) {
		evs, err := r.Read()
		if err != nil {
			t.Fatalf("read after %v: %v", seen, err)
		}
		for _, ev := range evs {
			seen = append(seen, ev.Protocol+" "+ev.Dst.String()+":"+strconv.Itoa(int(ev.DstPort))+" "+ev.Prefix)
		}
	}
	// The same group in another namespace is another group: binding it
	// here (the test's namespace) does not steal the task's events.
	if other, err := Open(7); err == nil {
		_ = other.Close()
	} else {
		t.Errorf("group 7 of the host's namespace is not free: %v", err)
	}
}
