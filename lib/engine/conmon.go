package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containers/podman/v5/pkg/bindings/containers"
)

// Podman's API runs every exec session under a conmon of its own that,
// once the session's process has ended and its exit code is written,
// sleeps for the engine's exit_command_delay (five minutes by default,
// "to mimic Docker's exec cleanup") before it runs `podman container
// cleanup --exec` and ends. Nothing in the API ends it sooner, not even
// removing the session or its container (Podman 4.3 to 5), so every
// `terok-task exec`, session and check left a conmon behind for minutes,
// its container long gone. The engine ends them itself where it knows
// they are done: an exec session's once its exit code has been read,
// every exec session's of a container once it is stopped or removed.
//
// Only on a local socket (/proc shows the engine's processes), only
// processes of this user (the engine's conmons run as the user that runs
// the engine), only conmons of an exec session (-u, the session's id, is
// not the container's -c) and only those with no child left (the
// session's process has ended and been reaped). Everything is best
// effort: a conmon not found ends by itself after the delay.

// conmonExec is an exec session's conmon as /proc shows it.
type conmonExec struct {
	pid                   int
	container, name, sess string
}

// execConmons lists the exec sessions' conmons of this user.
func execConmons() []conmonExec {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	uid := os.Getuid()
	var out []conmonExec
	for _, d := range ents {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join("/proc", d.Name())
		if comm, err := os.ReadFile(filepath.Join(dir, "comm")); err != nil || strings.TrimSpace(string(comm)) != "conmon" {
			continue
		}
		if fi, err := os.Stat(dir); err != nil || int(fi.Sys().(*syscall.Stat_t).Uid) != uid {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil {
			continue
		}
		if c, ok := parseExecConmon(strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")); ok {
			c.pid = pid
			out = append(out, c)
		}
	}
	return out
}

// parseExecConmon reads an exec session's conmon command line (libpod's
// sharedConmonArgs plus -e): ok is false for a container's own conmon.
func parseExecConmon(argv []string) (c conmonExec, ok bool) {
	exec := false
	for i := 0; i < len(argv); i++ {
		next := ""
		if i+1 < len(argv) {
			next = argv[i+1]
		}
		switch argv[i] {
		case "-c", "--cid":
			c.container = next
		case "-u", "--cuuid":
			c.sess = next
		case "-n", "--name":
			c.name = next
		case "-e", "--exec":
			exec = true
		case "--exit-command-arg":
			// The cleanup command's arguments name the container and
			// the session again; they are not conmon's own.
			i++
		}
	}
	return c, exec && c.container != "" && c.sess != "" && c.sess != c.container
}

// A scan of /proc reads a file per process (about 20 µs each on a small
// virtual machine: 10-20 ms for 600 processes). Callers at the same time
// share one (terok panic stops fifty containers at once), and only a
// container that has an exec session's conmon pays for more.
var procScans struct {
	sync.Mutex
	last *procScan // the latest scan begun
}

type procScan struct {
	begun time.Time
	done  chan struct{}
	list  []conmonExec
}

// execConmonsSince lists the exec sessions' conmons as a scan begun at t
// or later saw them.
func execConmonsSince(t time.Time) []conmonExec {
	procScans.Lock()
	s := procScans.last
	if s != nil && !s.begun.Before(t) {
		procScans.Unlock()
		<-s.done
		return s.list
	}
	s = &procScan{begun: time.Now(), done: make(chan struct{})}
	procScans.last = s
	procScans.Unlock()
	s.list = execConmons()
	close(s.done)
	return s.list
}

// hasChildren reports whether process pid has a child left (its threads'
// children files; where the kernel has none, a scan of /proc).
func hasChildren(pid int) bool {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if len(files) == 0 {
		return hasChildrenScan(pid)
	}
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			return true
		}
	}
	return false
}

// hasChildrenScan reports whether any process has pid as its parent.
func hasChildrenScan(pid int) bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	for _, d := range ents {
		if d.Name()[0] < '0' || d.Name()[0] > '9' {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		s := string(stat)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			if f := strings.Fields(s[i+1:]); len(f) > 1 && f[1] == strconv.Itoa(pid) {
				return true
			}
		}
	}
	return false
}

// endDone kills each of cs whose session's process has ended (the conmon
// has no child left) and returns the others. The conmon is read again
// first: a list shared with other callers may be a moment old.
func endDone(cs []conmonExec) (left []conmonExec) {
	for _, c := range cs {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c.pid))
		if err != nil {
			continue // ended
		}
		if now, ok := parseExecConmon(strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")); !ok || now.sess != c.sess {
			continue // not that conmon any more
		}
		if hasChildren(c.pid) {
			left = append(left, c)
			continue
		}
		_ = syscall.Kill(c.pid, syscall.SIGKILL) // best effort: it would end after the delay anyway
	}
	return left
}

// endExecConmons ends the exec sessions' conmons that match among those a
// scan begun at since or later saw, waiting up to wait for those whose
// session's process still runs.
func endExecConmons(since time.Time, wait time.Duration, match func(conmonExec) bool) {
	var cs []conmonExec
	for _, c := range execConmonsSince(since) {
		if match(c) {
			cs = append(cs, c)
		}
	}
	for deadline := time.Now().Add(wait); ; {
		if cs = endDone(cs); len(cs) == 0 || !time.Now().Before(deadline) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// local reports whether the engine's processes are this host's.
func (e *Engine) local() bool {
	_, ok := e.socket.Path()
	return ok
}

// endExecSession ends the conmon of exec session sess, whose exit code
// has been read, and removes the session where the engine can (Podman 4.8
// and later; before, the session's record goes with its container).
func (e *Engine) endExecSession(ctx context.Context, sess string) {
	_ = containers.ExecRemove(e.on(ctx), sess, nil) // best effort, see above
	if e.local() {
		endExecConmons(time.Now(), 0, func(c conmonExec) bool { return c.sess == sess })
	}
}

// endContainerExecs ends the conmons of the exec sessions of container id
// (a name or an id), which has just been stopped or removed by a request
// sent at sent: its exec sessions' processes end with it, a moment later;
// it waits for them at most a second.
func (e *Engine) endContainerExecs(id string, sent time.Time) {
	if !e.local() || id == "" {
		return
	}
	endExecConmons(sent, time.Second, func(c conmonExec) bool { return c.container == id || c.name == id })
}
