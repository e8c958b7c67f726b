package shield

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/terok-ai/terok-go/lib/testenv"
)

// A batch that fails, or is voided, leaves nothing of itself in the
// kernel, and the connection keeps working afterwards.
func TestFailedBatchLeavesNothing(t *testing.T) {
	testenv.Need(t, os.Getuid() == 0, "network namespaces need root")
	testenv.Tool(t, "ip", "iproute2")
	name := fmt.Sprintf("terok-test-batch-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	c, err := OpenNetNS("/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Apply(Policy{}); err != nil {
		t.Fatal(err)
	}

	// Voided: the queued table deletion never happens.
	err = c.batch(func() error {
		c.nft.DelTable(&nftables.Table{Name: TableName, Family: nftables.TableFamilyINet})
		return errors.New("something went wrong while queueing")
	})
	if err == nil {
		t.Fatal("no error")
	}
	if _, err := c.Verify(); err != nil {
		t.Fatalf("a voided batch changed the ruleset: %v", err)
	}

	// Refused by the kernel: a delete of an element that is not there
	// voids the table deletion queued before it.
	err = c.batch(func() error {
		c.nft.DelTable(&nftables.Table{Name: TableName, Family: nftables.TableFamilyINet})
		return c.nft.SetDeleteElements(set(SetLearned4), []nftables.SetElement{{Key: []byte{192, 0, 2, 1}}})
	})
	if !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("want ENOENT, got %v", err)
	}
	if _, err := c.Verify(); err != nil {
		t.Fatalf("a refused batch changed the ruleset: %v", err)
	}

	// The connection still answers, and in step (no stale replies).
	done := make(chan error, 1)
	go func() {
		for range 3 {
			if err := c.Heartbeat(); err != nil {
				done <- err
				return
			}
		}
		_, err := c.Verify()
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the connection hangs after a failed batch")
	}
	if st, _ := c.Verify(); !st.Alive {
		t.Fatal("heartbeat after a failed batch did not take")
	}
}

// Two connections changing the same set at once lose nothing: a batch
// built on contents that changed meanwhile fails and is tried again.
func TestConcurrentAllow(t *testing.T) {
	testenv.Need(t, os.Getuid() == 0, "network namespaces need root")
	testenv.Tool(t, "ip", "iproute2")
	name := fmt.Sprintf("terok-test-conc-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	var conns [2]*Conn
	for i := range conns {
		c, err := OpenNetNS("/run/netns/" + name)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	if err := conns[0].Apply(Policy{}); err != nil {
		t.Fatal(err)
	}
	const n = 25
	errs := make(chan error, 2)
	for i, c := range conns {
		go func() {
			for j := range n {
				if err := c.Allow(mustTargets(fmt.Sprintf("198.51.100.%d", 2*j+i))...); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range conns {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	ct, err := conns[0].Contents()
	if err != nil {
		t.Fatal(err)
	}
	// 198.51.100.0 to .49, merged into ranges.
	want := []string{"198.51.100.0/27", "198.51.100.32/28", "198.51.100.48/31"}
	if fmt.Sprint(ct.Allow) != fmt.Sprint(want) {
		t.Fatalf("allowed %v, want %v", ct.Allow, want)
	}
}
