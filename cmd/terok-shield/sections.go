package shieldcmd

import "github.com/terok-ai/terok-go/lib/cli"

var sections = []cli.Section{
	{Title: "THE RULESET", Body: `One table, inet terok, in the task's network namespace. Its output chain (policy drop) takes, in order: loopback (the task's resolver and warden live there); the deny sets (deny beats allow, and cuts established connections too); established and related traffic; IPv6 neighbour discovery; DNS anywhere but the task's own resolver, refused; the allow sets (addresses and ranges named explicitly, private ones too); the restricted sets — private ranges, CGNAT, link-local and cloud metadata addresses, multicast, reserved ranges, their NAT64 forms and the host's own addresses — refused; the addresses the task's resolver learned for allowed names, each with a timeout of at least its TTL; everything else refused. Every accept but loopback's also needs the warden's heartbeat, an element of the set alive with a timeout of 3 seconds that the warden renews every second: without a running warden, the task has nothing but loopback. Refusals are TCP resets for TCP and ICMP administratively prohibited for everything else, so a connection fails at once; each is logged to NFLOG group 100 with the prefix "terok deny: ", "terok dns: ", "terok restricted: " or "terok blocked: ". The input chain (policy drop) takes loopback, established and related traffic and IPv6 router and neighbour messages.`},
	{Title: "THE HOOK", Body: `terok-shield hook is an OCI hook of the createRuntime stage: it runs after the container's namespaces exist and before its first process starts, on every start (podman restart and podman start included). Podman runs it for every container with the annotation terok.shield (the task's id). It reads the container's state (JSON) on stdin, checks the annotation, refuses a container that shares the host's network namespace, installs the ruleset in one atomic batch and reads it back; any failure exits non-zero, and the container does not start.

install-hook writes the registration, terok-shield.json, into a hooks directory: by default the first one Podman reads (/usr/share/containers/oci/hooks.d unless containers.conf says otherwise; Podman reads it for root and rootless users alike, and so does its API service). The hook runs the terok binary by its absolute path, so run install-hook again when the binary moves. Podman silently skips a registration whose binary is missing.`},
	{Title: "JSON FIELDS", Body: `verify prints one object per task:

  task  the task's id
  pid  the process whose network namespace was checked
  ok  true when terok's ruleset is in force there, unaltered
  alive  true when the warden's heartbeat is current (egress open as the policy says)
  reason  why ok is false

install-hook prints one object:

  hook  the registration file written
  binary  the binary it runs
  registered  true when Podman reads the directory it is in`},
	{Title: "EXIT STATUS", Body: `verify exits 0 when every ruleset checked is in force and unaltered, 1 when one is not (missing, altered, or its task not running), with the reason on stderr. hook exits 0 when the ruleset is in force, 2 for bad input on stdin or a bad annotation, and 1 when it could not install the ruleset: the container then does not start. Otherwise as every terok command: 3 not set up, 4 not found.`},
	{Title: "EXAMPLES", Body: `Check every running task:

  terok-task ls --status running | terok-shield verify -

Register the hook after installing terok:

  terok-shield install-hook`},
}
