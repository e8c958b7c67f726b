package shield_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/warden/egresssvc"
)

// TestForwardRedirect: with Policy.Forward, a TCP connection from the task
// to a learned address reaches the forwarder on the task's loopback, which
// finds its original destination, lets through the name its Decide allows
// (its own marked connection is not redirected again) and resets the rest;
// an address port keeps the address rule.
func TestForwardRedirect(t *testing.T) {
	in := newInternet(t)
	c := open(t, in.task)
	p := shield.Policy{Allow: targets(allowed), Forward: true}
	if err := c.Apply(p); err != nil {
		t.Fatal(err)
	}
	if _, err := c.VerifyPolicy(p); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Verify(); err != nil {
		t.Fatalf("Verify without a policy, of a forwarding ruleset: %v", err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() { _ = c.KeepAlive(stop, 0) }()
	waitAlive := func() {
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			if st, err := c.Verify(); err == nil && st.Alive {
				return
			}
		}
		t.Fatal("no heartbeat")
	}
	waitAlive()
	learn := func() {
		if err := c.LearnFor([]netip.Addr{netip.MustParseAddr(learned), netip.MustParseAddr(other6)}, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	learn()

	refusedFast(t, "learned, no forwarder yet", in.tcp(t, learned, "8080"))

	var dsts = make(chan netip.AddrPort, 10)
	fwd := egresssvc.New(egresssvc.Config{
		Decide: func(name string, dst netip.AddrPort) bool {
			if name != "one.example" {
				return false
			}
			dsts <- dst
			return true
		},
		Dial: func(ctx context.Context, dst netip.AddrPort) (conn *net.TCPConn, err error) {
			inNetNS(t, in.task, func() {
				var nc net.Conn
				if nc, err = egresssvc.MarkedDialer(int(shield.ForwardMark)).DialContext(ctx, "tcp", dst.String()); err == nil {
					conn = nc.(*net.TCPConn)
				}
			})
			return conn, err
		},
	})
	for _, addr := range []string{"127.0.0.1", "::1"} {
		inNetNS(t, in.task, func() {
			l, err := net.Listen("tcp", net.JoinHostPort(addr, fmt.Sprint(shield.ForwardPort)))
			if err != nil {
				t.Fatal(err)
			}
			go func() { _ = fwd.Serve(l) }()
		})
	}
	defer fwd.Close()

	var askAt func(addr, host string) error
	// ask sends an HTTP request head naming host to learned:8080 (an echo
	// server): through the forwarder, the head comes back.
	ask := func(host string) error { return askAt(learned, host) }
	askAt = func(addr, host string) error {
		var err error
		inNetNS(t, in.task, func() {
			var nc net.Conn
			if nc, err = net.DialTimeout("tcp", net.JoinHostPort(addr, "8080"), 5*time.Second); err != nil {
				return
			}
			defer nc.Close()
			_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
			head := "GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
			if _, err = io.WriteString(nc, head); err != nil {
				return
			}
			var got string
			if got, err = bufio.NewReader(nc).ReadString('\n'); err == nil && !strings.HasPrefix(head, got) {
				err = fmt.Errorf("echo %q", got)
			}
		})
		return err
	}
	works(t, "allowed name to a learned address", ask("one.example"))
	if d := <-dsts; d.String() != learned+":8080" {
		t.Errorf("original destination %v, want %s:8080", d, learned)
	}
	refusedFast(t, "other name to a learned address", ask("two.example"))
	works(t, "allowed name to a learned IPv6 address", askAt(other6, "one.example"))
	if d := <-dsts; d.String() != "["+other6+"]:8080" {
		t.Errorf("original IPv6 destination %v, want [%s]:8080", d, other6)
	}
	refusedFast(t, "other name to a learned IPv6 address", askAt(other6, "two.example"))
	refusedFast(t, "no name to a learned address", in.tcp(t, learned, "8080"))
	works(t, "an address named literally is not redirected", in.tcp(t, allowed, "8080"))

	// An address port keeps the address rule.
	p.AddressPorts = []uint16{8080}
	if err := c.Apply(p); err != nil {
		t.Fatal(err)
	}
	learn()
	waitAlive()
	works(t, "learned address, address port", in.tcp(t, learned, "8080"))
}
