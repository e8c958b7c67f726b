package shieldcmd

import "github.com/terok-ai/terok-go/lib/cli"

var sections = []cli.Section{
	{Title: "THE RULESET", Body: `One table, inet terok, in the task's network namespace. Its output chain (policy drop) takes, in order: loopback (the task's resolver and warden live there); the deny sets (deny beats allow, and cuts established connections too); established and related traffic; IPv6 neighbour discovery; DNS anywhere but the task's own resolver, refused; the allow sets (addresses and ranges named explicitly, private ones too); the restricted sets — private ranges, CGNAT, link-local and cloud metadata addresses, multicast, reserved ranges, their NAT64 forms and the host's own addresses — refused; the addresses the task's resolver learned for allowed names, each with a timeout of at least its TTL; everything else refused. Every accept but loopback's also needs the warden's heartbeat, an element of the set alive with a timeout of 3 seconds that the warden renews every second: without a running warden, the task has nothing but loopback. Refusals are TCP resets for TCP and ICMP administratively prohibited for everything else, so a connection fails at once; each is logged to NFLOG group 100 with the prefix "terok deny: ", "terok dns: ", "terok restricted: " or "terok blocked: ". The input chain (policy drop) takes loopback, established and related traffic and IPv6 router and neighbour messages.`},
	{Title: "THE HOOK", Body: `terok-shield hook is an OCI hook of the createRuntime stage: it runs after the container's namespaces exist and before its first process starts, on every start (podman restart and podman start included). Podman runs it for every container with the annotation terok.shield (the task's id). It reads the container's state (JSON) on stdin, checks the annotation, refuses a container that shares the host's network namespace, installs the ruleset in one atomic batch and reads it back; any failure exits non-zero, and the container does not start.

install-hook writes the registration, terok-shield.json, into a hooks directory: by default the first one Podman reads (/usr/share/containers/oci/hooks.d unless containers.conf says otherwise; Podman reads it for root and rootless users alike, and so does its API service). The hook runs terok-shield-hook, the hook's own small binary installed beside terok (it starts faster on every task's start), or the terok binary when there is none, by its absolute path, so run install-hook again when the binary moves. Podman silently skips a registration whose binary is missing.`},
	{Title: "JSON FIELDS", Body: `verify prints one object per task:

  task  the task's id
  pid  the process whose network namespace was checked
  ok  true when terok's ruleset is in force there, unaltered
  alive  true when the warden's heartbeat is current (egress open as the policy says)
  reason  why ok is false

install-hook prints one object:

  hook  the registration file
  binary  the binary it runs
  registered  true when Podman reads the directory it is in
  changed  true when it was written; false when the same registration was already there

allow, deny, down, up and quarantine print one object:

  task  the task's id
  op  the change: allow, deny, down, up or quarantine
  targets  (allow, deny) the targets, in canonical form
  posture  the shield's posture after it: up, down or quarantined
  down_until  (down) when the kernel raises the shield again, RFC 3339

rules prints one object per rule of the task's effective policy:

  action  allow, deny, or learned (an address the task's resolver answered for an allowed name)
  target  a domain, *.wildcard, address or range; for learned, the address
  from  where the rule comes from: a profile (and the host source it follows), the project's upstream, shield.allow, shield.deny, or terok-shield allow/deny
  name  (learned) the name it was resolved for
  expires  (learned) when the firewall forgets it unless looked up again

status prints one object per task:

  task  the task's id
  project  its project
  running  true when its warden answers
  posture  up, down or quarantined
  down_until  (down) when the shield goes up again
  alive  true when the warden's heartbeat is current
  allow  the number of allow rules
  deny  the number of deny rules
  learned  the number of learned addresses in the firewall now

profiles prints one object per profile:

  name  the profile's name
  description  what it allows
  allow  the targets it names
  follow  the host sources it follows: distribution-mirrors, npm-registry, pip-index, go-proxy, cargo-registry
  origin  built-in, or the file it is in (CONFIG/shield/profiles/NAME.toml)
  resolves  what its sources resolve to on this host now
  note  why a source resolves to nothing

logs and watch print the audit events, one object each:

  time  when, RFC 3339
  task  the task
  event  start, refused (a name), blocked (a packet), allow, deny, down, up, quarantine, down-connection (a connection made while the shield was down)
  reason  (blocked) deny, dns (DNS to another resolver), restricted (private, metadata, host) or blocked (not allowed)
  name  (refused) the name; (blocked) the name the task last resolved for the address
  qtype  (refused) the query type
  dst  (blocked) the destination address
  port  (blocked) the destination port (TCP and UDP)
  protocol  (blocked) tcp, udp, icmp, icmpv6, or the protocol number
  targets  (start) the allowed targets; (allow, deny) the targets changed
  until  (down) when the shield goes up again
  repeats  attempts to the same destination folded into this event since the previous one (one event per destination per 30 s)`},
	{Title: "POLICY", Body: `A task's policy is computed when it is created: its project's shield.profiles (else the global shield.profiles, by default base), plus its project's upstream host, plus shield.allow, minus shield.deny (deny beats allow). Profiles are built in or the user's (CONFIG/shield/profiles/NAME.toml: description, allow, follow; a user profile overrides a built-in one). Built-in: base (the package mirrors the task's image is configured with), git-hosting, node (the registry the host's npm uses), python (the host's pip index), go (the host's go proxy and checksum database), rust (the host's cargo registry) — resolved from the host's own configuration, so company mirrors are followed without editing. A wildcard *.example.com matches names under example.com, not example.com itself. An allowed range may not hold a cloud metadata address (0.0.0.0/0 is refused): name that address alone if it is meant.

The task's resolver (in its warden, on the task's 127.0.0.1:53, the only resolver in its resolv.conf) answers allowed names through the host's resolvers (or shield.resolvers) and puts their addresses into the firewall before it replies; any other name is refused at once and never forwarded (with shield.clearance = "hold" it is held while a person decides its request with terok-clearance, up to shield.hold_timeout, and answered if allowed meanwhile). HTTPS and SVCB records are answered empty, so no address reaches the task around the firewall. Live changes (allow, deny, down, up, quarantine) go to the task's warden and take effect at once; they are kept, audited, and survive a restart of the task.`},
	{Title: "EXIT STATUS", Body: `verify exits 0 when every ruleset checked is in force and unaltered, 1 when one is not (missing, altered, or its task not running), with the reason on stderr. hook exits 0 when the ruleset is in force, 2 for bad input on stdin or a bad annotation, and 1 when it could not install the ruleset: the container then does not start. Otherwise as every terok command: 3 not set up, 4 not found.`},
	{Title: "EXAMPLES", Body: `Check every running task:

  terok-task ls --status running | terok-shield verify -

Register the hook after installing terok:

  terok-shield install-hook

Let a running task reach a host, then take it back:

  terok-shield allow k3x9 api.example.com
  terok-shield deny k3x9 api.example.com

Watch what every task is refused:

  terok-shield watch`},
}
