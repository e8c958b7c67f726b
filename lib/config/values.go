package config

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

var (
	agentName = lazyRegexp(`^[a-z][a-z0-9-]{0,31}$`)
	imageHost = lazyRegexp(`^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*(:[0-9]+)?$`)
	imagePath = lazyRegexp(`^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$`)
	imageTag  = lazyRegexp(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	digest    = lazyRegexp(`^sha256:[a-f0-9]{64}$`)
	scpLike   = lazyRegexp(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+$`)
)

// ValidAgentName checks an agent's name as it appears in lists.
func ValidAgentName(a string) error {
	if !agentName().MatchString(a) {
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
		if !digest().MatchString(rest[i+1:]) {
			return bad
		}
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, ":"); i > strings.LastIndex(rest, "/") {
		if !imageTag().MatchString(rest[i+1:]) {
			return bad
		}
		rest = rest[:i]
	}
	if i := strings.Index(rest, "/"); i >= 0 {
		first := rest[:i]
		if strings.ContainsAny(first, ".:") || first == "localhost" {
			if !imageHost().MatchString(first) {
				return bad
			}
			rest = rest[i+1:]
		}
	}
	if !imagePath().MatchString(rest) {
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
	if scpLike().MatchString(s) {
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

// Families are the package families terok knows how to install into.
var Families = []string{"deb", "rpm"}

// ValidFamily accepts "" (detect), "deb" or "rpm".
func ValidFamily(f string) error {
	if f == "" {
		return nil
	}
	for _, k := range Families {
		if f == k {
			return nil
		}
	}
	return fmt.Errorf("unknown package family %q (deb or rpm)", f)
}

// snippetInstructions are the Containerfile instructions a project's
// snippet may hold, and why the others are refused.
var snippetInstructions = map[string]string{
	"RUN": "", "ENV": "", "ARG": "", "LABEL": "", "WORKDIR": "", "USER": "",
	"EXPOSE": "", "SHELL": "", "VOLUME": "", "STOPSIGNAL": "", "ADD": "",
	"FROM":        "the snippet extends the project's image and cannot start another",
	"COPY":        "the L2 build has no context to copy from; use RUN or ADD with a URL",
	"CMD":         "terok's entry point decides what a task runs",
	"ENTRYPOINT":  "terok's entry point decides what a task runs",
	"ONBUILD":     "nothing builds on a project's image",
	"MAINTAINER":  "use LABEL",
	"HEALTHCHECK": "tasks are not services",
}

// CheckSnippet checks the Containerfile lines of a project's L2 layer: each
// instruction (after joining continuation lines, skipping comments) must be
// one a snippet may hold, LABEL may not set terok's own labels, and ADD only
// fetches URLs. It returns the 1-based line of the first problem.
func CheckSnippet(s string) (int, error) {
	lines := strings.Split(s, "\n")
	start, cont := 0, false
	var instr strings.Builder
	for i, raw := range lines {
		t := strings.TrimSpace(raw)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if strings.ContainsRune(t, 0) {
			return i + 1, fmt.Errorf("contains a NUL byte")
		}
		if !cont {
			start = i + 1
			instr.Reset()
		}
		body, more := strings.CutSuffix(t, "\\")
		instr.WriteString(body)
		instr.WriteByte(' ')
		cont = more
		if !cont {
			if err := checkInstruction(instr.String()); err != nil {
				return start, err
			}
		}
	}
	if cont {
		return start, fmt.Errorf("ends inside a continued line (a trailing \\)")
	}
	return 0, nil
}

func checkInstruction(line string) error {
	f := strings.Fields(line)
	kw := strings.ToUpper(f[0])
	why, known := snippetInstructions[kw]
	switch {
	case !known:
		return fmt.Errorf("unknown instruction %q", f[0])
	case why != "":
		return fmt.Errorf("%s is not allowed: %s", kw, why)
	case len(f) == 1:
		return fmt.Errorf("%s has no arguments", kw)
	case kw == "LABEL" && strings.Contains(strings.ToLower(line), "terok."):
		return fmt.Errorf("LABEL may not set terok.* labels: they are terok's record of the image")
	case kw == "ADD":
		var srcs []string
		for _, a := range f[1:] {
			if !strings.HasPrefix(a, "--") {
				srcs = append(srcs, a)
			}
		}
		if len(srcs) < 2 {
			return fmt.Errorf("ADD needs a source URL and a destination")
		}
		for _, a := range srcs[:len(srcs)-1] {
			if !strings.HasPrefix(a, "https://") && !strings.HasPrefix(a, "http://") {
				return fmt.Errorf("ADD %s: only URLs can be added (the L2 build has no context)", a)
			}
		}
	}
	return nil
}
