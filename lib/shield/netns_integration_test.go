package shield_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/netns"
	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/testenv"
)

// newNetNS makes a fresh network namespace (loopback up) and removes it when
// the test ends; it returns its name.
func newNetNS(t *testing.T) string {
	t.Helper()
	testenv.Need(t, os.Getuid() == 0, "network namespaces need root")
	testenv.Tool(t, "ip", "iproute2")
	var b [4]byte
	rand.Read(b[:])
	name := fmt.Sprintf("terok-test-%x", b)
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func open(t *testing.T, ns string) *shield.Conn {
	t.Helper()
	c, err := shield.OpenNetNS("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// inNetNS runs f on an OS thread inside the namespace; the thread is
// discarded afterwards. Sockets made in f stay in the namespace.
func inNetNS(t *testing.T, ns string, f func()) {
	t.Helper()
	if err := netns.DoPath("/run/netns/"+ns, func() error { f(); return nil }); err != nil {
		t.Fatal(err)
	}
}

func targets(ss ...string) []config.Target {
	var out []config.Target
	for _, s := range ss {
		t, err := config.ParseTarget(s)
		if err != nil {
			panic(err)
		}
		out = append(out, t)
	}
	return out
}

// The internet stand-in: the task's namespace T reaches a namespace N
// through a veth pair; N answers on many addresses with a TCP and a UDP
// echo service on port 8080 and on port 53.
type internet struct {
	task, net string
}

var (
	allowed     = "198.51.100.10"
	allowed6    = "2001:db8:1::10"
	other       = "198.51.100.20"
	other6      = "2001:db8:1::20"
	bothListed  = "198.51.100.30" // allowed and denied
	learned     = "203.0.113.5"
	private     = "10.9.9.9"
	privateOK   = "10.9.9.10" // named explicitly
	privateDNS  = "10.9.9.11" // learned only
	metadata    = "169.254.169.254"
	hostAddress = "203.0.113.99" // stands for the host's own
)

func newInternet(t *testing.T) internet {
	t.Helper()
	in := internet{task: newNetNS(t), net: newNetNS(t)}
	var b [3]byte
	rand.Read(b[:])
	a, z := fmt.Sprintf("trk%xa", b), fmt.Sprintf("trk%xz", b)
	run(t, "ip", "link", "add", a, "netns", in.task, "type", "veth", "peer", "name", z, "netns", in.net)
	run(t, "ip", "-n", in.task, "addr", "add", "192.0.2.1/24", "dev", a)
	run(t, "ip", "-n", in.task, "-6", "addr", "add", "2001:db8::1/64", "dev", a, "nodad")
	run(t, "ip", "-n", in.net, "addr", "add", "192.0.2.2/24", "dev", z)
	run(t, "ip", "-n", in.net, "-6", "addr", "add", "2001:db8::2/64", "dev", z, "nodad")
	run(t, "ip", "-n", in.task, "link", "set", a, "up")
	run(t, "ip", "-n", in.net, "link", "set", z, "up")
	run(t, "ip", "-n", in.task, "route", "add", "default", "via", "192.0.2.2")
	run(t, "ip", "-n", in.task, "-6", "route", "add", "default", "via", "2001:db8::2")
	for _, addr := range []string{allowed, other, bothListed, learned, private, privateOK, privateDNS, metadata, hostAddress} {
		run(t, "ip", "-n", in.net, "addr", "add", addr+"/32", "dev", "lo")
	}
	for _, addr := range []string{allowed6, other6} {
		run(t, "ip", "-n", in.net, "-6", "addr", "add", addr+"/128", "dev", "lo", "nodad")
	}
	inNetNS(t, in.net, func() {
		for _, port := range []string{"8080", "53"} {
			l, err := net.Listen("tcp", "[::]:"+port)
			if err != nil {
				t.Error(err)
				return
			}
			t.Cleanup(func() { _ = l.Close() })
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					go func() { _, _ = io.Copy(c, c); _ = c.Close() }() // an echo: the client checks what comes back
				}
			}()
			// UDP per address, so that each answer comes from the address asked.
			for _, addr := range []string{allowed, allowed6, other, other6, "192.0.2.2"} {
				u, err := net.ListenPacket("udp", net.JoinHostPort(addr, port))
				if err != nil {
					t.Error(err)
					return
				}
				t.Cleanup(func() { _ = u.Close() })
				go func() {
					buf := make([]byte, 1500)
					for {
						n, from, err := u.ReadFrom(buf)
						if err != nil {
							return
						}
						_, _ = u.WriteTo(buf[:n], from) // an echo: the client checks what comes back
					}
				}()
			}
		}
	})
	// A listener on the task's own loopback (its resolver and warden live there).
	inNetNS(t, in.task, func() {
		l, err := net.Listen("tcp", "127.0.0.1:9418")
		if err != nil {
			t.Error(err)
			return
		}
		t.Cleanup(func() { _ = l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				_, _ = c.Write([]byte("warden\n")) // the client checks what comes back
				_ = c.Close()
			}
		}()
	})
	return in
}

// tcp connects from the task to addr:port and exchanges a line.
func (in internet) tcp(t *testing.T, addr, port string) error {
	t.Helper()
	var err error
	inNetNS(t, in.task, func() {
		var c net.Conn
		c, err = net.DialTimeout("tcp", net.JoinHostPort(addr, port), 5*time.Second)
		if err != nil {
			return
		}
		defer c.Close()
		if err = c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
			return
		}
		if _, err = c.Write([]byte("hello\n")); err != nil {
			return
		}
		b := make([]byte, 6)
		_, err = io.ReadFull(c, b)
	})
	return err
}

// udp sends a datagram from the task to addr:port and waits for its echo.
func (in internet) udp(t *testing.T, addr, port string) error {
	t.Helper()
	var err error
	inNetNS(t, in.task, func() {
		var c net.Conn
		c, err = net.Dial("udp", net.JoinHostPort(addr, port))
		if err != nil {
			return
		}
		defer c.Close()
		if err = c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
			return
		}
		if _, err = c.Write([]byte("hello")); err != nil {
			return
		}
		b := make([]byte, 16)
		_, err = c.Read(b)
	})
	return err
}

// ping sends an ICMP echo request from the task and waits for the reply.
func (in internet) ping(t *testing.T, addr string) error {
	t.Helper()
	var err error
	inNetNS(t, in.task, func() {
		var c net.Conn
		c, err = net.Dial("ip4:icmp", addr)
		if err != nil {
			return
		}
		defer c.Close()
		if err = c.SetDeadline(time.Now().Add(3 * time.Second)); err != nil {
			return
		}
		// type 8 (echo request), code 0, checksum, id 1, seq 1
		msg := []byte{8, 0, 0, 0, 0, 1, 0, 1}
		sum := 0
		for i := 0; i < len(msg); i += 2 {
			sum += int(msg[i])<<8 | int(msg[i+1])
		}
		sum = (sum >> 16) + (sum & 0xffff)
		cs := ^uint16(sum)
		msg[2], msg[3] = byte(cs>>8), byte(cs)
		if _, err = c.Write(msg); err != nil {
			return
		}
		b := make([]byte, 1500)
		_, err = c.Read(b)
	})
	return err
}

// refusedFast: the attempt failed with a refusal, not a timeout.
func refusedFast(t *testing.T, what string, err error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: got through", what)
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.ECONNRESET):
	default:
		t.Errorf("%s: failed, but not at once with a refusal: %v", what, err)
	}
}

func works(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

func TestApplyVerifyAndTamper(t *testing.T) {
	ns := newNetNS(t)
	c := open(t, ns)
	if _, err := c.Verify(); !errors.Is(err, shield.ErrNoRuleset) {
		t.Fatalf("a fresh namespace verified: %v", err)
	}
	p := shield.Policy{Allow: targets("192.0.2.7", "10.1.2.0/24", "10.1.2.9", "2001:db8::/32", "example.org"),
		Deny: targets("198.51.100.0/24"), Host: []netip.Addr{netip.MustParseAddr("203.0.113.99")}}
	if err := c.Apply(p); err != nil {
		t.Fatal(err)
	}
	st, err := c.VerifyPolicy(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Alive {
		t.Fatal("alive without a heartbeat")
	}
	// Apply again replaces the table in one batch; the sets follow the new policy.
	p.Allow = targets("192.0.2.8")
	if err := c.Apply(p); err != nil {
		t.Fatal(err)
	}
	if _, err := c.VerifyPolicy(p); err != nil {
		t.Fatal(err)
	}
	if err := c.Heartbeat(); err != nil {
		t.Fatal(err)
	}
	if st, err := c.Verify(); err != nil || !st.Alive {
		t.Fatalf("after a heartbeat: %+v %v", st, err)
	}
	// What nft itself reads back: the last rules log to the NFLOG group and reject.
	listing := run(t, "ip", "netns", "exec", ns, "nft", "list", "chain", "inet", "terok", "output")
	for _, want := range []string{`log prefix "terok blocked: " group 100 reject with tcp reset`,
		`log prefix "terok blocked: " group 100 reject with icmpx admin-prohibited`, "policy drop"} {
		if !strings.Contains(listing, want) {
			t.Errorf("nft lists no %q in\n%s", want, listing)
		}
	}

	// A rule removed by hand.
	out := run(t, "ip", "netns", "exec", ns, "nft", "-a", "list", "chain", "inet", "terok", "output")
	handle := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, `"terok: restricted"`) {
			handle = l[strings.LastIndex(l, " ")+1:]
			break
		}
	}
	if handle == "" {
		t.Fatalf("no restricted rule in\n%s", out)
	}
	run(t, "ip", "netns", "exec", ns, "nft", "delete", "rule", "inet", "terok", "output", "handle", handle)
	var ve *shield.VerifyError
	if _, err := c.Verify(); !errors.As(err, &ve) {
		t.Fatalf("verified with a rule removed: %v", err)
	} else {
		t.Log(err)
	}
	// An accept put in front.
	if err := c.Apply(p); err != nil {
		t.Fatal(err)
	}
	run(t, "ip", "netns", "exec", ns, "nft", "insert", "rule", "inet", "terok", "output", "accept")
	if _, err := c.Verify(); !errors.As(err, &ve) {
		t.Fatalf("verified with an accept inserted: %v", err)
	} else {
		t.Log(err)
	}
	// A policy changed to accept.
	if err := c.Apply(p); err != nil {
		t.Fatal(err)
	}
	run(t, "ip", "netns", "exec", ns, "nft", "chain", "inet", "terok", "output", "{", "policy", "accept", ";", "}")
	if _, err := c.Verify(); !errors.As(err, &ve) {
		t.Fatalf("verified with policy accept: %v", err)
	} else {
		t.Log(err)
	}
	// The whole table deleted.
	run(t, "ip", "netns", "exec", ns, "nft", "delete", "table", "inet", "terok")
	if _, err := c.Verify(); !errors.Is(err, shield.ErrNoRuleset) {
		t.Fatalf("verified without a table: %v", err)
	}
}

func TestConnectivity(t *testing.T) {
	in := newInternet(t)
	c := open(t, in.task)
	p := shield.Policy{
		Allow: targets(allowed, allowed6, bothListed, privateOK, "pypi.org"),
		Deny:  targets(bothListed),
		Host:  []netip.Addr{netip.MustParseAddr(hostAddress)},
	}
	// Before any ruleset, the stand-in internet answers: the test can fail.
	works(t, "before the ruleset, "+other, in.tcp(t, other, "8080"))
	works(t, "before the ruleset, "+private, in.tcp(t, private, "8080"))

	if err := c.Apply(p); err != nil {
		t.Fatal(err)
	}
	if _, err := c.VerifyPolicy(p); err != nil {
		t.Fatal(err)
	}

	t.Run("no warden yet", func(t *testing.T) {
		refusedFast(t, "allowed address without a heartbeat", in.tcp(t, allowed, "8080"))
		works(t, "the task's loopback", in.tcp(t, "127.0.0.1", "9418"))
	})

	// The warden's heartbeat, until the last subtest stops it.
	stop := make(chan struct{})
	beating := make(chan error, 1)
	go func() { beating <- c.KeepAlive(stop, 0) }()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if st, err := c.Verify(); err == nil && st.Alive {
			break
		}
	}
	t.Run("policy", func(t *testing.T) {
		works(t, "allowed tcp", in.tcp(t, allowed, "8080"))
		works(t, "allowed udp", in.udp(t, allowed, "8080"))
		works(t, "allowed ipv6", in.tcp(t, allowed6, "8080"))
		works(t, "allowed ping", in.ping(t, allowed))
		works(t, "private address named explicitly", in.tcp(t, privateOK, "8080"))
		works(t, "the task's loopback", in.tcp(t, "127.0.0.1", "9418"))

		refusedFast(t, "other tcp", in.tcp(t, other, "8080"))
		refusedFast(t, "other udp (QUIC's port)", in.udp(t, other, "443"))
		refusedFast(t, "other udp", in.udp(t, other, "8080"))
		refusedFast(t, "other ipv6", in.tcp(t, other6, "8080"))
		refusedFast(t, "the gateway", in.tcp(t, "192.0.2.2", "8080"))
		refusedFast(t, "ping", in.ping(t, other))
		refusedFast(t, "deny beats allow", in.tcp(t, bothListed, "8080"))
		refusedFast(t, "private", in.tcp(t, private, "8080"))
		refusedFast(t, "metadata", in.tcp(t, metadata, "80"))
		refusedFast(t, "the host's address", in.tcp(t, hostAddress, "8080"))
		refusedFast(t, "dns over udp to an allowed address", in.udp(t, allowed, "53"))
		refusedFast(t, "dns over tcp to an allowed address", in.tcp(t, allowed, "53"))
	})

	t.Run("learned", func(t *testing.T) {
		refusedFast(t, "not learned yet", in.tcp(t, learned, "8080"))
		if err := c.LearnFor([]netip.Addr{netip.MustParseAddr(learned)}, 2*time.Second); err != nil {
			t.Fatal(err)
		}
		works(t, "learned", in.tcp(t, learned, "8080"))
		// A name resolving to a private, metadata or host address gets nowhere.
		bad := []netip.Addr{netip.MustParseAddr(privateDNS), netip.MustParseAddr(metadata), netip.MustParseAddr(hostAddress)}
		if err := c.LearnAll(bad, time.Minute); err != nil {
			t.Fatal(err)
		}
		for _, a := range bad {
			refusedFast(t, "learned "+a.String(), in.tcp(t, a.String(), "8080"))
		}
		// It expires.
		waitRefused(t, "learned after its timeout", func() error { return in.tcp(t, learned, "8080") })
		// A learned address keeps its longer time when learned again with a shorter one.
		a := netip.MustParseAddr(learned)
		if err := c.LearnFor([]netip.Addr{a}, time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := c.Learn(a, time.Second); err != nil {
			t.Fatal(err)
		}
		ct, err := c.Contents()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ct.Learned {
			if l.Addr == a && l.Expires < 50*time.Minute {
				t.Errorf("a shorter TTL cut a longer one: %v left", l.Expires)
			}
		}
	})

	t.Run("live allow and deny", func(t *testing.T) {
		refusedFast(t, "before allow", in.tcp(t, other, "8080"))
		if err := c.Allow(targets("198.51.100.0/24")...); err != nil {
			t.Fatal(err)
		}
		works(t, "after allowing its range", in.tcp(t, other, "8080"))
		refusedFast(t, "deny still beats the range", in.tcp(t, bothListed, "8080"))
		if err := c.Unallow(targets(other)...); err != nil {
			t.Fatal(err)
		}
		refusedFast(t, "after unallow", in.tcp(t, other, "8080"))
		works(t, "the rest of the range", in.tcp(t, allowed, "8080"))
		if err := c.Deny(targets(allowed)...); err != nil {
			t.Fatal(err)
		}
		refusedFast(t, "after deny", in.tcp(t, allowed, "8080"))
		if err := c.Undeny(targets(allowed)...); err != nil {
			t.Fatal(err)
		}
		works(t, "after undeny", in.tcp(t, allowed, "8080"))
		ct, err := c.Contents()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("allow %v deny %v", ct.Allow, ct.Deny)
		if _, err := c.Verify(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("warden gone", func(t *testing.T) {
		close(stop)
		if err := <-beating; err != nil {
			t.Fatal(err)
		}
		if err := c.Heartbeat(); err != nil {
			t.Fatal(err)
		}
		// An established connection is cut too.
		var conn net.Conn
		var err error
		inNetNS(t, in.task, func() { conn, err = net.DialTimeout("tcp", net.JoinHostPort(allowed, "8080"), 5*time.Second) })
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := c.Expire(); err != nil {
			t.Fatal(err)
		}
		refusedFast(t, "allowed after expire", in.tcp(t, allowed, "8080"))
		if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		_, _ = conn.Write([]byte("hello\n")) // the refusal may come here or at the read; the read is checked
		_, err = io.ReadFull(conn, make([]byte, 6))
		refusedFast(t, "established connection after expire", err)

		// Heartbeats that stop: egress stops within AliveTimeout.
		if err := c.Heartbeat(); err != nil {
			t.Fatal(err)
		}
		works(t, "allowed after a heartbeat", in.tcp(t, allowed, "8080"))
		waitRefused(t, "allowed after the heartbeats stopped", func() error { return in.tcp(t, allowed, "8080") })
	})
}

// waitRefused polls until attempt is refused (fast), for at most 15 s.
func waitRefused(t *testing.T, what string, attempt func() error) {
	t.Helper()
	var err error
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if err = attempt(); err != nil {
			break
		}
	}
	refusedFast(t, what, err)
}

// Hold mode's ruleset (rule 10 drops) verifies against its policy, and
// against no policy (terok-shield verify knows both modes); against the
// refuse mode's policy it is altered.
func TestHoldRulesetVerifies(t *testing.T) {
	ns := newNetNS(t)
	c := open(t, ns)
	p := shield.Policy{Allow: targets("192.0.2.7"), Hold: true}
	if err := c.Apply(p); err != nil {
		t.Fatal(err)
	}
	if _, err := c.VerifyPolicy(p); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Verify(); err != nil {
		t.Fatalf("Verify of a hold-mode ruleset: %v", err)
	}
	p.Hold = false
	var ve *shield.VerifyError
	if _, err := c.VerifyPolicy(p); !errors.As(err, &ve) {
		t.Fatalf("a hold-mode ruleset verified against refuse mode: %v", err)
	}
	listing := run(t, "ip", "netns", "exec", ns, "nft", "list", "chain", "inet", "terok", "output")
	if !strings.Contains(listing, `log prefix "terok blocked: " group 100 drop`) || strings.Contains(listing, `"terok blocked: " group 100 reject`) {
		t.Errorf("nft lists no dropping rule 10 in\n%s", listing)
	}
}
