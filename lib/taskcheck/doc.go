// Package taskcheck owns `terok doctor TASK`: the health of one task, seen
// from outside its container and from inside it. Each check gives one
// hostcheck.Result (ok, warn or fail, a detail, and a fix that names the
// command that repairs it), in the order of Checks:
//
//   - warden: the task's warden process is alive and its control socket
//     answers;
//   - shield: the ruleset in the container's network namespace is in
//     force and unaltered (terok-shield verify);
//   - dns: inside the task, the warden's resolver answers a name the
//     task's policy allows and refuses one outside it;
//   - gate: inside the task, the gate answers git with the task's token,
//     and so does the workspace's origin remote;
//   - workspace: free space of /workspace;
//   - agent: the agent's process is alive (a shell task has none);
//   - clock: the container's clock agrees with the host's.
//
// The checks inside the container run as the agent's user, the way
// `terok-task exec` runs a command. Every check is bounded by a timeout and
// they run concurrently: a wedged warden, engine or container makes a check
// fail, never the doctor hang.
//
// It is kept out of lib/task so that lib/task stays free of what it does
// not need (lib/task's layering test); it needs nothing of the warden's
// services either, only the warden's control client.
package taskcheck
