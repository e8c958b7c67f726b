package warden

import (
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// ListenInNetNS opens a TCP listener on addr inside the network namespace
// of process pid (a task's container). A socket keeps the namespace it was
// made in, so the listener serves that namespace alone — here, the task's
// loopback — while this process stays in the host's namespaces.
//
// The socket is made on an OS thread of its own that enters the namespace
// and is then discarded (the goroutine ends with the thread locked, so Go
// terminates it): no thread of this process is ever left in, or switched
// back from, a namespace it should not be in. Entering needs CAP_SYS_ADMIN
// over the namespace: root for rootful Podman; for rootless Podman, this
// process must run in the rootless user namespace (podman unshare).
func ListenInNetNS(pid int, addr string) (net.Listener, error) {
	type result struct {
		l   net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			ch <- result{err: fmt.Errorf("opening the task's network namespace: %w", err)}
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("entering the task's network namespace: %w", err)}
			return
		}
		l, err := net.Listen("tcp", addr)
		ch <- result{l, err}
	}()
	r := <-ch
	return r.l, r.err
}
