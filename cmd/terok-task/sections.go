package taskcmd

import "github.com/terok-ai/terok-go/lib/cli"

var sections = []cli.Section{
	{Title: "JSON FIELDS", Body: `run --detach, followup --detach, start, restart, ls and show print one object per task:

  id  the task's id (8 characters; any unique prefix is accepted)
  name  the task's name
  project  its project
  agent  the agent it runs
  mode  headless, interactive (run -i) or shell (run --shell)
  status  created, running, exited, failed, timed-out, stopped or missing, derived from the container's live state
  exit_code  the agent's exit code once it ended (124: timed out), else null
  branch  the task's branch in the gate
  base_branch  the branch it started from
  image  the image its container runs
  container  its container's name
  created  when it was created, RFC 3339
  prompts  how many headless prompts it ran: its first and each followup
  history  (show) those prompts, oldest first, each with kind (run or followup), time (RFC 3339), text (its first 1000 bytes), truncated (true when text is cut short) and resumed (true when the agent continued its session)
  hardening  (show) the confinement in force: cap_drop, cap_add, no_new_privileges, userns, init, pids_limit, memory_bytes, cpus, devices (the CDI devices of the GPUs run.gpus asks for, like nvidia.com/gpu=all), privileged, seccomp (the syscall filter: the engine's default without user namespaces), and opt_outs, the project.toml opt-outs in force
  warden  the task's warden: pid, and alive (show; ls for running tasks, whose warden is their gate and network: a running task whose warden is not alive is cut off until terok-task start or restart, and ls's STATUS says "running, cut off")
  posture  (ls, running tasks) the shield's posture: up, down or quarantined; ls's STATUS adds "shield down" or "shield quarantined"
  shield  (show) the task's egress policy: posture (up, down or quarantined), allow and deny (targets), notes (profile sources that resolved to nothing); terok-shield rules has each rule's origin
  vault  (show) the vault: provider (the model provider the task's agent reaches through the vault's proxy, with a phantom token; absent when it uses none), tokens (its live phantom tokens, masked; none once it stopped), requests (how many requests the proxy served it, from the vault's audit log), denied (the providers whose real API and auth hosts the task's shield denies, so that a smuggled real key is useless) and lifted (those its project lets it reach directly: project.toml [vault] direct)

run and followup (without --detach), logs --json, wait and stop print events; run -i and login print the exit event with --json, when the session ends:

  type  log, exit or stopped
  id  the task
  stream  (log) stdout or stderr
  line  (log) one line of the agent's output
  status  (exit, stopped) the task's status
  exit_code  (exit) the agent's exit code

run --web and web print one object when they start serving (with --detach, when the task's warden does):

  type  web
  id  the task
  url  the address to open, with its one-time token
  view_only  true when the browser's keystrokes are dropped (--view-only)

diff prints one object per changed file, then one per unpushed commit, each with type (file or commit) and id (the task):

  path  (file) the file, relative to the workspace
  status  (file) its net change from the gate's copy to the working tree: added, modified, deleted, type-changed, or unchanged (changed and changed back)
  additions, deletions  (file) lines added and removed by that change (0 for binary files)
  binary  (file) true for a binary file
  staged  (file) it has changes in the index
  unstaged  (file) it has changes in the working tree that the index lacks
  untracked  (file) git does not track it
  commits  (file) the unpushed commits that change it, oldest first
  commit  (commit) the commit's id
  parents  (commit) its parents' ids
  author, author_email  (commit) its author
  time  (commit) its author time, RFC 3339
  subject  (commit) the first line of its message
  files  (commit) the files it changes

rm prints one object per removed task:

  removed  true
  archive  the directory keeping its record and output

schedule add (without --cron), schedule ls and schedule show print one object per schedule:

  name  the schedule's name
  project  the project it runs on
  agent  the agent (empty: the project's first, when it runs)
  model  the model, when given
  timeout  the agent's timeout, when given (else run.timeout)
  on_calendar  when it runs: the systemd OnCalendar expression
  next  its next run by the calendar, in local time, RFC 3339 (null: never again)
  keep  how many runs' tasks it keeps (0: all)
  notify  true when a run's end shows a desktop notification
  prompt  (show) the prompt
  command  the command line its service and crontab line run
  cron  (show) the equivalent crontab line, when cron can express the calendar
  units  (add, show) its systemd service and timer files
  timer  (add, show) what became of its timer: enabled, active, inactive, or why it is not active
  env  (show) the environment its runs get (NAME=value)
  created  when it was added, RFC 3339
  tasks  (show) the tasks of its runs that are kept, oldest first
  last_run  its latest run (null: never ran): task (its task's id; empty when it failed before a task was made), started and ended (RFC 3339), exit_code (absent while it runs) and error (terok's own error, when the run failed around the agent)

schedule run prints, when the run ends, one object of type exit with schedule (its name), id (the task), exit_code, started, ended and removed (the older tasks --keep removed). schedule rm prints one object per schedule with name, removed (true) and units (true when it had units to remove).`},
	{Title: "INTERACTIVE TASKS", Body: `run -i (the agent's interactive command) and run --shell (a login shell, bash -l) keep the task's program in a tmux session named terok inside the container, and attach this terminal to it. tmux's own keys drive it: C-b d detaches, which leaves the task running and prints the 'terok-task login ID' that attaches again. The task ends when the session's program exits, with its exit code, as wait and ls then report; its commits are pushed to its branch in the gate, as a headless agent's are. A login takes the session over: another terminal still attached to it is detached.

-i and --shell need a terminal on stdin and stdout; without one they refuse (exit 2) unless --detach is given, which starts the session, prints the task as one JSON line, and leaves the attaching to a later login. login refuses a headless task (it has no session) and a task that is not running (start it again first).`},
	{Title: "WEB MODE", Body: `run --web starts the task as run -i does (the agent in its tmux session in the hardened container) and serves that session to a browser; web TASK serves a running interactive or shell task's session again. Each prints one JSON line with the URL and serves until the task ends (then it exits as run -i does when the session ends) or it is interrupted (exit 130; the task runs on). --open hands the URL to xdg-open where there is one; nothing is opened otherwise.

The page is a terminal (xterm.js and its fit addon, embedded in terok, pinned, with their licences; the page loads nothing from anywhere else) that follows the window's size, copies the selection with ctrl+shift+c, pastes with ctrl+shift+v or the browser's paste, reconnects after a dropped connection, and has a header naming the task, project, agent, branch and the shield's posture. Each tab gets its own tmux client of the session, through an exec in the task's container, the path login takes: several tabs may watch one task, and a tab does not take the session over as login does. --view-only serves a read-only view: the browser's keystrokes are dropped, and its tmux client is read-only.

Access: the server listens on 127.0.0.1 on a random port, or on --listen ADDR (anything but loopback with a warning: the connection is not encrypted). The URL's token works once: the first load exchanges it for an HttpOnly, SameSite=Strict cookie and drops it from the address bar; another browser needs another 'terok-task web'. Every path wants the cookie, the WebSocket also the server's own Origin; a loopback server answers no other Host; each wrong or spent token is answered more slowly; the answers carry a strict Content-Security-Policy; nothing but the page, its scripts and the WebSocket is served. When the task stops or is removed, its pages are told the session is over.

With --detach (run --web --detach, web TASK --detach) the task's warden serves the session instead, and the command prints the URL and returns at once: the URL works as long as the task runs, and stopping or removing the task tells its pages the serving is over. Each call makes another server with a token of its own. The warden's server listens on the host (never in the task's network namespace) and reaches the session through the same engine socket the command used.`},
	{Title: "EXIT STATUS", Body: `run, schedule run, followup (without --detach) and wait exit with the agent's own exit code; 124 when it ran past its timeout. run -i, run --shell and login exit 0 when the person detaches, and with the program's exit code when the session ends. exec exits with its command's exit code (126: it could not run, 127: no such command). Otherwise as every terok command: 0, 1 (also: login to a task that is not running or runs headless), 2 usage (also: -i, --shell or login without a terminal; followup on a running task; run of an agent that cannot run behind the vault, terok-image agents says which, in a project that does not list it in project.toml [vault] unvaulted), 3 not set up (for run and restart --recreate: the project's image is not built; for run, start, restart and followup of a task whose agent reaches its provider through the vault: the vault is locked and no terminal can ask for its passphrase, or it holds no credential for the provider — nothing is made or changed then), 4 not found (also: schedule show, run and rm of a schedule that does not exist), 75 schedule run of a schedule that is already running (EX_TEMPFAIL: the run is skipped, and no task is made).`},
	{Title: "SCHEDULES", Body: `schedule add NAME PROJECT PROMPT --on-calendar SPEC runs PROMPT headless on PROJECT whenever SPEC says: a systemd OnCalendar expression (systemd.time(7)), parsed by terok itself: the shorthands minutely, hourly, daily, weekly, monthly, quarterly, semiannually, yearly and annually, and [DOW] [[Y-]M-D] [H:M[:S]] with *, lists (a,b), ranges (a..b; Mon-Fri too) and repetitions (a/step, a..b/step), in local time. Time zones, ~ and fractional seconds are refused. Everything is checked before anything is written (the name, the calendar, the project, the agent, the timeout); bad input is one line and a non-zero exit, and leaves nothing behind.

add writes the definition (CONFIG/schedules/NAME.toml) and two systemd units generated from it: terok-schedule-NAME.service (Type=oneshot; ExecStart= this terok-task's absolute path with schedule run NAME; Environment= HOME and the TEROK_*_DIR and XDG_*_HOME roots that were set; no standard input) and terok-schedule-NAME.timer (OnCalendar=SPEC, Persistent=true: a run missed while the machine was off happens when it is next up). As root they go to /etc/systemd/system, for a user to ~/.config/systemd/user ($XDG_CONFIG_HOME/systemd/user), or to TEROK_UNIT_DIR when it is set. When systemd runs, add reloads it and enables and starts the timer (systemctl [--user] enable --now; a user's timers run while the user is logged in, or always after loginctl enable-linger); when it does not, add says so in one line, leaves the units written, and prints the crontab line that would run it instead. add --cron writes the definition and prints only that crontab line (for crontab -e), or refuses, saying why, when cron cannot say the same (seconds other than :00, years, both a day of the month and a day of the week: cron fires when either matches).

schedule run NAME is what the service and the crontab line run, and runs a schedule now. It takes the schedule's lock (a flock on STATE/schedules/NAME.lock) and refuses, exit 75 and one line naming the running run's pid, when another run of the schedule holds it; it never waits. It runs the task as run does, headless, with nothing to prompt on (a locked vault: exit 3 with its one line), streams the agent's output to stderr (the journal, or cron's mail), and exits with the agent's exit code, the service's result. Each run is recorded in STATE/schedules/NAME.json (its task, times, exit code), which ls and show report. Then --keep N removes the tasks of older runs beyond the last N (as terok-task rm does, archived; never a running one), and --notify shows a desktop notification (org.freedesktop.Notifications) when a session bus is there (DBUS_SESSION_BUS_ADDRESS, or the bus socket in the user's runtime directory), and does nothing without one.

Under cron's environment (no terminal, no session bus, no XDG_RUNTIME_DIR, PATH=/usr/bin:/bin) schedule run works: it appends the standard system directories to PATH (the Podman service terok starts needs iptables and nft), uses /run/user/UID as a user's runtime directory when it is the user's own, and without a Podman socket that answers starts terok's own Podman service (set podman.socket in config.toml to use another one). schedule rm disables and removes the units and the definition; the schedule's tasks stay.

A nightly run of the demo project's tests, keeping the last 7 runs' tasks:

  terok-task schedule add nightly demo 'make test' --agent command --on-calendar '*-*-* 02:30' --keep 7
  terok-task schedule ls
  terok-task schedule run nightly
  journalctl -u terok-schedule-nightly (a user's: journalctl --user -u ...)
  terok-task schedule show nightly
  terok-task schedule rm nightly`},
	{Title: "RESTART, FOLLOWUP, DIFF AND EXEC", Body: `restart stops a running task (SIGTERM, SIGKILL after --time) and starts its container again, with a new warden; the container runs its command again, so a headless task runs its last prompt again, on the workspace as the agent left it. restart --recreate first replaces the container by a new one of the project's current image (build it with terok-image build), with the same command, workspace volume, branch, gate token, settings and hardening.

followup runs a new headless prompt on the workspace of a task that is not running. Podman cannot change a container's command, so the container is replaced by one that runs the agent with the new prompt: of the task's image (the project's current one when that is gone), with everything else the task's. The entry point finds the workspace's clone and does not clone again, and pushes the task's branch to the gate when the agent ends, as after the first prompt. Agents whose roster entry has headless.resume continue their last session (Claude Code: --continue, Codex: exec resume --last); the others start a new one. The output streams and the exit code is the agent's, as for run.

A replaced container's agent home (/home/agent, where agents keep their sessions) is copied into the new one, and its output is kept as STATE/tasks/logs/ID.output-N.log (logs shows the current container's; rm archives them all).

diff shows what the workspace has that the gate lacks: the uncommitted changes (staged, unstaged and untracked files, as git status sees them) and the commits on HEAD that are not on the gate's copy of the task's branch (of its base branch while the task's branch was never pushed). It is computed with git inside a container, never by reading the workspace from the host: by an exec in the task's container when it runs, else in a short-lived container of the task's image on the task's workspace, with no network and the task's hardening, removed afterwards. diff --patch prints the net change from the gate's copy to the working tree, untracked files included (control characters made visible on a terminal).

exec runs a command inside a running task, as the agent's user (uid 1000) in /workspace, under the task's confinement; its output streams as it comes, stdout and stderr apart (mixed on stdout with --tty). Put the command after --.`},
	{Title: "THE VAULT", Body: `A task whose agent has a vault provider in its roster entry (terok-image agents: Claude Code and OpenCode anthropic, Codex openai, Vibe mistral) never sees the real credential. run opens the vault first (terok-vault(1): the kernel keyring, vault.passphrase_command, or a prompt on a terminal) and checks that it holds a credential for the provider (terok-vault set PROVIDER), before anything of the task is made. The container gets a phantom token in the agent's token variable (ANTHROPIC_API_KEY; for an OAuth credential Claude Code's CLAUDE_CODE_OAUTH_TOKEN) and the agent's base URL variable pointing at the vault's proxy, which the task's warden serves on the task's own 127.0.0.1:9419: the proxy puts the real credential in the request on the host and sends it to the provider's upstream alone. The command that starts the task hands the vault's key to the warden over a pipe.

A phantom token belongs to one container: it is revoked when the task stops (its warden revokes it as it ends; stop and rm revoke it too), when it is quarantined (terok-shield quarantine, terok panic) and by terok-vault revoke, and it never works again. start, restart and followup of such a task therefore replace its container, as restart --recreate does (the workspace, the agent's home and the command carry over), with a fresh token. A shell task (run --shell) runs no agent and uses no vault.

Every task's shield denies the providers' real API and auth hosts (deny beats allow), so that a real key smuggled into a task is useless; a project lifts that per provider with project.toml [vault] direct = ["PROVIDER"]. show says which providers are denied and lifted, and the task's vault use. An agent that cannot be pointed at the vault (Copilot) runs only in a project that lists it in project.toml [vault] unvaulted, with its own login and direct egress.`},
	{Title: "EXAMPLES", Body: `Run a command on the demo project, headless, and see what it pushed:

  terok-task run demo --agent command 'echo hi > hello.txt && git add . && git commit -qm hello'
  terok-gate diff demo/task/ID

Work in a shell in the task's container, leave it with C-b d, and come back:

  terok-task run --shell demo
  terok-task login ID

Ask for more on the same workspace, and see what is not pushed yet:

  terok-task followup ID 'echo more >> hello.txt && git commit -qam more'
  terok-task diff ID
  terok-task exec ID -- git log --oneline -3

Remove every finished task:

  terok-task ls --status exited | terok-task rm --yes -`},
}
