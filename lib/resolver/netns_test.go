package resolver_test

import (
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/resolver"
	"github.com/terok-ai/terok-go/lib/testenv"
	"github.com/terok-ai/terok-go/lib/warden"
)

// The resolver serves on sockets the warden makes inside a task's network
// namespace (here, that of an unshared sleep) and asks the upstream from
// the host's: dig, run inside the namespace, gets allowed names over UDP
// and TCP from 127.0.0.1:53, a refusal for others, and cannot reach the
// upstream itself.
func TestServesInsideANetworkNamespace(t *testing.T) {
	testenv.Need(t, os.Geteuid() == 0, "making and entering a network namespace needs root")
	nsenter := testenv.Tool(t, "nsenter", "util-linux")
	testenv.Tool(t, "dig", "bind9-dnsutils")
	testenv.Tool(t, "ip", "iproute2")

	pid := testenv.NetNSHolder(t)
	inNS := func(args ...string) (string, error) {
		out, err := exec.Command(nsenter, append([]string{"-t", strconv.Itoa(pid), "-n"}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := inNS("ip", "link", "set", "lo", "up"); err != nil {
		t.Fatalf("ip link set lo up: %v\n%s", err, out)
	}

	up := resolver.StartUpstream(t)
	learned := make(chan string, 16)
	r, err := resolver.New(resolver.Config{
		Policy:    resolver.PolicyOfTests(t),
		Upstreams: []string{up.Addr},
		Learn: func(name string, addrs []netip.Addr, ttl time.Duration) error {
			learned <- name
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	pc, err := warden.ListenPacketInNetNS(pid, "127.0.0.1:53")
	if err != nil {
		t.Fatal(err)
	}
	l, err := warden.ListenInNetNS(pid, "127.0.0.1:53")
	if err != nil {
		t.Fatal(err)
	}
	// Both end at Close; dig below finds out if they do not serve.
	go func() { _ = r.ServeUDP(pc) }()
	go func() { _ = r.ServeTCP(l) }()

	dig := func(args ...string) string {
		t.Helper()
		out, err := inNS(append([]string{"dig", "@127.0.0.1", "+tries=1", "+time=5"}, args...)...)
		if err != nil {
			t.Fatalf("dig %v: %v\n%s", args, err, out)
		}
		return out
	}
	for _, proto := range []string{"+notcp", "+tcp"} {
		if out := dig(proto, "+short", "allowed.test", "A"); strings.TrimSpace(out) != "192.0.2.10" {
			t.Fatalf("dig %s allowed.test: %q", proto, out)
		}
		if out := dig(proto, "+short", "sub.wild.test", "A"); strings.TrimSpace(out) != "192.0.2.30" {
			t.Fatalf("dig %s sub.wild.test: %q", proto, out)
		}
		if out := dig(proto, "notallowed.test", "A"); !strings.Contains(out, "status: REFUSED") {
			t.Fatalf("dig %s notallowed.test:\n%s", proto, out)
		}
	}
	if n := up.Count("notallowed.test"); n != 0 {
		t.Fatalf("the upstream was asked for a refused name %d times", n)
	}
	if got := <-learned; got != "allowed.test" {
		t.Fatalf("learned %q first", got)
	}
	// The upstream is on the host's loopback, not the task's.
	if out, _ := inNS("dig", "@127.0.0.1", "-p", up.Addr[strings.LastIndexByte(up.Addr, ':')+1:],
		"+tries=1", "+time=1", "+short", "allowed.test"); strings.Contains(out, "192.0.2.10") {
		t.Fatalf("the task's namespace reached the upstream directly:\n%s", out)
	}
}
