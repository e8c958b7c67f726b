// Package netns runs code inside another process's network namespace
// without ever leaving a thread of this process there.
package netns

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs fn on an OS thread of its own that has entered the network
// namespace of process pid. Sockets fn makes keep that namespace for their
// whole life, while this process stays in its own: this is how terok serves
// a task on the task's own loopback.
//
// The thread is discarded afterwards (the goroutine ends with the thread
// locked, so Go terminates it): no thread is ever switched back from a
// namespace, which rootless user namespaces would not allow anyway.
// Entering needs CAP_SYS_ADMIN over the namespace: root for rootful Podman;
// for rootless Podman, this process must run in the rootless user
// namespace (podman unshare).
func Do(pid int, fn func() error) error {
	return DoPath(fmt.Sprintf("/proc/%d/ns/net", pid), fn)
}

// DoPath is Do for a namespace given by path (e.g. /run/netns/NAME).
func DoPath(path string, fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		ns, err := os.Open(path)
		if err != nil {
			ch <- fmt.Errorf("opening the network namespace: %w", err)
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- fmt.Errorf("entering the network namespace: %w", err)
			return
		}
		ch <- fn()
	}()
	return <-ch
}
