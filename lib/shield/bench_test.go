package shield_test

import (
	"crypto/rand"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/shield"
)

// benchConn is a Conn to a fresh namespace (root only).
func benchConn(b *testing.B) *shield.Conn {
	b.Helper()
	if os.Getuid() != 0 {
		b.Skip("network namespaces need root")
	}
	var r [4]byte
	rand.Read(r[:])
	name := fmt.Sprintf("terok-bench-%x", r)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		b.Skipf("ip netns add: %v %s", err, out)
	}
	b.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	c, err := shield.OpenNetNS("/run/netns/" + name)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// The whole ruleset in one batch (what the OCI hook does before a task's
// first process runs), with a policy of 100 ranges.
func BenchmarkApply(b *testing.B) {
	c := benchConn(b)
	var allow []string
	for i := range 100 {
		allow = append(allow, fmt.Sprintf("198.%d.%d.0/24", 18+i/200, i%200))
	}
	p := shield.Policy{Allow: targets(allow...)}
	for b.Loop() {
		if err := c.Apply(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	c := benchConn(b)
	if err := c.Apply(shield.Policy{}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := c.Verify(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHeartbeat(b *testing.B) {
	c := benchConn(b)
	if err := c.Apply(shield.Policy{}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := c.Heartbeat(); err != nil {
			b.Fatal(err)
		}
	}
}

// What the resolver pays per answer address before it replies.
func BenchmarkLearn(b *testing.B) {
	c := benchConn(b)
	if err := c.Apply(shield.Policy{}); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		a := netip.AddrFrom4([4]byte{203, 0, byte(i >> 8), byte(i)})
		if err := c.Learn(a, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

// A live allow of one address into a set of 100 ranges.
func BenchmarkAllow(b *testing.B) {
	c := benchConn(b)
	var allow []string
	for i := range 100 {
		allow = append(allow, fmt.Sprintf("198.%d.%d.0/24", 18+i/200, i%200))
	}
	if err := c.Apply(shield.Policy{Allow: targets(allow...)}); err != nil {
		b.Fatal(err)
	}
	t := targets("203.0.113.7")
	for b.Loop() {
		if err := c.Allow(t...); err != nil {
			b.Fatal(err)
		}
		if err := c.Unallow(t...); err != nil {
			b.Fatal(err)
		}
	}
}
