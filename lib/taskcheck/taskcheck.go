package taskcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/hostcheck"
	"github.com/terok-ai/terok-go/lib/policy"
	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/task"
	"github.com/terok-ai/terok-go/lib/warden"
)

// Checks are the task checks' names, in the order Run reports them.
var Checks = []string{"warden", "shield", "dns", "gate", "workspace", "agent", "clock"}

// Options say which task to check and how.
type Options struct {
	// Runner reaches the task: its engine (for the container's state and
	// the execs inside it) and its warden's control socket.
	Runner *task.Runner
	Record task.Record
	// Verify verifies the shield's ruleset in the network namespace of
	// the process pid (terok-shield verify --pid); nil: the shield check
	// fails, saying it could not run.
	Verify func(ctx context.Context, pid int) error
	// Only, if not empty, names the checks to run (see Checks).
	Only []string
	// Timeout bounds each check (default 15 s).
	Timeout time.Duration
	// Now is the host's clock (default time.Now).
	Now func() time.Time
}

// Thresholds of the workspace check: it warns when the workspace's
// filesystem has less than WarnFree (or WarnPercent of its size) free, and
// fails under FailFree (or FailPercent).
const (
	WarnFree    = 1 << 30 // bytes
	WarnPercent = 10
	FailFree    = 100 << 20
	FailPercent = 2
)

// MaxSkew is the clock difference between container and host beyond which
// the clock check warns (plus half the exec's round trip).
const MaxSkew = 3 * time.Second

// ProbeName is the name the dns check asks for to see the resolver refuse
// it: under .invalid (RFC 2606), so it is outside any sensible policy and
// would resolve nowhere. It shows up in the task's blocked log.
const ProbeName = "doctor-probe.terok.invalid"

// checker is one run's shared state.
type checker struct {
	opts  Options
	rec   task.Record
	id    string
	state engine.ContainerState
	// rules are the warden's answer to OpRules, fetched once; rulesErr
	// when it did not answer.
	rules    warden.Rules
	rulesErr error
}

// Run runs the task checks (those in opts.Only, or all) concurrently, and
// returns their results in the order of Checks.
func Run(ctx context.Context, opts Options) []hostcheck.Result {
	if opts.Timeout <= 0 {
		opts.Timeout = 15 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	var names []string
	for _, n := range Checks {
		if len(opts.Only) == 0 || slices.Contains(opts.Only, n) {
			names = append(names, n)
		}
	}
	c := &checker{opts: opts, rec: opts.Record, id: opts.Record.ID}
	out := make([]hostcheck.Result, len(names))

	// A task that is not running fails every check alike.
	ictx, cancel := context.WithTimeout(ctx, opts.Timeout)
	st, err := opts.Runner.Engine.InspectContainer(ictx, c.rec.Container)
	cancel()
	var down *hostcheck.Result
	switch {
	case errors.Is(err, engine.ErrNoSuchContainer):
		down = &hostcheck.Result{Status: hostcheck.Fail, Detail: "the task's container is gone",
			Fix: "terok-task rm " + c.id + " cleans it up"}
	case err != nil:
		down = &hostcheck.Result{Status: hostcheck.Fail, Detail: "inspecting the task's container: " + err.Error(),
			Fix: "terok doctor (the host checks) says what is wrong with Podman"}
	case !st.Running || st.Pid <= 0:
		down = &hostcheck.Result{Status: hostcheck.Fail, Detail: "the task is not running (" + st.Status + ")",
			Fix: "terok-task start " + c.id}
	}
	if down != nil {
		for i, n := range names {
			out[i] = *down
			out[i].Check = n
		}
		return out
	}
	c.state = st
	if slices.Contains(names, "dns") || slices.Contains(names, "gate") || slices.Contains(names, "warden") {
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		c.rules, c.rulesErr = opts.Runner.Warden(c.id).Rules(rctx)
		cancel()
	}

	checks := map[string]func(context.Context) hostcheck.Result{
		"warden": c.warden, "shield": c.shield, "dns": c.dns, "gate": c.gate,
		"workspace": c.workspace, "agent": c.agent, "clock": c.clock,
	}
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, opts.Timeout)
			defer cancel()
			done := make(chan hostcheck.Result, 1)
			go func() { done <- checks[n](cctx) }()
			select {
			case r := <-done:
				out[i] = r
			case <-cctx.Done():
				out[i] = hostcheck.Result{Status: hostcheck.Fail,
					Detail: fmt.Sprintf("no answer within %s", opts.Timeout), Fix: "terok-task restart " + c.id}
			}
			out[i].Check = n
		})
	}
	wg.Wait()
	return out
}

func ok(detail string) hostcheck.Result {
	return hostcheck.Result{Status: hostcheck.OK, Detail: detail}
}

func fail(detail, fix string) hostcheck.Result {
	return hostcheck.Result{Status: hostcheck.Fail, Detail: detail, Fix: fix}
}

func warn(detail, fix string) hostcheck.Result {
	return hostcheck.Result{Status: hostcheck.Warn, Detail: detail, Fix: fix}
}

// restart is the fix for what only a new container and warden repair.
func (c *checker) restart(why string) string {
	return fmt.Sprintf("terok-task restart %s (%s)", c.id, why)
}

// warden: the process in the record is alive, and its control socket
// answers.
func (c *checker) warden(ctx context.Context) hostcheck.Result {
	pid := c.rec.WardenPID
	fix := c.restart("a warden cannot be started alone; without it the task has no network, DNS or gate")
	alive := warden.Alive(pid)
	switch {
	case !alive && c.rulesErr != nil:
		return fail(fmt.Sprintf("the warden (pid %d) is not running", pid), fix)
	case !alive:
		// warden.Alive finds a warden left in the recorded pid's group
		// (rootless, the pid is podman unshare's); a socket answering
		// with none found is a warden that stop and rm cannot reach.
		return warn(fmt.Sprintf("no warden runs under the recorded pid %d or its group, yet one answers on the control socket (an orphan, still serving)", pid),
			c.restart("a new warden, which stop and rm can reach again"))
	case c.rulesErr != nil:
		return fail(fmt.Sprintf("the warden (pid %d) runs but its control socket does not answer: %v", pid, c.rulesErr), fix)
	}
	return ok(fmt.Sprintf("pid %d answers; shield %s", pid, c.rules.Posture))
}

// shield: the ruleset in the container's network namespace is in force
// and unaltered.
func (c *checker) shield(ctx context.Context) hostcheck.Result {
	stop := fmt.Sprintf("terok-task stop %s at once (its egress may be unfiltered), then terok-task start %s installs the ruleset again", c.id, c.id)
	if c.opts.Verify == nil {
		return fail("terok-shield verify could not run: no terok binary found", "put terok on the PATH (terok setup)")
	}
	if err := c.opts.Verify(ctx, c.state.Pid); err != nil {
		return fail("the ruleset is not in force as installed: "+err.Error(), stop)
	}
	return ok(fmt.Sprintf("the ruleset is in force and unaltered (container pid %d)", c.state.Pid))
}

// exec runs argv inside the task as the agent's user, in the workspace,
// and returns its exit code and output.
func (c *checker) exec(ctx context.Context, argv ...string) (int, string, string, error) {
	var out, errb bytes.Buffer
	code, err := c.opts.Runner.Exec(ctx, c.rec, engine.Exec{Cmd: argv, Stdout: &out, Stderr: &errb,
		Env: map[string]string{"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}})
	return code, out.String(), errb.String(), err
}

// dnsScript asks the resolver at 127.0.0.1:53 (the only one the task's
// resolv.conf names) for the A record of each name, over bash's /dev/udp,
// and prints "NAME RCODE" per name ("none" when nothing answered): getent
// cannot tell a refusal from an upstream failure. Names are validated
// domain names (letters, digits, hyphens and dots) before they get here.
const dnsScript = `for name in "$@"; do
	pkt='\x13\x37\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00'
	IFS=. read -ra labels <<<"$name"
	for l in "${labels[@]}"; do pkt+=$(printf '\\x%02x' "${#l}")$l; done
	pkt+='\x00\x00\x01\x00\x01'
	r=""
	if exec 3<>/dev/udp/127.0.0.1/53; then
		printf "$pkt" >&3
		r=$(timeout 3 head -c 4 <&3 | od -An -tu1)
		exec 3<&-
	fi
	read -r b1 b2 b3 b4 <<<"$r"
	if [ "$b1" = 19 ] && [ "$b2" = 55 ] && [ -n "$b4" ]; then echo "$name $((b4 & 15))"; else echo "$name none"; fi
done`

var rcodes = map[string]string{"0": "NOERROR", "1": "FORMERR", "2": "SERVFAIL", "3": "NXDOMAIN", "4": "NOTIMP", "5": "REFUSED"}

// dns: an allowed name is answered (NOERROR or NXDOMAIN: not refused), a
// name outside the policy is refused.
func (c *checker) dns(ctx context.Context) hostcheck.Result {
	if c.rulesErr != nil {
		return fail("the resolver is the warden's, which does not answer (see the warden check)",
			c.restart("a new warden serves the resolver"))
	}
	if c.rules.Posture == shield.PostureQuarantine {
		return warn("the task is quarantined: its resolver answers no name", "terok-shield up "+c.id)
	}
	pol := policy.Policy{}
	for _, e := range c.rules.Allow {
		if t, err := config.ParseTarget(e.Text); err == nil {
			pol.Allow = append(pol.Allow, policy.Entry{Target: t, Text: e.Text})
		}
	}
	for _, e := range c.rules.Deny {
		if t, err := config.ParseTarget(e.Text); err == nil {
			pol.Deny = append(pol.Deny, policy.Entry{Target: t, Text: e.Text})
		}
	}
	allowed := allowedName(pol)
	refused := ""
	if c.rules.Posture == shield.PostureUp && !pol.Allowed(ProbeName) {
		refused = ProbeName
	}
	var names []string
	for _, n := range []string{allowed, refused} {
		if n != "" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return ok("nothing to ask: the policy allows no name and the shield is " + string(c.rules.Posture))
	}
	code, out, errs, err := c.exec(ctx, append([]string{"bash", "-c", dnsScript, "dns"}, names...)...)
	if err != nil || code != 0 {
		return fail(fmt.Sprintf("the probe could not run inside the task: %v %s", errOrCode(err, code), firstLine(errs)),
			c.restart("the probe runs bash inside the container"))
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if n, rc, found := strings.Cut(l, " "); found {
			if name, known := rcodes[rc]; known {
				rc = name
			}
			got[n] = rc
		}
	}
	var details []string
	if allowed != "" {
		switch rc := got[allowed]; rc {
		case "NOERROR", "NXDOMAIN":
			details = append(details, fmt.Sprintf("%s (allowed) answered %s", allowed, rc))
		case "SERVFAIL":
			return warn(fmt.Sprintf("%s (allowed) answered SERVFAIL: the resolver's upstream servers do not answer", allowed),
				"check the host's resolvers (shield.resolvers in config.toml, or /etc/resolv.conf): terok-project config check")
		case "", "none":
			return fail(fmt.Sprintf("the resolver did not answer %s (allowed)", allowed),
				c.restart("a new warden serves the resolver"))
		default:
			return fail(fmt.Sprintf("%s (allowed) answered %s", allowed, rc),
				"terok-shield rules "+c.id+" shows the policy in force; terok-shield allow "+c.id+" "+allowed+" adds it")
		}
	}
	if refused != "" {
		switch rc := got[refused]; rc {
		case "REFUSED":
			details = append(details, fmt.Sprintf("%s (not allowed) refused", refused))
		case "", "none":
			return fail(fmt.Sprintf("the resolver did not answer %s (not allowed)", refused),
				c.restart("a new warden serves the resolver"))
		default:
			return fail(fmt.Sprintf("%s (not allowed) answered %s instead of REFUSED", refused, rc),
				fmt.Sprintf("terok-task stop %s (its resolver does not enforce the policy), then terok-task start %s", c.id, c.id))
		}
	}
	return ok(strings.Join(details, "; "))
}

// allowedName picks a name the policy allows: its first domain, else a
// name under its first wildcard.
func allowedName(pol policy.Policy) string {
	for _, kind := range []config.TargetKind{config.TargetDomain, config.TargetWildcard} {
		for _, e := range pol.Allow {
			if e.Target.Kind != kind {
				continue
			}
			n := e.Target.Name
			if kind == config.TargetWildcard {
				n = "doctor-probe." + n
			}
			if pol.Allowed(n) && len(n) <= 253 {
				return n
			}
		}
	}
	return ""
}

// gateScript asks the gate for its branches twice, with git as the agent
// would: at the task's gate URL with the task's token (from the
// container's environment, so the token never leaves the task), then
// through the workspace's origin remote, which the agent pushes to. It
// prints "nogate", "noclone", "gate ERROR", "origin ERROR" or "ok".
const gateScript = `[ -n "${TEROK_GATE_URL:-}" ] || { echo nogate; exit 0; }
g="http://task:${TEROK_GATE_TOKEN:-}@${TEROK_GATE_URL#http://}"
if ! e=$(timeout 8 git ls-remote --heads "$g" 2>&1 >/dev/null); then printf 'gate %s\n' "$e"; exit 0; fi
[ -d /workspace/.git ] || { echo noclone; exit 0; }
if ! e=$(timeout 8 git -C /workspace ls-remote --heads origin 2>&1 >/dev/null); then printf 'origin %s\n' "$e"; exit 0; fi
echo ok`

// credentials are user:password@ in a URL git printed.
var credentials = regexp.MustCompile(`//[^/@\s]*@`)

// gate: git reaches the gate with the task's token, and the workspace's
// origin remote does too.
func (c *checker) gate(ctx context.Context) hostcheck.Result {
	code, out, errs, err := c.exec(ctx, "sh", "-c", gateScript)
	if err != nil || code != 0 {
		return fail(fmt.Sprintf("the probe could not run inside the task: %v %s", errOrCode(err, code), firstLine(errs)),
			c.restart("the probe runs git inside the container"))
	}
	out = strings.TrimSpace(credentials.ReplaceAllString(out, "//"))
	what, msg, _ := strings.Cut(out, " ")
	msg = strings.Join(strings.Fields(msg), " ")
	gateURL := fmt.Sprintf("http://127.0.0.1:%d/%s.git", warden.GatePort, c.rec.Project)
	switch what {
	case "ok":
		return ok("git ls-remote answers at " + gateURL + " with the task's token, and through the workspace's origin")
	case "nogate":
		return ok("the task has no gate (no TEROK_GATE_URL)")
	case "noclone":
		return warn("the gate answers, but the workspace has no clone yet", "terok-task logs "+c.id+" shows the entry point's clone")
	case "gate":
		if c.rulesErr == nil && c.rules.Posture == shield.PostureQuarantine {
			return warn("the gate is closed: the task is quarantined ("+msg+")", "terok-shield up "+c.id)
		}
		return fail("git ls-remote "+gateURL+" with the task's token failed: "+msg,
			c.restart("a new warden serves the gate with the task's token"))
	case "origin":
		return fail("the gate answers, but not through the workspace's origin remote: "+msg,
			fmt.Sprintf(`terok-task exec %s -- sh -c 'git remote set-url origin "http://task:$TEROK_GATE_TOKEN@${TEROK_GATE_URL#http://}"'`, c.id))
	}
	return fail("the probe printed "+strconv.Quote(out), c.restart("the probe runs git inside the container"))
}

// workspace: free space of /workspace's filesystem.
func (c *checker) workspace(ctx context.Context) hostcheck.Result {
	code, out, errs, err := c.exec(ctx, "df", "-Pk", task.Workspace)
	if err != nil || code != 0 {
		return fail(fmt.Sprintf("df %s inside the task: %v %s", task.Workspace, errOrCode(err, code), firstLine(errs)),
			c.restart("the workspace volume is mounted at start"))
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	f := strings.Fields(lines[len(lines)-1])
	var total, avail int64
	if len(f) >= 4 {
		total, _ = strconv.ParseInt(f[1], 10, 64)
		avail, _ = strconv.ParseInt(f[3], 10, 64)
	}
	if total <= 0 {
		return fail("df printed "+strconv.Quote(out), c.restart("the workspace volume is mounted at start"))
	}
	total, avail = total*1024, avail*1024
	pct := avail * 100 / total
	detail := fmt.Sprintf("%s free of %s (%d%%)", size(avail), size(total), pct)
	fix := "free space on the host's filesystem that holds the task's volume " + c.rec.Volume +
		": terok-task rm the tasks you are done with (terok-task ls lists them)"
	switch {
	case avail < FailFree || pct < FailPercent:
		return fail(detail+": nearly full", fix)
	case avail < WarnFree || pct < WarnPercent:
		return warn(detail+": running low", fix)
	}
	return ok(detail)
}

func size(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", b>>10)
}

// agent: a process of the task's own is alive besides its init, its entry
// point and tmux: the agent (or what it runs). Processes run by exec (this
// doctor's own probes among them) enter the container from outside, so
// their parent there is 0 and they are not the task's.
func (c *checker) agent(ctx context.Context) hostcheck.Result {
	if c.rec.Mode == task.Shell {
		return ok("a shell task runs no agent")
	}
	code, out, errs, err := c.exec(ctx, "ps", "-eo", "pid=,ppid=,stat=,args=")
	if err != nil || code != 0 {
		return fail(fmt.Sprintf("ps inside the task: %v %s", errOrCode(err, code), firstLine(errs)),
			c.restart("ps is in every terok image"))
	}
	if p, found := agentProcess(out); found {
		return ok(p)
	}
	return fail(fmt.Sprintf("no agent process runs in the %s task", c.rec.Mode),
		fmt.Sprintf("terok-task logs %s shows how it ended; terok-task restart %s runs it again", c.id, c.id))
}

// agentProcess finds, in ps's "PID PPID STAT ARGS" lines, a live process
// descending from pid 1 that is not the init, the entry point, tmux or
// the session's wrapper (which records its program's exit status), and
// says which.
func agentProcess(ps string) (string, bool) {
	type proc struct {
		pid, ppid int
		stat      string
		args      string
	}
	var procs []proc
	for _, l := range strings.Split(ps, "\n") {
		f := strings.Fields(l)
		if len(f) < 4 {
			continue
		}
		pid, err1 := strconv.Atoi(f[0])
		ppid, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			continue
		}
		procs = append(procs, proc{pid, ppid, f[2], strings.Join(f[3:], " ")})
	}
	ours := map[int]bool{1: true}
	for changed := true; changed; { // the descendants of pid 1
		changed = false
		for _, p := range procs {
			if !ours[p.pid] && ours[p.ppid] {
				ours[p.pid], changed = true, true
			}
		}
	}
	for _, p := range procs {
		argv0 := strings.Fields(p.args)[0]
		if !ours[p.pid] || strings.HasPrefix(p.stat, "Z") || argv0 == "/run/podman-init" ||
			strings.Contains(p.args, "terok-entry") || strings.Contains(p.args, "terok-session") ||
			argv0 == "tmux" || strings.HasSuffix(argv0, "/tmux") {
			continue
		}
		args := p.args
		if len(args) > 60 {
			args = args[:60] + "..."
		}
		return fmt.Sprintf("pid %d: %s", p.pid, args), true
	}
	return "", false
}

// clock: the container's clock against the host's, around one exec.
func (c *checker) clock(ctx context.Context) hostcheck.Result {
	t0 := c.opts.Now()
	code, out, errs, err := c.exec(ctx, "date", "+%s%N")
	t1 := c.opts.Now()
	if err != nil || code != 0 {
		return fail(fmt.Sprintf("date inside the task: %v %s", errOrCode(err, code), firstLine(errs)),
			c.restart("date is in every terok image"))
	}
	ns, perr := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if perr != nil {
		return fail("date printed "+strconv.Quote(out), c.restart("date is in every terok image"))
	}
	rtt := t1.Sub(t0)
	skew := time.Unix(0, ns).Sub(t0.Add(rtt / 2))
	detail := fmt.Sprintf("container - host = %s (exec round trip %s)", skew.Round(time.Millisecond), rtt.Round(time.Millisecond))
	if skew.Abs() > MaxSkew+rtt/2 {
		return warn(detail, "set the host's clock (timedatectl set-ntp true), then terok-task restart "+c.id)
	}
	return ok(detail)
}

func errOrCode(err error, code int) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("exit %d", code)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}
