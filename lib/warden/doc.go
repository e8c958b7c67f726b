// Package warden owns a task's warden: the host-side process that lives
// exactly as long as its task's container runs and serves, to that task
// alone, on addresses only that task can reach, what the task needs from
// the host. If it dies, the task loses all of it (the network included),
// never gains anything.
//
// It owns:
//
//   - the process: its command line and its start (Args, Spawn: the same
//     binary's hidden `terok task warden` verb, in a session of its own,
//     rootless under podman unshare), its liveness and its end (Alive,
//     Signal), and its run (Warden.Run: start the services in order, serve
//     until the container's first process exits, close them in reverse);
//   - the Service interface each part of the warden implements, and the
//     Task a service is given (its id, its process, listeners in its
//     network namespace: ListenInNetNS);
//   - the control socket and its typed operations (Op, Client): how terok
//     commands on the host reach a running warden.
//
// The services live in packages of their own (lib/warden/shieldsvc: the
// firewall, resolver and firewall log; lib/warden/gatesvc: the gate's git
// endpoint) and are wired in one place, lib/warden/services. This package
// imports none of them, so lib/task, which starts wardens and calls them,
// carries none of their code.
package warden
