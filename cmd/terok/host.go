package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"text/tabwriter"

	"github.com/alecthomas/kong"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/hostsetup"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Host is the bare binary's own grammar: host-level verbs that belong to no
// single command.
var Host = cli.Command{
	Name:    "terok",
	Summary: "run AI coding agents unattended in hardened rootless Podman containers",
	Detail: "terok runs AI coding agents in YOLO mode inside hardened rootless Podman containers. " +
		"It is one binary: each command is callable as terok-<command> through a link " +
		"(see install-links) or as terok <command>.",
	Grammar:  func() any { return &HostGrammar{} },
	Sections: hostSections,
}

// HostGrammar is the command line of the bare binary.
type HostGrammar struct {
	cli.Globals
	Help         HelpCmd         `cmd:"" default:"1" hidden:"" help:"Print the command list."`
	Version      VersionCmd      `cmd:"" help:"Print terok's version."`
	InstallLinks InstallLinksCmd `cmd:"" name:"install-links" help:"Create the terok-<command> links in a directory."`
	Setup        SetupCmd        `cmd:"" help:"Set up the host (or your account) for terok, again safely: the terok-<command> links, the shield's OCI hook, terok's directories, the man pages and completions, the clearance's desktop notifier at login; then the doctor's checks."`
	Uninstall    UninstallCmd    `cmd:"" help:"Undo terok setup: the links to this binary, the shield's registration of it, terok's man pages and completions, the notifier's login files; --purge also removes every task and terok's directories."`
	Panic        PanicCmd        `cmd:"" help:"The kill switch: revoke every task's vault tokens and cut every running task off at once (quarantine; stop a task whose warden does not answer)."`
	Doctor       DoctorCmd       `cmd:"" help:"Check the host: Podman, runtime, cgroups, user namespaces, nft, the shield's hook, git, gum, D-Bus; or with TASK a running task's health."`
}

// HelpCmd prints the command list (the bare binary's default).
type HelpCmd struct{}

func (HelpCmd) Run(env *cli.Env, k *kong.Kong) error {
	w := tabwriter.NewWriter(env.Stdout, 0, 0, 3, ' ', 0)
	fmt.Fprintf(w, "terok: %s\n\nCommands (terok-NAME or terok NAME):\n", Host.Summary)
	for _, c := range Commands {
		fmt.Fprintf(w, "  %s\t%s\n", c.Name, c.Summary)
	}
	fmt.Fprintf(w, "\nHost verbs:\n")
	for _, n := range k.Model.Children {
		if !n.Hidden {
			fmt.Fprintf(w, "  terok %s\t%s\n", n.Name, n.Help)
		}
	}
	fmt.Fprintf(w, "\nRun 'terok-NAME --help' for a command's usage; man terok-NAME for its manual.\n")
	return w.Flush()
}

// VersionCmd prints the version.
type VersionCmd struct{}

// VersionInfo is the JSON line of `terok version`.
type VersionInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Go      string `json:"go"`
	OSArch  string `json:"os_arch"`
}

func (VersionCmd) Run(env *cli.Env) error {
	v := VersionInfo{Version: version, Go: runtime.Version(), OSArch: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v.Commit = s.Value
			}
		}
	}
	return cli.Object(env, v, []cli.Field{
		{Name: "version", Value: v.Version}, {Name: "commit", Value: v.Commit},
		{Name: "go", Value: v.Go}, {Name: "os/arch", Value: v.OSArch},
	})
}

// InstallLinksCmd creates the links.
type InstallLinksCmd struct {
	Dir    string `arg:"" help:"Directory to create the links in." type:"path"`
	Target string `help:"What the links point to (default: this binary's path)." placeholder:"PATH" completion:"file"`
}

// Link is the JSON line printed per link.
type Link struct {
	Link   string `json:"link"`
	Target string `json:"target"`
}

func (c *InstallLinksCmd) Run(env *cli.Env) error {
	target := c.Target
	if target == "" {
		exe, err := os.Executable()
		if err != nil {
			return cli.Failf("cannot find this binary: %v", err)
		}
		target = exe
	}
	st, err := os.Stat(c.Dir)
	if err != nil || !st.IsDir() {
		return cli.Usagef("%s is not a directory", c.Dir)
	}
	names := linkNames()
	if _, err := hostsetup.CheckLinks(c.Dir, target, names).Apply(env.Ctx, env.Warnf); err != nil {
		return err
	}
	out := make([]Link, 0, len(names))
	for _, n := range names {
		out = append(out, Link{Link: filepath.Join(c.Dir, n), Target: target})
	}
	return cli.List(env, out, []cli.Column[Link]{
		{Header: "LINK", Value: func(l Link) string { return l.Link }},
		{Header: "TARGET", Value: func(l Link) string { return l.Target }},
	})
}

var hostSections = []cli.Section{
	{Title: "JSON FIELDS", Body: `terok doctor prints one object per check, in this order: config (only when config.toml cannot be read), podman, container (a plain container runs), task (a container made the way tasks are — init, user namespace, no capabilities, seccomp, the shield's annotation and a workspace volume — runs, reports the confinement it sees, and the shield's ruleset is verified in force in it), binaries (every program and file Podman runs or reads for a task — runtime, conmon, init, seccomp profile, network, rootless helpers — is installed; needs no engine), cgroups, ulimits, userns, nft, shield (the OCI hook is registered and its binary there), git, gum, dbus, notifier (the clearance's desktop notifier runs in this session; ok without a session bus or a notification server), vault (created, its files private to you, unlocked or opened by passphrase_command; a vault not created is ok unless a configured agent needs one; no passphrase is ever asked, and the credentials are counted only while unlocked), gpu (the CDI specs in /etc/cdi and /var/run/cdi provide every GPU a project's run.gpus asks for, and the device nodes they name exist; ok when no project asks). --only runs the checks named.

  check  the check's name
  status  ok, warn or fail
  detail  what was found
  fix  what to do about it, when status is not ok

terok doctor TASK checks that running task instead of the host, in the same shape, in this order (--only runs the ones named): warden (the warden's process in the task's record is alive and its control socket answers; fix: terok-task restart, as a warden cannot be started alone), shield (terok-shield verify: the ruleset in the container's network namespace is in force and unaltered; fix: stop the task at once, its egress may be unfiltered, then start it, which installs the ruleset again), dns (inside the task, the warden's resolver answers a name the task's policy allows — NOERROR or NXDOMAIN, anything but a refusal; SERVFAIL, upstream servers not answering, is a warning — and refuses doctor-probe.terok.invalid, a name outside it, which therefore shows in the task's blocked log; a quarantined task is a warning, fixed by terok-shield up), gate (inside the task, git ls-remote reaches the gate at the task's gate URL with the task's token, then through the workspace's origin remote, which the agent pushes to; each failure names its own fix), workspace (free space of /workspace: a warning under 1 GiB or 10%, a failure under 100 MiB or 2%), agent (a process of the task's own besides its init, entry point and tmux is alive: the agent; a shell task has none and is ok), clock (the container's clock against the host's around one exec: a warning beyond 3 s). The checks inside the task run as the agent's user, like terok-task exec; the checks run concurrently, each bounded by a timeout (15 s), so a wedged warden or container fails a check and never hangs the doctor. A task that is not running fails every check with the fix terok-task start; a task that does not exist exits 4.

terok setup prints one object per step, in the same shape, then the doctor's checks (unless --no-check): rootless (for a user only: the account can run rootless Podman — subids, runtime-dir, storage, tun, idmap), links (the terok-<command> links), hook (the shield's OCI hook registration), dirs (terok's configuration, state and data directories), man (the man pages), completions (bash, zsh and fish) and, for a user, notifier (the clearance's desktop notifier at login: in a desktop session, a systemd user unit, terok-clearance-notify.service enabled for default.target, where systemd runs the session, else an XDG autostart entry, ~/.config/autostart/terok-clearance-notify.desktop; without a desktop session it changes nothing and its detail starts with "left out:"; a file there that terok did not write stays, as a warning; --no-notifier leaves the step out). A step's detail starts with "set up:" when it changed something and "already in place:" when it did not. When a rootless piece fails, setup changes nothing, prints one object per piece (check subids, runtime-dir, storage, tun or idmap, each failed one with its fix) and exits 3.

Where the man pages and completions go: as root, /usr/local/share/man, /usr/local/share/bash-completion/completions, /usr/local/share/zsh/site-functions and /etc/fish/completions; for a user, ~/.local/share/man (man finds it when ~/.local/bin is on PATH) and, under $XDG_DATA_HOME (~/.local/share), bash-completion/completions, zsh/site-functions (zsh reads it once ~/.zshenv has the fpath line setup prints) and fish/vendor_completions.d; with --bin-dir DIR, make install's layout under DIR's parent (PREFIX/share/...), the same places for /usr/local/bin and ~/.local/bin. A file there that terok did not generate is never replaced: setup refuses.

With --dry-run, setup and uninstall print one object per change they would make, and change nothing:

  step  the step that makes it
  op  make-dir, make-link, write-hook, write-file, write-text, remove-link, remove-hook, remove-file, remove-task, stop-service or remove-tree
  path  what it changes
  target  a link's target, the binary a hook registration runs, or the file of terok's a written file comes from (man/terok.1)

terok uninstall prints one object per step, in the same shape: links, hook, man and completions (the files of terok's where setup puts them; the directories stay), for a user notifier (terok's unit, its link and autostart entry), and with --purge tasks, dirs and images (left in place: they may be shared with other users of the engine). A step's detail starts with "removed:" or "nothing to remove:". It checks before it removes anything: with --purge it refuses while a task runs, and asks (or needs --yes). It exits 1 when it left another terok binary's hook registration in place (a warning).

terok panic prints one object per task that was running:

  task  the task's id
  project  its project
  action  quarantined (its warden closed the network, DNS and the gate until terok-shield up; the agent goes on running), stopped (its container was stopped: a task without a warden, or a quarantined one with --stop), killed (its warden did not answer within 500 ms and was killed, which closes the gate at once and the network within 3 s; its container is stopped too) or failed
  detail  why a task was killed, or could not be cut off or stopped

terok panic first revokes every task's vault tokens (the phantom tokens its agents hold: needing neither the vault's key nor Podman), then cuts the tasks off without Podman (through each task's warden), then asks Podman, for at most --engine-timeout, to stop the containers it should; when Podman does not answer it warns, and exits 1 only with --stop. A revocation that fails is a warning at once and exit 1 at the end, after the cut-off.

terok version prints one object:

  version  terok's version
  commit  the source revision, when known
  go  the Go version it was built with
  os_arch  the platform, e.g. linux/amd64

terok install-links prints one object per link:

  link  the link's path
  target  what it points to`},
	{Title: "EXIT STATUS", Body: `Every terok command exits with:

  0  success
  1  failure
  2  usage error: a bad flag, argument or input
  3  the host is not set up (the message says what fixes it)
  4  a named thing was not found
  124  a headless agent ran past its timeout
  130  interrupted (Ctrl-C); 143 when ended by SIGTERM

terok doctor and terok setup exit 0 when every check passed, 1 when the worst was a warning, 2 when one failed. terok setup checks everything it will change before it changes anything: when it refuses (a file that is not a link where a link goes, a directory it cannot write) it exits 1 and has changed nothing.`},
	{Title: "OUTPUT", Body: `Commands that list or report print one JSON object per line when stdout is not a terminal, or with --json; on a terminal they print an aligned table. Field names are snake_case and stable. An empty list prints nothing and exits 0.

Errors go to stderr as "terok-NAME: message", with a "hint:" line where a fix is known; with --json, a JSON object {"type":"error","error":...,"code":...,"hint":...} follows on stderr.

Commands that act on things accept - in place of their targets and then read targets from stdin, one per line: a bare name or id, or a JSON object whose id, name or project field is used.

Prompts use gum, and only when stdin and stdout are terminals; without a terminal nothing waits for input, and a missing value is a usage error naming the flag. --yes answers confirmations.`},
	{Title: "ENVIRONMENT", Body: `  TEROK_CONFIG_DIR  configuration root (default $XDG_CONFIG_HOME/terok; root: /etc/terok)
  TEROK_STATE_DIR  state root (default $XDG_STATE_HOME/terok; root: /var/lib/terok/state)
  TEROK_DATA_DIR  data root (default $XDG_DATA_HOME/terok; root: /var/lib/terok/data)
  TEROK_RUNTIME_DIR  runtime root (default $XDG_RUNTIME_DIR/terok; root: /run/terok)
  CONTAINER_HOST  the Podman API service to use, as unix:///path (one that does not answer is an error, exit 3)
  EDITOR, VISUAL  the editor of terok-project edit
  TEROK_FORCE_TTY  1: print tables as on a terminal (never prompts)
  TEROK_NO_GUM  1: plain prompts even when gum is installed`},
}
