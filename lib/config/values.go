package config

import (
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

var (
	agentName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	imageHost = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*(:[0-9]+)?$`)
	imagePath = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$`)
	imageTag  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	digest    = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
	scpLike   = regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+$`)
)

// ValidAgentName checks an agent's name as it appears in lists.
func ValidAgentName(a string) error {
	if !agentName.MatchString(a) {
		return fmt.Errorf("invalid agent name %q (lower-case letters, digits and hyphens)", a)
	}
	return nil
}

// ValidImageRef checks a container image reference,
// [host[:port]/]path[:tag][@digest], by the distribution's rules: the first
// component is a host only if it holds a '.' or ':' or is localhost, and
// the path is lower-case.
func ValidImageRef(s string) error {
	bad := fmt.Errorf("invalid image reference %q", s)
	if len(s) == 0 || len(s) > 255 {
		return bad
	}
	rest := s
	if i := strings.Index(rest, "@"); i >= 0 {
		if !digest.MatchString(rest[i+1:]) {
			return bad
		}
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, ":"); i > strings.LastIndex(rest, "/") {
		if !imageTag.MatchString(rest[i+1:]) {
			return bad
		}
		rest = rest[:i]
	}
	if i := strings.Index(rest, "/"); i >= 0 {
		first := rest[:i]
		if strings.ContainsAny(first, ".:") || first == "localhost" {
			if !imageHost.MatchString(first) {
				return bad
			}
			rest = rest[i+1:]
		}
	}
	if !imagePath.MatchString(rest) {
		return bad
	}
	return nil
}

// ValidUpstream accepts "", a git URL (https, http, ssh, git, file) or
// scp-like address, or an absolute local path.
func ValidUpstream(s string) error {
	if s == "" {
		return nil
	}
	if strings.ContainsAny(s, " \t\n\r\x00") {
		return fmt.Errorf("upstream %q contains whitespace or control characters", s)
	}
	if strings.HasPrefix(s, "-") {
		return fmt.Errorf("upstream %q starts with '-'", s)
	}
	for _, p := range []string{"https://", "http://", "ssh://", "git://", "file:///"} {
		if strings.HasPrefix(s, p) {
			if len(s) == len(p) {
				return fmt.Errorf("upstream %q has no host or path", s)
			}
			return nil
		}
	}
	if strings.Contains(s, "://") {
		return fmt.Errorf("upstream %q: unsupported URL scheme (https, http, ssh, git or file)", s)
	}
	if scpLike.MatchString(s) {
		return nil
	}
	if filepath.IsAbs(s) {
		return nil
	}
	return fmt.Errorf("upstream %q is neither a git URL nor an absolute path", s)
}

// ValidBranch checks a branch name by git's check-ref-format rules.
func ValidBranch(b string) error {
	bad := func(why string) error { return fmt.Errorf("invalid branch name %q: %s", b, why) }
	switch {
	case b == "":
		return bad("empty")
	case len(b) > 200:
		return bad("too long")
	case b == "@" || b == "HEAD":
		return bad("reserved")
	case strings.HasPrefix(b, "-"):
		return bad("starts with '-'")
	case strings.HasPrefix(b, "/") || strings.HasSuffix(b, "/") || strings.Contains(b, "//"):
		return bad("empty path component")
	case strings.HasSuffix(b, ".") || strings.HasSuffix(b, ".lock"):
		return bad("ends with '.' or '.lock'")
	case strings.Contains(b, "..") || strings.Contains(b, "@{"):
		return bad("contains '..' or '@{'")
	case strings.HasPrefix(b, "refs/"):
		return bad("give the branch name, not a ref")
	}
	for _, part := range strings.Split(b, "/") {
		if strings.HasPrefix(part, ".") {
			return bad("a component starts with '.'")
		}
	}
	for _, r := range b {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(" ~^:?*[\\", r) {
			return bad("contains a forbidden character")
		}
	}
	return nil
}

// capabilities are the Linux capabilities a project may put back.
var capabilities = map[string]bool{
	"AUDIT_WRITE": true, "CHOWN": true, "DAC_OVERRIDE": true, "FOWNER": true, "FSETID": true,
	"KILL": true, "MKNOD": true, "NET_BIND_SERVICE": true, "NET_RAW": true, "SETFCAP": true,
	"SETGID": true, "SETPCAP": true, "SETUID": true, "SYS_CHROOT": true, "IPC_LOCK": true,
	"SYS_PTRACE": true, "SYS_NICE": true, "SYS_RESOURCE": true, "SYS_TIME": true, "NET_ADMIN": true,
	"SYS_ADMIN": true, "DAC_READ_SEARCH": true, "LINUX_IMMUTABLE": true, "SYS_MODULE": true,
	"SYS_RAWIO": true, "SYS_BOOT": true, "LEASE": true, "AUDIT_CONTROL": true, "MAC_ADMIN": true,
	"MAC_OVERRIDE": true, "SYSLOG": true, "WAKE_ALARM": true, "BLOCK_SUSPEND": true,
	"AUDIT_READ": true, "PERFMON": true, "BPF": true, "CHECKPOINT_RESTORE": true, "IPC_OWNER": true,
	"NET_BROADCAST": true, "SYS_PACCT": true, "SYS_TTY_CONFIG": true,
}

// ValidCapability checks a capability name, written without the CAP_ prefix.
func ValidCapability(c string) error {
	if !capabilities[c] {
		return fmt.Errorf("unknown capability %q (write it without CAP_, upper case, e.g. NET_BIND_SERVICE)", c)
	}
	return nil
}

// ValidBranchPattern checks a protected-branch pattern: a branch name in
// which the shell wildcards * ? [...] may stand for parts of one path
// component (path.Match).
func ValidBranchPattern(pat string) error {
	if _, err := path.Match(pat, ""); err != nil {
		return fmt.Errorf("invalid branch pattern %q: %v", pat, err)
	}
	// The pattern with its wildcards replaced must be a branch name.
	plain := strings.NewReplacer("*", "x", "?", "x", "[", "x", "]", "x", "\\", "x").Replace(pat)
	if err := ValidBranch(plain); err != nil {
		return fmt.Errorf("invalid branch pattern %q", pat)
	}
	return nil
}

func validPatterns(list []string) error {
	for _, p := range list {
		if err := ValidBranchPattern(p); err != nil {
			return err
		}
	}
	return nil
}
