// Command terok-shield is each task's egress firewall: a default-deny
// nftables ruleset in the task's own network namespace, installed by an
// OCI hook before the task's first process runs, kept open by the task's
// warden, and verifiable at any time.
//
// Synopsis:
//
//	terok-shield hook                      (run by the OCI runtime; the container's state on stdin)
//	terok-shield verify TASK... | -
//	terok-shield verify --pid PID
//	terok-shield install-hook [--dir DIR] [--binary PATH]
//	terok-shield allow|deny TASK TARGET...
//	terok-shield down TASK [--for D] | up TASK | quarantine TASK
//	terok-shield rules TASK
//	terok-shield status [TASK...]
//	terok-shield profiles
//	terok-shield logs [TASK] [-n N]
//	terok-shield watch [TASK]
//
// This package holds the grammar and the output; lib/shield does the work.
package shieldcmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/task"
)

// Command is terok-shield's entry in the command table.
var Command = cli.Command{
	Name:    "terok-shield",
	Summary: "each task's default-deny egress firewall: the OCI hook that installs it, and its verification",
	Detail: "Every task runs behind a default-deny nftables ruleset in its own network namespace. An OCI hook, " +
		"fired by the terok.shield annotation on every start of a task's container, installs it before the " +
		"container's first process runs; if it cannot, the container does not start. Nothing but the task's own " +
		"loopback is reachable until the task's warden runs: the warden's heartbeat keeps the allowed traffic " +
		"open, and when the warden dies the task loses the network within seconds. Blocked attempts fail at once " +
		"(TCP reset, ICMP administratively prohibited) and are logged to NFLOG.",
	Grammar:  func() any { return &Grammar{} },
	Sections: sections,
}

// Grammar is terok-shield's command line.
type Grammar struct {
	cli.Globals
	Hook        HookCmd        `cmd:"" help:"Install the default-deny ruleset in a starting container (run by the OCI runtime)."`
	Verify      VerifyCmd      `cmd:"" help:"Check that a task's ruleset is in force and unaltered."`
	InstallHook InstallHookCmd `cmd:"" name:"install-hook" help:"Register the OCI hook with Podman (terok's setup runs it)."`
	Allow       AllowCmd       `cmd:"" help:"Allow a running task to reach more targets, at once."`
	Deny        DenyCmd        `cmd:"" help:"Deny targets to a running task, at once (deny beats allow)."`
	Down        DownCmd        `cmd:"" help:"Lower a task's shield for a while: all but private, link-local, metadata and host addresses; logged."`
	Up          UpCmd          `cmd:"" help:"Raise a task's shield again (after down or quarantine)."`
	Quarantine  QuarantineCmd  `cmd:"" help:"Cut a task off: nothing in or out, not even DNS, and its gate closed (terok panic does this to every task)."`
	Rules       RulesCmd       `cmd:"" help:"Print a task's effective egress policy, one rule per line."`
	Status      StatusCmd      `cmd:"" help:"Print the shield's state of tasks."`
	Profiles    ProfilesCmd    `cmd:"" help:"List the egress profiles, built-in and the user's, with what they allow on this host."`
	Logs        LogsCmd        `cmd:"" help:"Print tasks' shield audit logs: blocked attempts, refused names, rule changes."`
	Watch       WatchCmd       `cmd:"" help:"Follow tasks' shield audit logs as they are written."`
}

// HookCmd is `terok-shield hook`.
type HookCmd struct{}

func (HookCmd) Run(env *cli.Env) error {
	if _, err := shield.Hook(env.Stdin); err != nil {
		if ie := (*shield.HookInputError)(nil); errors.As(err, &ie) {
			return cli.Usagef("%v", err)
		}
		return cli.Failf("%v", err)
	}
	return nil
}

// VerifyCmd is `terok-shield verify`.
type VerifyCmd struct {
	Task []string `arg:"" optional:"" help:"Tasks (ids or unique prefixes), or - to read them from stdin." completion:"task"`
	Pid  int      `help:"Verify the network namespace of this process instead of a task's." placeholder:"PID"`
}

// Validate checks --pid's range in the grammar.
func (c *VerifyCmd) Validate() error {
	if c.Pid < 0 {
		return errors.New("--pid: not a process id")
	}
	return nil
}

// Verdict is the JSON line of verify, one per task.
type Verdict struct {
	Task   string `json:"task,omitempty"`
	Pid    int    `json:"pid,omitempty"`
	OK     bool   `json:"ok"`
	Alive  bool   `json:"alive"`
	Reason string `json:"reason,omitempty"`
}

func (c *VerifyCmd) Run(env *cli.Env) error {
	if c.Pid != 0 {
		if len(c.Task) > 0 {
			return cli.Usagef("give tasks or --pid, not both")
		}
		return report(env, []Verdict{verifyPid(c.Pid)})
	}
	refs, _, err := env.Targets(c.Task)
	if err != nil {
		return err
	}
	if len(refs) == 0 {
		return cli.Usagef("missing TASK").WithHint("'terok-task ls' lists tasks")
	}
	for _, r := range refs {
		if err := task.ValidPrefix(r); err != nil {
			return cli.Usagef("%v", err)
		}
	}
	s, run, err := open(env)
	if err != nil {
		return err
	}
	defer s.Close()
	var recs []task.Record
	for _, r := range refs {
		id, err := s.ResolveTask(r)
		if err != nil {
			return err
		}
		rec, err := run.Store().Load(id)
		if err != nil {
			return err
		}
		recs = append(recs, rec)
	}
	e, err := s.Engine(env.Ctx)
	if err != nil {
		return err
	}
	var out []Verdict
	for _, rec := range recs {
		v := Verdict{Task: rec.ID}
		st, err := e.InspectContainer(env.Ctx, rec.Container)
		switch {
		case errors.Is(err, engine.ErrNoSuchContainer):
			v.Reason = "the task's container is gone"
		case err != nil:
			return err
		case !st.Running || st.Pid <= 0:
			v.Reason = "the task is not running"
		default:
			v = verifyPid(st.Pid)
			v.Task = rec.ID
		}
		out = append(out, v)
	}
	return report(env, out)
}

// verifyPid verifies the namespace of pid. Not as root, the namespace
// belongs to Podman's rootless user namespace, which only a process inside
// it may enter: this binary then runs itself under podman unshare (where
// its uid is 0).
func verifyPid(pid int) Verdict {
	v := Verdict{Pid: pid}
	if os.Getuid() != 0 { // under podman unshare the uid is 0
		return verifyInUserNS(pid)
	}
	c, err := shield.Open(pid)
	if err != nil {
		v.Reason = err.Error()
		return v
	}
	defer c.Close()
	st, err := c.Verify()
	if err != nil {
		v.Reason = err.Error()
		return v
	}
	v.OK, v.Alive = true, st.Alive
	return v
}

func verifyInUserNS(pid int) Verdict {
	v := Verdict{Pid: pid}
	exe, err := os.Executable()
	if err != nil {
		v.Reason = err.Error()
		return v
	}
	// The binary dispatches on its name: terok-shield VERB, or terok shield VERB.
	args := []string{"unshare", exe, "shield", "verify", "--json", "--pid", strconv.Itoa(pid)}
	if filepath.Base(exe) == Command.Name {
		args = append(args[:2], args[3:]...)
	}
	cmd := exec.Command("podman", args...)
	// podman unshare is local only: a CONTAINER_HOST (or connection) in
	// the environment would make podman a remote client, which refuses it.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "CONTAINER_HOST" && k != "CONTAINER_CONNECTION" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.Output()
	line, _, _ := strings.Cut(string(out), "\n")
	var got Verdict
	if jerr := json.Unmarshal([]byte(line), &got); jerr != nil || got.Pid != pid {
		v.Reason = fmt.Sprintf("verifying in the rootless user namespace (podman unshare): %v", err)
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			first, _, _ := strings.Cut(strings.TrimSpace(string(ee.Stderr)), "\n")
			v.Reason += ": " + first
		}
		return v
	}
	return got
}

// report prints the verdicts and fails when one is not ok, with its
// reason on stderr.
func report(env *cli.Env, out []Verdict) error {
	if err := cli.List(env, out, []cli.Column[Verdict]{
		{Header: "TASK", Value: func(v Verdict) string { return v.Task }},
		{Header: "PID", Value: func(v Verdict) string { return strconv.Itoa(v.Pid) }},
		{Header: "OK", Value: func(v Verdict) string { return yesNo(v.OK) }},
		{Header: "ALIVE", Value: func(v Verdict) string { return yesNo(v.Alive) }},
		{Header: "REASON", Value: func(v Verdict) string { return v.Reason }},
	}); err != nil {
		return err
	}
	var failed []Verdict
	for _, v := range out {
		if !v.OK {
			failed = append(failed, v)
		}
	}
	switch {
	case len(failed) == 1 && failed[0].Task != "":
		return cli.Failf("task %s: %s", failed[0].Task, failed[0].Reason)
	case len(failed) == 1:
		return cli.Failf("process %d: %s", failed[0].Pid, failed[0].Reason)
	case len(failed) > 1:
		return cli.Failf("%d of %d tasks failed verification", len(failed), len(out))
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// InstallHookCmd is `terok-shield install-hook`.
type InstallHookCmd struct {
	Dir    string `help:"The hooks directory (default: the first Podman reads; not as root, ~/.config/containers/oci/hooks.d)." placeholder:"DIR" type:"path"`
	Binary string `help:"The binary the hook runs, an absolute path (default: terok-shield-hook beside this terok binary, else this one)." placeholder:"PATH" type:"path"`
}

func (c *InstallHookCmd) Run(env *cli.Env) error {
	bin := c.Binary
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return cli.Failf("cannot find this binary: %v", err)
		}
		bin = shield.HookBinary(exe)
	}
	dirs := shield.PodmanHooksDirs()
	dir := c.Dir
	if dir == "" {
		dir = shield.DefaultHookDir(os.Getuid(), env.Getenv, dirs)
	}
	out, err := shield.InstallHook(dir, bin, dirs)
	if err != nil {
		return cli.Failf("%v", err)
	}
	if err := cli.Object(env, out, []cli.Field{
		{Name: "hook", Value: out.Hook}, {Name: "binary", Value: out.Binary},
		{Name: "registered", Value: yesNo(out.Registered)}, {Name: "changed", Value: yesNo(out.Changed)},
	}); err != nil {
		return err
	}
	if !out.Registered {
		env.Warnf("Podman does not read %s, so the hook will not run; add it to hooks_dir in the [engine] table of containers.conf (Podman reads %s)", dir, strings.Join(dirs, ", "))
	}
	return nil
}
