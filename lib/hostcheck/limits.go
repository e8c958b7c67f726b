package hostcheck

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// podmanDefaultRlimit is what rootful Podman sets nofile and nproc to when
// containers.conf sets no default_ulimits.
const podmanDefaultRlimit = 1048576

// capSysResource is CAP_SYS_RESOURCE's bit in a capability set.
const capSysResource = 24

// Limits are the host facts that decide whether the runtime may set a
// container's rlimits: the hard limits it inherits and whether it may
// raise them.
type Limits struct {
	NofileHard     uint64 `json:"nofile_hard"`
	NprocHard      uint64 `json:"nproc_hard"`
	CapSysResource bool   `json:"cap_sys_resource"`
}

// ReadLimits reads this process's limits and capabilities, which a Podman
// service that terok starts inherits.
func ReadLimits() Limits {
	l := Limits{NofileHard: math.MaxUint64, NprocHard: math.MaxUint64}
	var r unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &r) == nil {
		l.NofileHard = r.Max
	}
	if unix.Getrlimit(unix.RLIMIT_NPROC, &r) == nil {
		l.NprocHard = r.Max
	}
	l.CapSysResource = effectiveCap(capSysResource)
	return l
}

// effectiveCap reports whether this process has capability bit n in effect.
func effectiveCap(n uint) bool {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			set, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && set&(1<<n) != 0
		}
	}
	return false
}

// Ulimit is one default_ulimits entry, "name=soft[:hard]".
type Ulimit struct {
	Name       string
	Soft, Hard uint64 // math.MaxUint64 for -1 (unlimited)
}

// ParseUlimit parses one default_ulimits entry.
func ParseUlimit(s string) (Ulimit, error) {
	name, vals, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return Ulimit{}, fmt.Errorf("not name=soft[:hard]: %q", s)
	}
	softS, hardS, hasHard := strings.Cut(vals, ":")
	if !hasHard {
		hardS = softS
	}
	soft, err1 := parseLimit(softS)
	hard, err2 := parseLimit(hardS)
	if err1 != nil || err2 != nil {
		return Ulimit{}, fmt.Errorf("not name=soft[:hard]: %q", s)
	}
	return Ulimit{Name: name, Soft: soft, Hard: hard}, nil
}

func parseLimit(s string) (uint64, error) {
	if s == "-1" {
		return math.MaxUint64, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

// DeniedRlimits predicts which of nofile and nproc the runtime will be
// refused for a rootful container: those whose value (configured, or
// Podman's default) exceeds the hard limit when the process may not raise
// it. A broken default_ulimits entry is returned as an error.
func DeniedRlimits(defaults []string, l Limits) ([]string, error) {
	if l.CapSysResource {
		return nil, nil
	}
	want := map[string]uint64{"nofile": podmanDefaultRlimit, "nproc": podmanDefaultRlimit}
	for _, s := range defaults {
		u, err := ParseUlimit(s)
		if err != nil {
			return nil, err
		}
		if _, ok := want[u.Name]; ok {
			want[u.Name] = u.Hard
		}
	}
	var denied []string
	if want["nofile"] > l.NofileHard {
		denied = append(denied, fmt.Sprintf("nofile %s > hard limit %s", limitString(want["nofile"]), limitString(l.NofileHard)))
	}
	if want["nproc"] > l.NprocHard {
		denied = append(denied, fmt.Sprintf("nproc %s > hard limit %s", limitString(want["nproc"]), limitString(l.NprocHard)))
	}
	return denied, nil
}

func limitString(v uint64) string {
	if v == math.MaxUint64 {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}

// checkUlimits judges whether the runtime may set containers' rlimits.
func checkUlimits(f hostFacts, problems []Problem, probeRan bool) Result {
	r := Result{Check: "ulimits", Status: OK}
	limits := fmt.Sprintf("hard nofile %s, nproc %s", limitString(f.limits.NofileHard), limitString(f.limits.NprocHard))
	switch {
	case slices.Contains(problems, RlimitDenied):
		r.Status, r.Fix = Fail, UlimitsFix(f.limits, f.conf.UserFile)
		r.Detail = "the probe failed: the runtime may not set the container's rlimits (" + limits + ")"
		return r
	case f.rootless:
		r.Detail = "rootless: containers keep this user's limits (" + limits + ")"
		return r
	case f.limits.CapSysResource:
		r.Detail = "root with CAP_SYS_RESOURCE may raise limits (" + limits + ")"
		return r
	}
	denied, err := DeniedRlimits(f.conf.DefaultUlimits, f.limits)
	switch {
	case err != nil:
		r.Status, r.Detail = Fail, "containers.conf default_ulimits: "+err.Error()
		r.Fix = UlimitsFix(f.limits, f.conf.UserFile)
	case len(denied) > 0 && !probeRan:
		r.Status, r.Fix = Warn, UlimitsFix(f.limits, f.conf.UserFile)
		r.Detail = "root without CAP_SYS_RESOURCE: the runtime will be refused " + strings.Join(denied, ", ")
	case len(denied) > 0:
		r.Detail = "the probe ran, although root without CAP_SYS_RESOURCE was expected to be refused " + strings.Join(denied, ", ")
	case f.conf.UlimitsSet:
		r.Detail = "default_ulimits " + strings.Join(f.conf.DefaultUlimits, " ") + " fit (" + limits + ")"
	default:
		r.Detail = "Podman's default rlimits fit (" + limits + ")"
	}
	return r
}
