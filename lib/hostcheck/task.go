package hostcheck

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/containers/podman/v5/pkg/specgen"

	"github.com/terok-ai/terok-go/lib/engine"
)

// TaskProbe says how to run the task-shaped probe: a container made by the
// spec builder tasks use, so that whatever the host lacks for a task fails
// here, with its fix, rather than at a person's first `terok-task run`.
type TaskProbe struct {
	// Spec builds the container (lib/task's ProbeSpec).
	Spec func(image, name string, command []string) (*specgen.SpecGenerator, error)
	// Lock is the engine lock tasks take around create and start.
	Lock func() (func(), error)
	// Verify checks the shield's ruleset in force in the network namespace
	// of pid (terok-shield verify --pid); nil skips it.
	Verify func(ctx context.Context, pid int) error
	// UID is the agent's uid inside a task.
	UID int
}

// taskProbeScript is what the probe runs: it reports what a task's agent
// would see, then waits to be stopped (so that the shield can be verified
// while it runs): a probe nobody stops outlives the check's timeout, which
// fails the check. Only POSIX sh and busybox/coreutils tools.
const taskProbeScript = `echo ` + probeWord + `
echo "uid=$(id -u)"
grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status | tr -d '\t' | tr ':' '='
echo "init=$(cat /proc/1/comm)"
if touch /workspace/.terok-probe; then echo workspace=writable; fi
echo ` + probeDone + `
sleep 3600`

// probeDone is the task probe's last line before it waits.
const probeDone = "terok-probe-done"

// checkTask runs the task-shaped probe and reads what it reports.
func checkTask(ctx context.Context, opts Options, e *engine.Engine, image string) Result {
	r := Result{Check: "task", Status: Fail}
	tp := opts.TaskProbe
	switch {
	case tp == nil || tp.Spec == nil:
		r.Status, r.Detail = Warn, "not run: no task spec builder given"
		return r
	case e == nil:
		r.Detail, r.Fix = "not run: podman does not answer", "fix the podman check first"
		return r
	case image == "":
		r.Status, r.Detail, r.Fix = Warn, "not run: no local image", SetupHint
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, opts.PodmanTimeout)
	defer cancel()
	name := engine.ProbeName()
	s, err := tp.Spec(image, name, []string{"/bin/sh", "-c", taskProbeScript})
	if err != nil {
		r.Detail = "building a task's container spec: " + oneLine(err.Error())
		r.Fix = "the engine's seccomp profile comes with Podman's containers-common package: reinstall podman"
		return r
	}
	// The probe waits once it has reported; it is stopped then, verified
	// or not (without While it would sleep until the check's timeout and fail).
	run := engine.ProbeRun{Lock: tp.Lock, Ready: probeDone, While: tp.Verify}
	if run.While == nil {
		run.While = func(context.Context, int) error { return nil }
	}
	p, err := e.RunProbeSpec(ctx, s, run)
	if err != nil {
		out := probeFailure(err, image, ReadContainersConf(opts.UID, opts.Getenv).UserFile)
		out.result.Check = "task"
		if fix := MissingHostPart(err.Error()); fix != "" {
			out.result.Fix = fix
		}
		return out.result
	}
	facts := parseTaskProbe(p.Output)
	if !facts.ran {
		r.Detail = fmt.Sprintf("%s: the task-shaped container exited %d with %q", image, p.ExitCode, oneLine(p.Output))
		r.Fix = "terok doctor --json shows the whole detail; podman logs of a task show the same"
		return r
	}
	if bad := facts.problems(tp.UID); len(bad) > 0 {
		r.Detail = "a task's container would run unconfined: " + strings.Join(bad, "; ")
		r.Fix = "check containers.conf for settings that override terok's (seccomp_profile, no_new_privileges, default_capabilities)"
		return r
	}
	shieldNote := "shield not verified"
	if tp.Verify != nil {
		if p.WhileErr != nil {
			r.Detail = "the shield's ruleset was not in force in the task-shaped container: " + oneLine(p.WhileErr.Error())
			r.Fix = "terok setup (registers the shield's OCI hook; then terok doctor again)"
			return r
		}
		shieldNote = "shield's ruleset in force"
	}
	r.Status = OK
	r.Detail = fmt.Sprintf("%s ran as a task does (init %s, uid %d, no capabilities, seccomp, workspace writable, %s) in %.2fs",
		image, facts.init, facts.uid, shieldNote, p.Took.Seconds())
	return r
}

// taskFacts is what the probe reported.
type taskFacts struct {
	ran       bool
	uid       int
	capEff    string
	noNewPriv string
	seccomp   string
	init      string
	workspace bool
}

func parseTaskProbe(out string) taskFacts {
	var f taskFacts
	f.uid = -1
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		k, v, ok := strings.Cut(line, "=")
		switch {
		case line == probeWord:
			f.ran = true
		case !ok:
		case k == "uid":
			if n, err := strconv.Atoi(v); err == nil {
				f.uid = n
			}
		case k == "CapEff":
			f.capEff = v
		case k == "NoNewPrivs":
			f.noNewPriv = v
		case k == "Seccomp":
			f.seccomp = v
		case k == "init":
			f.init = v
		case k == "workspace":
			f.workspace = v == "writable"
		}
	}
	return f
}

// problems lists how the probe's confinement differs from a task's.
func (f taskFacts) problems(uid int) []string {
	var out []string
	if f.uid != uid {
		out = append(out, fmt.Sprintf("the agent's uid is %d, not %d", f.uid, uid))
	}
	if strings.Trim(f.capEff, "0") != "" || f.capEff == "" {
		out = append(out, "effective capabilities "+f.capEff)
	}
	if f.noNewPriv != "1" {
		out = append(out, "no_new_privs is "+f.noNewPriv)
	}
	if f.seccomp != "2" {
		out = append(out, "no seccomp filter (Seccomp: "+f.seccomp+")")
	}
	switch f.init {
	case "", "sh", "sleep":
		out = append(out, "no init process as PID 1 ("+f.init+")")
	}
	if !f.workspace {
		out = append(out, "the workspace volume is not writable by the agent")
	}
	return out
}

// missingParts are host binaries a container start names in its error when
// they are absent, with the package that brings each (Debian's name; the
// same on Fedora unless noted).
var missingParts = []struct{ needle, fix string }{
	// Podman: "container-init binary not found on the host: stat /usr/libexec/podman/catatonit"
	{"container-init binary not found", "apt-get install -y catatonit (dnf install -y catatonit), or set [engine] init_path in containers.conf to an init such as tini"},
	{`"slirp4netns": executable file not found`, "apt-get install -y slirp4netns"},
	{"could not find slirp4netns", "apt-get install -y slirp4netns"},
	{`"newuidmap": executable file not found`, "apt-get install -y uidmap (dnf install -y shadow-utils)"},
	{`"newgidmap": executable file not found`, "apt-get install -y uidmap (dnf install -y shadow-utils)"},
	{`"netavark": executable file not found`, "apt-get install -y netavark aardvark-dns"},
	{`"fuse-overlayfs": executable file not found`, "apt-get install -y fuse-overlayfs"},
	{`"conmon": executable file not found`, "apt-get install -y conmon"},
	{"seccomp.json", "apt-get install -y golang-github-containers-common (podman's configuration package)"},
}

// MissingHostPart is the install command for a host binary the engine's
// error text says is missing, or "".
func MissingHostPart(text string) string {
	for _, m := range missingParts {
		if strings.Contains(text, m.needle) {
			return m.fix
		}
	}
	return ""
}
