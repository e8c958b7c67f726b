package gate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/store"
)

// ErrNoMirror is returned for a project whose mirror does not exist yet.
var ErrNoMirror = errors.New("no gate mirror")

// ErrBusy is returned when the mirror's lock could not be taken in time.
var ErrBusy = errors.New("the gate is busy (another push, sync or promotion holds it)")

// Mirror is one project's gate: its bare repository, its records and its
// policy. Make one with New; nothing is touched on disk until a method
// needs it.
type Mirror struct {
	Project      string
	Dir          string // the bare repository, <data>/gate/<project>.git
	StateDir     string // owners.json, backups.json, the lock
	AuditLog     string // the gate's audit log (JSON lines)
	Upstream     string // URL or absolute path; "" for none
	Policy       Policy
	BackupMaxAge time.Duration

	// Git is the git program; Getenv reads the host user's environment,
	// for the git that talks to the upstream with their credentials.
	Git    string
	Getenv func(string) string
	Now    func() time.Time
}

// New describes project name's gate from its configuration.
func New(paths config.Paths, name string, p config.Project, g config.Global, getenv func(string) string) (*Mirror, error) {
	if err := config.ValidName(name); err != nil {
		return nil, err
	}
	if err := config.ValidUpstream(p.Upstream); err != nil {
		return nil, err
	}
	eg := p.EffectiveGate(g)
	git, err := FindGit(getenv)
	if err != nil {
		return nil, err
	}
	return &Mirror{
		Project:  name,
		Dir:      paths.MirrorDir(name),
		StateDir: paths.GateStateDir(name),
		AuditLog: filepath.Join(paths.AuditDir(), "gate.jsonl"),
		Upstream: p.Upstream,
		Policy: Policy{
			DefaultBranch: eg.DefaultBranch, Protected: eg.Protected,
			AllowTags: eg.AllowTags, MaxPushSize: eg.MaxPushSize,
		},
		BackupMaxAge: eg.BackupMaxAge,
		Git:          git,
		Getenv:       getenv,
		Now:          time.Now,
	}, nil
}

// ErrNoGit is returned when no git program is found on PATH.
var ErrNoGit = errors.New("git is not installed (not found on PATH)")

// FindGit looks for the git program on the PATH that getenv gives.
func FindGit(getenv func(string) string) (string, error) {
	for _, dir := range filepath.SplitList(getenv("PATH")) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, "git")
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", ErrNoGit
}

// Exists reports whether the mirror has been created. A mirror path that
// is a symbolic link or not a directory is an error: terok never makes
// one, and following it could lead anywhere.
func (m *Mirror) Exists() (bool, error) {
	st, err := os.Lstat(m.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !st.IsDir() {
		return false, fmt.Errorf("%s is not a directory (a symbolic link?); terok will not use it", m.Dir)
	}
	if _, err := os.Lstat(filepath.Join(m.Dir, "objects", "info", "alternates")); err == nil {
		return false, fmt.Errorf("%s has an alternates file, which terok never writes; refusing to use it", m.Dir)
	}
	return true, nil
}

// Check fails with ErrNoMirror unless the mirror exists (and is one terok
// would use: see Exists).
func (m *Mirror) Check() error {
	ok, err := m.Exists()
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w for project %s", ErrNoMirror, m.Project)
	}
	return nil
}

// mirrorConfig is the git config terok writes into every mirror, and
// passes again on every git command line it runs there: no hooks, fsck on
// everything received, terok's namespace hidden, no background gc.
func mirrorConfig(maxInput int64) [][2]string {
	c := [][2]string{
		{"core.hooksPath", "/dev/null"},
		{"core.fsmonitor", "false"},
		{"core.logAllRefUpdates", "always"},
		{"transfer.hideRefs", "refs/terok"},
		{"receive.fsckObjects", "true"},
		{"receive.autogc", "false"},
		{"receive.denyNonFastForwards", "false"},
		{"receive.denyDeletes", "false"},
		{"receive.advertisePushOptions", "false"},
		{"receive.shallowUpdate", "false"},
		{"gc.auto", "0"},
		{"uploadpack.allowAnySHA1InWant", "false"},
		{"uploadpack.allowReachableSHA1InWant", "false"},
		{"uploadpack.allowTipSHA1InWant", "false"},
		{"uploadpack.allowFilter", "false"},
	}
	if maxInput > 0 {
		c = append(c, [2]string{"receive.maxInputSize", strconv.FormatInt(maxInput, 10)})
	}
	return c
}

// configFile renders the mirror's config file.
func configFile(maxInput int64) []byte {
	var b bytes.Buffer
	b.WriteString("# Written by terok-gate; rewritten on every sync. Do not edit.\n")
	b.WriteString("[core]\n\trepositoryformatversion = 0\n\tbare = true\n")
	section := "core"
	for _, kv := range mirrorConfig(maxInput) {
		sec, key, _ := strings.Cut(kv[0], ".")
		if sec != section {
			fmt.Fprintf(&b, "[%s]\n", sec)
			section = sec
		}
		fmt.Fprintf(&b, "\t%s = %s\n", key, kv[1])
	}
	return b.Bytes()
}

// gateEnv is the environment of git run on the mirror for tasks and for
// terok's own ref updates: no system or global config, no home, no prompt.
func (m *Mirror) gateEnv() []string {
	return []string{
		"PATH=" + m.Getenv("PATH"),
		"HOME=/dev/null",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_ATTR_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
		"LC_ALL=C",
	}
}

// gitArgs prefixes args with the mirror's config overrides.
func (m *Mirror) gitArgs(args ...string) []string {
	out := []string{}
	for _, kv := range mirrorConfig(m.Policy.MaxPushSize) {
		out = append(out, "-c", kv[0]+"="+kv[1])
	}
	return append(out, args...)
}

// gateGit is a git command on the mirror with the gate's environment.
func (m *Mirror) gateGit(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, m.Git, m.gitArgs(append([]string{"--git-dir=" + m.Dir}, args...)...)...)
	cmd.Env = m.gateEnv()
	cmd.Dir = m.Dir
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Service is git's upload-pack or receive-pack on the mirror, as the
// gate's git endpoint runs it for a client: stateless RPC (one request,
// one response), with the mirror's configuration passed again on the
// command line and the gate's environment (no hooks, fsck on receive,
// terok's refs hidden). Its Stderr keeps the first 4 KiB git writes, for
// Failure.
type Service struct {
	*exec.Cmd
	stderr bytes.Buffer
}

// Service prepares git's name ("upload-pack" or "receive-pack") on the
// mirror; with advertise, it only advertises the refs. Any other name is
// an error.
func (m *Mirror) Service(ctx context.Context, name string, advertise bool) (*Service, error) {
	if name != "upload-pack" && name != "receive-pack" {
		return nil, fmt.Errorf("no git service %q", name)
	}
	args := []string{name, "--stateless-rpc"}
	if advertise {
		args = append(args, "--advertise-refs")
	}
	if name == "upload-pack" {
		args = append(args, "--strict")
	}
	s := &Service{Cmd: m.gateGit(ctx, append(args, m.Dir)...)}
	s.Stderr = &limitedBuffer{max: 4096, b: &s.stderr}
	return s, nil
}

// Failure says on one printable line why the service failed, err being
// what running it returned: git's last "fatal:" or "error:" line, else its
// last line, else err.
func (s *Service) Failure(err error) string { return gitError(s.stderr.String(), err) }

// run runs a gate git command with stdin and returns its stdout.
func (m *Mirror) run(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := m.gateGit(ctx, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &limitedBuffer{max: 4096, b: &errb}
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("git %s: %s", args[0], gitError(errb.String(), err))
	}
	return out.String(), nil
}

// upstreamEnvKeys are the variables of the host user's environment that
// their git may need to reach the upstream: credentials, SSH, proxies,
// certificates. Nothing else is passed (no GIT_DIR and the like).
var upstreamEnvKeys = []string{
	"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TMPDIR", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR",
	"SSH_AUTH_SOCK", "SSH_ASKPASS", "GIT_ASKPASS", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_SSH_VARIANT",
	"GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH", "GIT_SSL_NO_VERIFY",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "KRB5CCNAME", "DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS",
	"http_proxy", "https_proxy", "no_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
	"GIT_TERMINAL_PROMPT", "GIT_TRACE", "GIT_TRACE_PACKET", "GIT_CURL_VERBOSE",
}

// upstreamGit is a git command on the mirror that talks to the upstream
// with the host user's own configuration and credentials, but with hooks
// off and nothing recursing into submodules.
func (m *Mirror) upstreamGit(ctx context.Context, prompt bool, args ...string) *exec.Cmd {
	cmd := hostGit(ctx, m.Git, m.Getenv, prompt, append([]string{"--git-dir=" + m.Dir}, args...)...)
	cmd.Dir = m.Dir
	return cmd
}

// hostGit is a git command that talks to an upstream with the host user's
// own configuration and credentials (upstreamEnvKeys), hooks off and
// nothing recursing into submodules; without prompt git never asks on
// the terminal.
func hostGit(ctx context.Context, git string, getenv func(string) string, prompt bool, args ...string) *exec.Cmd {
	full := []string{"-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false",
		"-c", "protocol.ext.allow=never", "-c", "submodule.recurse=false",
		"-c", "fetch.recurseSubmodules=false", "-c", "push.recurseSubmodules=no",
		"-c", "push.gpgSign=false"}
	cmd := exec.CommandContext(ctx, git, append(full, args...)...)
	for _, k := range upstreamEnvKeys {
		if v := getenv(k); v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	if !prompt {
		cmd.Env = append(cmd.Env, "GIT_TERMINAL_PROMPT=0")
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// gitError makes one line of a git failure: its last "fatal:"/"error:"
// line, else its last line, else the exit status.
func gitError(stderr string, err error) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if strings.HasPrefix(l, "fatal:") || strings.HasPrefix(l, "error:") {
			return sanitizeLine(l)
		}
	}
	if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
		return sanitizeLine(l)
	}
	return err.Error()
}

// sanitizeLine keeps text from git or a repository printable on one line.
func sanitizeLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	max int
	b   *bytes.Buffer
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// lock takes the mirror's lock (a flock on StateDir/mirror.lock), waiting
// until ctx is done. Pushes, syncs, promotions, restores and prunes of one
// project hold it for their whole length, so each sees refs and records
// that no one else is changing.
func (m *Mirror) lock(ctx context.Context) (unlock func(), err error) {
	if err := os.MkdirAll(m.StateDir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(m.StateDir, "mirror.lock"), os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, err
	}
	for delay := time.Millisecond; ; delay = min(delay*2, 100*time.Millisecond) {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		// Closing the file releases the lock; the file holds no data, so
		// an error closing it loses nothing.
		if err == nil {
			return func() { _ = f.Close() }, nil
		}
		if err != syscall.EWOULDBLOCK && err != syscall.EINTR {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", m.StateDir, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, ErrBusy
		case <-time.After(delay):
		}
	}
}

// writeConfig (re)writes the mirror's config file atomically.
func (m *Mirror) writeConfig(dir string) error {
	return store.WriteFileLocked(filepath.Join(dir, "config"), configFile(m.Policy.MaxPushSize), 0o600)
}
