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
  archive  the directory keeping its record and output`},
	{Title: "INTERACTIVE TASKS", Body: `run -i (the agent's interactive command) and run --shell (a login shell, bash -l) keep the task's program in a tmux session named terok inside the container, and attach this terminal to it. tmux's own keys drive it: C-b d detaches, which leaves the task running and prints the 'terok-task login ID' that attaches again. The task ends when the session's program exits, with its exit code, as wait and ls then report; its commits are pushed to its branch in the gate, as a headless agent's are. A login takes the session over: another terminal still attached to it is detached.

-i and --shell need a terminal on stdin and stdout; without one they refuse (exit 2) unless --detach is given, which starts the session, prints the task as one JSON line, and leaves the attaching to a later login. login refuses a headless task (it has no session) and a task that is not running (start it again first).`},
	{Title: "EXIT STATUS", Body: `run and followup (without --detach) and wait exit with the agent's own exit code; 124 when it ran past its timeout. run -i, run --shell and login exit 0 when the person detaches, and with the program's exit code when the session ends. exec exits with its command's exit code (126: it could not run, 127: no such command). Otherwise as every terok command: 0, 1 (also: login to a task that is not running or runs headless), 2 usage (also: -i, --shell or login without a terminal; followup on a running task; run of an agent that cannot run behind the vault, terok-image agents says which, in a project that does not list it in project.toml [vault] unvaulted), 3 not set up (for run and restart --recreate: the project's image is not built; for run, start, restart and followup of a task whose agent reaches its provider through the vault: the vault is locked and no terminal can ask for its passphrase, or it holds no credential for the provider — nothing is made or changed then), 4 not found.`},
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
