package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/terok-ai/terok-go/lib/store"
)

// Files beside terok's socket.
const (
	PIDFileName = "podman.pid"  // the PID of the service terok started
	LogFileName = "service.log" // the service's stdout and stderr
)

// Service is a `podman system service` that terok started.
type Service struct {
	PID    int
	Socket string // the socket's path

	// proc and exited are set when this process started the service:
	// exited is closed once it has been reaped.
	proc   *os.Process
	exited <-chan struct{}
}

// ensureService makes terok's own socket answer, starting the service
// unless another terok command, holding the same lock, has just done so.
// It returns the service when this call started it, nil otherwise.
func ensureService(ctx context.Context, podman string, opts Options) (*Service, error) {
	dir := filepath.Dir(opts.ServiceSocket)
	unlock, err := lockWithin(dir, opts.StartTimeout)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if Ping(ctx, opts.ServiceSocket, opts.PingTimeout) == nil {
		return nil, nil
	}
	svc, err := startService(podman, opts)
	if err != nil {
		return nil, err
	}
	if err := svc.waitAnswering(ctx, opts); err != nil {
		_ = svc.Stop(context.Background()) // as well as it can; why it did not answer is the error to report
		return nil, err
	}
	return svc, nil
}

// lockWithin takes the lock of dir, giving up after d. A lock obtained
// after giving up is released at once.
func lockWithin(dir string, d time.Duration) (unlock func(), err error) {
	type result struct {
		unlock func()
		err    error
	}
	got := make(chan result, 1)
	go func() {
		u, err := store.Lock(dir)
		got <- result{u, err}
	}()
	select {
	case r := <-got:
		return r.unlock, r.err
	case <-time.After(d):
		go func() {
			if r := <-got; r.unlock != nil {
				r.unlock()
			}
		}()
		return nil, fmt.Errorf("another terok command holds %s for more than %s", filepath.Join(dir, store.LockName), d)
	}
}

// serviceArgs is podman's command line for terok's service.
func serviceArgs(opts Options) []string {
	idle := int((opts.ServiceIdle + time.Second - 1) / time.Second)
	args := append([]string{}, opts.ServiceArgs...)
	return append(args, "system", "service", "--time="+strconv.Itoa(idle), "unix://"+opts.ServiceSocket)
}

// startService starts the service detached: its own session, stdin from
// /dev/null, output to the log file beside the socket, its PID in the PID
// file. The caller holds the lock of the socket's directory.
func startService(podman string, opts Options) (*Service, error) {
	dir := filepath.Dir(opts.ServiceSocket)
	// Nothing answered on the socket under the lock: whatever is left there
	// is a dead service's, and podman cannot listen over it.
	if err := os.Remove(opts.ServiceSocket); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("removing stale socket: %w", err)
	}
	log, err := os.OpenFile(filepath.Join(dir, LogFileName), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command(podman, serviceArgs(opts)...)
	cmd.Env = serviceEnv(os.Environ())
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting podman system service: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }() // reaps it; how it ended is in its log
	svc := &Service{PID: cmd.Process.Pid, Socket: opts.ServiceSocket, proc: cmd.Process, exited: exited}
	if err := store.WriteFileLocked(filepath.Join(dir, PIDFileName), []byte(strconv.Itoa(svc.PID)+"\n"), 0o600); err != nil {
		_ = svc.Stop(context.Background()) // as well as it can; the PID file's error is the one to report
		return nil, err
	}
	return svc, nil
}

// serviceEnv is the service's environment: terok's own, without the
// variables that point podman at a remote engine (the service must be the
// local engine; podman even refuses to start with an empty CONTAINER_HOST),
// and with the system directories completing PATH: under cron's PATH
// (/usr/bin:/bin) the service finds no iptables or nft and every task's
// network fails to come up.
func serviceEnv(environ []string) []string {
	out := make([]string, 0, len(environ)+1)
	path := ""
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		switch name {
		case "CONTAINER_HOST", "CONTAINER_CONNECTION", "CONTAINER_SSHKEY":
			continue
		case "PATH":
			path = value
			continue
		}
		out = append(out, kv)
	}
	return append([]string{"PATH=" + SystemPath(path)}, out...)
}

// SystemPath is path with the standard system directories appended where
// it lacks them, in their usual order; path's own order comes first.
func SystemPath(path string) string {
	var have []string
	if path != "" {
		have = strings.Split(path, ":")
	}
	for _, d := range []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		if !slices.Contains(have, d) {
			have = append(have, d)
		}
	}
	return strings.Join(have, ":")
}

// waitAnswering polls the socket until the service answers, the service
// dies or opts.StartTimeout passes.
func (s *Service) waitAnswering(ctx context.Context, opts Options) error {
	deadline := time.Now().Add(opts.StartTimeout)
	for {
		if Ping(ctx, s.Socket, opts.PingTimeout) == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("podman system service exited at once: %s", s.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("podman system service did not answer on %s within %s", s.Socket, opts.StartTimeout)
		}
	}
}

// logTail is the last line of the service's log, for error messages.
func (s *Service) logTail() string {
	data, _ := os.ReadFile(filepath.Join(filepath.Dir(s.Socket), LogFileName))
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if last := lines[len(lines)-1]; last != "" {
		return last
	}
	return "no output (see " + filepath.Join(filepath.Dir(s.Socket), LogFileName) + ")"
}

// Stop ends the service by its PID (SIGTERM, then SIGKILL if it lingers),
// after checking that the PID is still that service; it then removes the
// socket and the PID file.
func (s *Service) Stop(ctx context.Context) error {
	proc := s.proc
	if proc == nil {
		// Open the process (a pidfd) before checking what it is, so that
		// the signal goes to the process that was checked.
		p, err := os.FindProcess(s.PID)
		if err != nil || !isServiceProcess(s.PID, s.Socket) {
			return s.cleanFiles()
		}
		defer func() { _ = p.Release() }() // frees a handle; there is nothing to undo
		proc = p
	}
	if err := s.signalAndWait(ctx, proc, syscall.SIGTERM, 5*time.Second); err != nil {
		if err := s.signalAndWait(ctx, proc, syscall.SIGKILL, 2*time.Second); err != nil {
			return fmt.Errorf("podman service (pid %d) did not stop: %w", s.PID, err)
		}
	}
	return s.cleanFiles()
}

func (s *Service) signalAndWait(ctx context.Context, proc *os.Process, sig syscall.Signal, d time.Duration) error {
	if s.gone() {
		return nil
	}
	if err := proc.Signal(sig); err != nil {
		if errors.Is(err, os.ErrProcessDone) {
			return nil
		}
		return err
	}
	deadline := time.Now().Add(d)
	for !s.gone() {
		if time.Now().After(deadline) {
			return fmt.Errorf("still running after %s", d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// gone reports whether the service process has ended (and, if this
// process started it, been reaped).
func (s *Service) gone() bool {
	if s.exited != nil {
		select {
		case <-s.exited:
			return true
		default:
			return false
		}
	}
	return !isServiceProcess(s.PID, s.Socket)
}

func (s *Service) cleanFiles() error {
	dir := filepath.Dir(s.Socket)
	for _, p := range []string{s.Socket, filepath.Join(dir, PIDFileName)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// StopServiceAt stops the service terok started on the socket at path, as
// recorded in the PID file beside it. A PID that is no longer that service
// (it exited and the number was reused) is never signalled.
func StopServiceAt(ctx context.Context, socket string) error {
	data, err := os.ReadFile(filepath.Join(filepath.Dir(socket), PIDFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return fmt.Errorf("bad pid file beside %s: %q", socket, data)
	}
	return (&Service{PID: pid, Socket: socket}).Stop(ctx)
}

// isServiceProcess reports whether pid is a live (not zombie) `podman
// system service` listening on socket.
func isServiceProcess(pid int, socket string) bool {
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	if processState(pid) == 'Z' {
		return false
	}
	args := bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0})
	var hasSystem, hasService, hasSocket bool
	for _, a := range args {
		switch string(a) {
		case "system":
			hasSystem = true
		case "service":
			hasService = true
		case "unix://" + socket:
			hasSocket = true
		}
	}
	return hasSystem && hasService && hasSocket
}

// processState is the state letter of /proc/PID/stat (R, S, Z, ...).
func processState(pid int) byte {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name is in parentheses and may hold spaces: the state
	// follows the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return 0
	}
	return stat[i+2]
}
