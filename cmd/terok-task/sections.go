package taskcmd

import "github.com/terok-ai/terok-go/lib/cli"

var sections = []cli.Section{
	{Title: "JSON FIELDS", Body: `run --detach, start, ls and show print one object per task:

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
  hardening  (show) the confinement in force: cap_drop, cap_add, no_new_privileges, userns, init, pids_limit, memory_bytes, cpus, devices, privileged, seccomp (the syscall filter: the engine's default without user namespaces), and opt_outs, the project.toml opt-outs in force
  warden  (show) the task's warden: pid, and alive

run (without --detach), logs --json, wait and stop print events; run -i and login print the exit event with --json, when the session ends:

  type  log, exit or stopped
  id  the task
  stream  (log) stdout or stderr
  line  (log) one line of the agent's output
  status  (exit, stopped) the task's status
  exit_code  (exit) the agent's exit code

rm prints one object per removed task:

  removed  true
  archive  the directory keeping its record and output`},
	{Title: "INTERACTIVE TASKS", Body: `run -i (the agent's interactive command) and run --shell (a login shell, bash -l) keep the task's program in a tmux session named terok inside the container, and attach this terminal to it. tmux's own keys drive it: C-b d detaches, which leaves the task running and prints the 'terok-task login ID' that attaches again. The task ends when the session's program exits, with its exit code, as wait and ls then report; its commits are pushed to its branch in the gate, as a headless agent's are. A login takes the session over: another terminal still attached to it is detached.

-i and --shell need a terminal on stdin and stdout; without one they refuse (exit 2) unless --detach is given, which starts the session, prints the task as one JSON line, and leaves the attaching to a later login. login refuses a headless task (it has no session) and a task that is not running (start it again first).`},
	{Title: "EXIT STATUS", Body: `run (without --detach) and wait exit with the agent's own exit code; 124 when it ran past its timeout. run -i, run --shell and login exit 0 when the person detaches, and with the program's exit code when the session ends. Otherwise as every terok command: 0, 1 (also: login to a task that is not running or runs headless), 2 usage (also: -i, --shell or login without a terminal), 3 not set up (for run: the project's image is not built), 4 not found.`},
	{Title: "EXAMPLES", Body: `Run a command on the demo project, headless, and see what it pushed:

  terok-task run demo --agent command 'echo hi > hello.txt && git add . && git commit -qm hello'
  terok-gate diff demo/task/ID

Work in a shell in the task's container, leave it with C-b d, and come back:

  terok-task run --shell demo
  terok-task login ID

Remove every finished task:

  terok-task ls --status exited | terok-task rm --yes -`},
}
