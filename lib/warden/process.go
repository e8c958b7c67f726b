package warden

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/terok-ai/terok-go/lib/config"
)

// ReadyTimeout bounds the wait for a new warden to serve.
const ReadyTimeout = 15 * time.Second

// ReadyLine is what a warden prints on its stdout once it serves.
const ReadyLine = "ready"

// BinaryName is the warden's own binary (cmd/terok-warden), installed
// beside terok.
const BinaryName = "terok-warden"

// Args is the command line of task id's warden, for the container process
// pid: `terok-warden ID --pid PID` when exe is the warden's own binary
// (cmd/terok-warden), else the hidden verb `terok task warden ID --pid PID`
// of the terok binary exe, which answers to its name: terok-task takes the
// verb, terok the command and the verb.
func Args(exe, id string, pid int) []string {
	args := []string{exe, "task", "warden", id, "--pid", strconv.Itoa(pid)}
	switch filepath.Base(exe) {
	case BinaryName:
		args = append(args[:1], args[3:]...)
	case "terok-task":
		args = append(args[:1], args[2:]...)
	}
	return args
}

// Spawn is how a task's warden is started.
type Spawn struct {
	Exe  string // the terok binary
	Task string // the task's id
	Pid  int    // the container's first process
	// Paths are handed to the warden explicitly (TEROK_*_DIR): rootless it
	// runs under podman unshare, where the uid reads 0.
	Paths  config.Paths
	Getenv func(string) string
	// Rootless: the warden runs in the rootless user namespace, the only
	// one that may enter the task's network namespace.
	Rootless bool
	Log      string // the warden's stderr, appended to
	// Handover, if set, is written to the warden's stdin, which is then
	// closed, and the warden is told to read it (VaultKeyFlag): the
	// vault's key, which must reach the warden neither through its
	// environment, nor its arguments, nor a file. A pipe survives podman
	// unshare, where the kernel keyring of the host's user namespace
	// cannot be read.
	Handover io.WriterTo
}

// VaultKeyFlag tells the warden to read the vault's key from its stdin.
const VaultKeyFlag = "--vault-key-stdin"

// Start starts the warden in a session of its own (it outlives this
// command, and dies with the task) and waits for its ready line. It
// returns the warden's pid: the warden's own (nsenter execs it), or,
// rootless under podman unshare, podman unshare's, whose child the warden
// is (see Signal). A warden that does not serve is killed, and the error
// carries the last line of its log.
func (s Spawn) Start(ctx context.Context) (int, error) {
	if err := os.MkdirAll(filepath.Dir(s.Log), 0o700); err != nil {
		return 0, err
	}
	logf, err := os.OpenFile(s.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	env := []string{
		"PATH=" + s.Getenv("PATH"), "HOME=" + s.Getenv("HOME"),
		"TEROK_CONFIG_DIR=" + s.Paths.Config, "TEROK_STATE_DIR=" + s.Paths.State,
		"TEROK_DATA_DIR=" + s.Paths.Data, "TEROK_RUNTIME_DIR=" + s.Paths.Runtime,
	}
	if s.Paths.Cache != "" {
		env = append(env, "TEROK_CACHE_DIR="+s.Paths.Cache)
	}
	args := Args(s.Exe, s.Task, s.Pid)
	if s.Handover != nil {
		args = append(args, VaultKeyFlag)
	}
	var cmd *exec.Cmd
	if s.Rootless {
		// Only the rootless user namespace may enter the task's network
		// namespace; the roots are explicit because the uid reads 0 there.
		// nsenter joins it directly, as the warden's own process (some
		// 2 ms); podman unshare, which also makes the namespace when
		// there is none, takes 40-200 ms and stays as the warden's parent.
		if ns, pause, ok := rootlessNS(s.Getenv); ok {
			cmd = exec.Command(ns, append([]string{"--user", "--target", strconv.Itoa(pause), "--"}, args...)...)
		} else {
			cmd = exec.Command("podman", append([]string{"unshare", "env"}, append(env, args...)...)...)
		}
		cmd.Env = append(env, "XDG_RUNTIME_DIR="+s.Getenv("XDG_RUNTIME_DIR"))
	} else {
		cmd = exec.Command(args[0], args[1:]...)
		cmd.Env = env
	}
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	var stdin io.WriteCloser
	if s.Handover != nil {
		if stdin, err = cmd.StdinPipe(); err != nil {
			return 0, err
		}
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	if stdin != nil {
		// A line in a pipe's buffer: the write does not wait for the
		// warden to read.
		_, err := s.Handover.WriteTo(stdin)
		if cerr := stdin.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = cmd.Process.Kill() // the handover's error is the one to report
			_ = cmd.Wait()
			return 0, fmt.Errorf("handing the vault's key to the warden: %w", err)
		}
	}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		if strings.TrimSpace(line) == ReadyLine {
			ready <- nil
			return
		}
		// A warden that could not serve said why on stderr, its log.
		why := strings.TrimSpace(line)
		if b, rerr := os.ReadFile(logf.Name()); rerr == nil {
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			why = lines[len(lines)-1]
		}
		ready <- fmt.Errorf("the warden did not serve: %s (%v); see %s", why, err, logf.Name())
	}()
	select {
	case err = <-ready:
	case <-time.After(ReadyTimeout):
		err = fmt.Errorf("the warden did not serve within %s; see %s", ReadyTimeout, logf.Name())
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		// It may have ended already; what it said is in err.
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return 0, err
	}
	p := cmd.Process.Pid
	// The warden lives on by itself; reap it if it ends while we wait
	// (how it ended is in its log).
	go func() { _ = cmd.Wait() }()
	return p, nil
}

// rootlessNS finds the rootless user namespace Podman keeps for this user
// (its pause process, whose pid Podman writes to
// $XDG_RUNTIME_DIR/libpod/tmp/pause.pid; the user's containers' user
// namespaces are its children) and nsenter to join it. ok is false — and
// the caller falls back to podman unshare, which makes the namespace if it
// must — when either is missing, or the pid is not a process of this user
// in a user namespace other than this process's own (a stale file).
func rootlessNS(getenv func(string) string) (nsenter string, pause int, ok bool) {
	nsenter, err := exec.LookPath("nsenter")
	if err != nil || getenv("XDG_RUNTIME_DIR") == "" {
		return "", 0, false
	}
	b, err := os.ReadFile(filepath.Join(getenv("XDG_RUNTIME_DIR"), "libpod", "tmp", "pause.pid"))
	if err != nil {
		return "", 0, false
	}
	pause, err = strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pause <= 0 {
		return "", 0, false
	}
	var st syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d", pause), &st); err != nil || int(st.Uid) != os.Getuid() {
		return "", 0, false
	}
	theirs, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", pause))
	if err != nil {
		return "", 0, false
	}
	if ours, err := os.Readlink("/proc/self/ns/user"); err != nil || ours == theirs {
		return "", 0, false
	}
	return nsenter, pause, true
}

// Signal signals a warden's whole process group (it runs in a session of
// its own): rootless under podman unshare, the recorded pid is podman
// unshare's and the warden is its child, which a signal to the pid alone
// would miss.
func Signal(pid int, sig syscall.Signal) {
	if pid <= 0 {
		return
	}
	// Either may have nothing left to signal (rootful, the group is the
	// warden alone; a warden that ended has neither): nothing to report.
	_ = syscall.Kill(-pid, sig)
	_ = syscall.Kill(pid, sig)
}

// Alive reports whether the warden recorded as pid still runs: the
// process itself, or — rootless under podman unshare, where pid is the wrapper
// that leads the warden's process group — a warden left in that group
// after the wrapper alone was killed. Such an orphan still serves the
// task, so stop and rm must still see it (and Signal reaches it through
// the group).
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if isWarden(pid) {
		return true
	}
	return groupHasWarden(pid)
}

// isWarden reports whether pid runs and names a warden on its command line.
func isWarden(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(b), "warden")
}

// groupHasWarden reports whether a process of process group pgid is a
// warden. It reads /proc, so Alive pays for it only when the recorded
// process itself is gone.
func groupHasWarden(pgid int) bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == pgid {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // it ended meanwhile
		}
		if processGroup(string(b)) == pgid && isWarden(pid) {
			return true
		}
	}
	return false
}

// processGroup is the process group in a /proc/PID/stat line, whose second
// field (the command, in parentheses) may itself hold spaces and
// parentheses: the fields are counted after its last ')'. -1 when the line
// is not one.
func processGroup(stat string) int {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(stat[i+1:]) // state, ppid, pgrp, ...
	if len(f) < 3 {
		return -1
	}
	g, err := strconv.Atoi(f[2])
	if err != nil {
		return -1
	}
	return g
}
