package hostcheck

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
)

// Problem is a known way for the OCI runtime to refuse every container.
type Problem string

const (
	// RlimitDenied: the runtime may not set the container's rlimits
	// (root without CAP_SYS_RESOURCE, below Podman's default of 1048576).
	RlimitDenied Problem = "rlimit-denied"
	// HybridCgroups: crun refuses hybrid cgroups v1+v2.
	HybridCgroups Problem = "hybrid-cgroups"
)

var problemPatterns = []struct {
	problem Problem
	re      *regexp.Regexp
}{
	// crun: "setrlimit `RLIMIT_NOFILE`: Operation not permitted"
	{RlimitDenied, regexp.MustCompile(`(?i)setrlimit\W+RLIMIT_\w+\W*: operation not permitted`)},
	// runc: "error setting rlimit type 7: operation not permitted"
	{RlimitDenied, regexp.MustCompile(`(?i)error setting rlimit type \d+: operation not permitted`)},
	// crun: "cgroups in hybrid mode not supported, drop all controllers from cgroupv2"
	{HybridCgroups, regexp.MustCompile(`(?i)cgroups in hybrid mode not supported`)},
}

// ClassifyRuntimeError finds the known problems in the engine's error text.
func ClassifyRuntimeError(text string) []Problem {
	var out []Problem
	for _, p := range problemPatterns {
		if p.re.MatchString(text) && !slices.Contains(out, p.problem) {
			out = append(out, p.problem)
		}
	}
	return out
}

// Fix is the containers.conf line that makes the problem go away, for the
// host limits l, written to confFile.
func (p Problem) Fix(l Limits, confFile string) string {
	switch p {
	case RlimitDenied:
		return UlimitsFix(l, confFile)
	case HybridCgroups:
		return RuntimeFix(confFile)
	}
	return ""
}

// The limits terok's setup writes; lowered to the host's hard limits where
// those are smaller.
const (
	setupNofile = 20000
	setupNproc  = 32768
)

// UlimitsFix is the containers.conf setting that keeps containers' rlimits
// within what the runtime may set.
func UlimitsFix(l Limits, confFile string) string {
	nofile, nproc := min(setupNofile, l.NofileHard), min(setupNproc, l.NprocHard)
	return fmt.Sprintf(`add to %s: [containers] default_ulimits = ["nofile=%d:%d", "nproc=%d:%d"]`,
		confFile, nofile, nofile, nproc, nproc)
}

// RuntimeFix is the containers.conf setting that selects runc.
func RuntimeFix(confFile string) string {
	fix := fmt.Sprintf(`add to %s: [engine] runtime = "runc"`, confFile)
	if findBinary("runc") == "" {
		fix = "apt-get install -y runc (or dnf install -y runc), then " + fix
	}
	return fix
}

// CgroupMode is how the host mounts cgroups.
type CgroupMode string

const (
	CgroupV2     CgroupMode = "v2"     // unified: cgroup2 on /sys/fs/cgroup
	CgroupV1     CgroupMode = "v1"     // legacy: v1 controllers only
	CgroupHybrid CgroupMode = "hybrid" // v1 controllers plus a cgroup2 mount
	CgroupNone   CgroupMode = "none"
)

// ParseCgroupMode reads a mount table (/proc/self/mounts format).
func ParseCgroupMode(mounts io.Reader) CgroupMode {
	var v1, v2, v2root bool
	sc := bufio.NewScanner(mounts)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			continue
		}
		switch f[2] {
		case "cgroup":
			v1 = true
		case "cgroup2":
			v2 = true
			v2root = v2root || f[1] == "/sys/fs/cgroup"
		}
	}
	switch {
	case v1 && v2:
		return CgroupHybrid
	case v1:
		return CgroupV1
	case v2root, v2:
		return CgroupV2
	}
	return CgroupNone
}

// ReadCgroupMode reads this host's mount table.
func ReadCgroupMode() CgroupMode {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return CgroupNone
	}
	defer f.Close()
	return ParseCgroupMode(f)
}

// findBinary finds a program in $PATH or the usual system directories
// (a user's $PATH often lacks the sbin ones).
func findBinary(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin", "/sbin", "/bin", "/usr/libexec/podman"} {
		p := dir + "/" + name
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}

// defaultRuntime is the runtime Podman picks when containers.conf names
// none: crun if installed, else runc.
func defaultRuntime() string {
	if findBinary("crun") != "" {
		return "crun"
	}
	return "runc"
}

// checkCgroups judges the cgroup layout against the runtime.
func checkCgroups(f hostFacts, problems []Problem) Result {
	r := Result{Check: "cgroups", Status: OK}
	r.Detail = fmt.Sprintf("cgroups %s; runtime %s (%s)", f.cgroups, f.runtime, f.source)
	switch {
	case len(f.conf.Broken) > 0:
		r.Status = Fail
		r.Detail = "podman cannot read its configuration: " + strings.Join(f.conf.Broken, "; ")
		r.Fix = "correct the file's TOML (podman reads it on every command)"
	case slices.Contains(problems, HybridCgroups):
		r.Status, r.Fix = Fail, RuntimeFix(f.conf.UserFile)
		r.Detail += "; the probe failed: crun refuses hybrid cgroups"
	case f.cgroups == CgroupHybrid && f.runtime == "crun":
		r.Status, r.Fix = Warn, RuntimeFix(f.conf.UserFile)
		r.Detail += "; crun refuses hybrid cgroups, every container will fail"
	case f.cgroups == CgroupNone:
		r.Status, r.Fix = Warn, "mount cgroup2 on /sys/fs/cgroup"
		r.Detail = "no cgroup filesystem is mounted; runtime " + f.runtime
	case f.rootless && f.cgroups != CgroupV2:
		r.Status, r.Fix = Warn, "boot with cgroups v2 (systemd.unified_cgroup_hierarchy=1) to limit rootless tasks"
		r.Detail += "; rootless containers' resource limits are ignored without cgroups v2"
	}
	return r
}
