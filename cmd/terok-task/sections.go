package taskcmd

import "github.com/terok-ai/terok-go/lib/cli"

var sections = []cli.Section{
	{Title: "JSON FIELDS", Body: `run --detach, start, ls and show print one object per task:

  id  the task's id (8 characters; any unique prefix is accepted)
  name  the task's name
  project  its project
  agent  the agent it runs
  mode  headless
  status  created, running, exited, failed, timed-out, stopped or missing, derived from the container's live state
  exit_code  the agent's exit code once it ended (124: timed out), else null
  branch  the task's branch in the gate
  base_branch  the branch it started from
  image  the image its container runs
  container  its container's name
  created  when it was created, RFC 3339
  hardening  (show) the confinement in force: cap_drop, cap_add, no_new_privileges, userns, init, pids_limit, memory_bytes, cpus, devices, privileged, seccomp (the syscall filter: the engine's default without user namespaces), and opt_outs, the project.toml opt-outs in force
  warden  (show) the task's warden: pid, and alive

run (without --detach), logs --json, wait and stop print events:

  type  log, exit or stopped
  id  the task
  stream  (log) stdout or stderr
  line  (log) one line of the agent's output
  status  (exit, stopped) the task's status
  exit_code  (exit) the agent's exit code

rm prints one object per removed task:

  removed  true
  archive  the directory keeping its record and output`},
	{Title: "EXIT STATUS", Body: `run (without --detach) and wait exit with the agent's own exit code; 124 when it ran past its timeout. Otherwise as every terok command: 0, 1, 2 usage, 3 not set up (for run: the project's image is not built), 4 not found.`},
	{Title: "EXAMPLES", Body: `Run a command on the demo project, headless, and see what it pushed:

  terok-task run demo --agent command 'echo hi > hello.txt && git add . && git commit -qm hello'
  terok-gate diff demo/task/ID

Remove every finished task:

  terok-task ls --status exited | terok-task rm --yes -`},
}
