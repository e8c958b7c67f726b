package imagecmd

import "github.com/terok-ai/terok-go/lib/cli"

var sections = []cli.Section{
	{Title: "LAYERS AND TAGS", Body: `L0 is the base image plus bash, ca-certificates, curl, git, tmux, ps and the user tools (apt-get on deb bases, dnf on rpm bases), the host's locally added CA certificates (config key image.host_certificates), terok's entry point /usr/local/bin/terok-entry, and the user agent (uid 1000, home /home/agent) in the working directory /workspace.

L1 is L0 plus the agents, each installed by the lines of its roster entry, as root, and Node.js if an agent's program runs on it (roster key needs). An agent that installs with npm runs its lines in a build stage of its own that has Node.js and npm; L1 copies what they leave in /usr/local and runs the agent's program with --version, so npm reaches no image. usage shows what each agent adds.

L2 is L1 plus a project's own lines: those of the file image.containerfile beside its project.toml, then those of image.snippet in project.toml. They run as root; FROM, COPY, CMD, ENTRYPOINT, ONBUILD and ADD of anything but a URL are refused.

Each layer is tagged by the first 12 hex digits of a SHA-256 over its Containerfile, the files it copies in, its parent image's id, and what it is (layer, package family, agents, project):

  localhost/terok/l0:HASH  L0
  localhost/terok/l1:HASH  L1
  localhost/terok/l2-PROJECT:HASH  L2

An image whose tag exists is never rebuilt; a change gets the changed layer and those above it new tags, while the layers below stay. A build that fails tags nothing. Every image carries the labels terok.layer, terok.family, terok.agents, terok.project (L2), terok.base, terok.hash, terok.parent and terok.version; ls, rm and prune touch only images with terok.layer.`},
	{Title: "BASE IMAGES", Body: `A base is any image of the deb family (Debian, Ubuntu) or the rpm family (Fedora, RHEL and its rebuilds) with a root user; its family is read from its /etc/os-release (or set with image.family). base pulls an image where a registry answers. Where none does, base --bootstrap (and base, when the pull fails, for a Debian image) makes a Debian root file system with mmdebstrap (unprivileged where it can) or, as root, debootstrap, from the mirror apt's sources name, keeps it as CACHE/rootfs/debian-SUITE.tar, and imports it as localhost/terok/debian:SUITE. A kept root file system is imported again in seconds; a user other than root imports root's (/var/cache/terok/rootfs) when it has none of its own.`},
	{Title: "AGENT ROSTER", Body: `The agents are the built-in roster plus the files CONFIG/agents/NAME.toml, which override a built-in entry key by key or add one. Unknown keys are errors naming the file and the line. The keys:

  label  the agent's name for people
  description  one line
  binary  the program that runs it
  needs  what the agent needs besides its install lines: "node" (Node.js at run time, installed in L1 for the agents that need it) and "npm" (Node.js and npm to install with: the install lines run in a build stage that has them, and only what they leave in /usr/local reaches L1, where the agent's program must then run with --version)
  install.deb, install.rpm  shell command lines run as root in the L1 build; a family without a list cannot have the agent, an empty list installs nothing
  headless.args, interactive.args  arguments after the program; the element {prompt} becomes the prompt, {flags} the permission, model and timeout flags (else they follow the program)
  headless.binary, interactive.binary  another program for that mode
  headless.model, interactive.model  flags choosing a model, with {model}
  headless.timeout, interactive.timeout  the agent's own time-limit flags, with {timeout} in seconds
  headless.resume  arguments that make a followup (terok-task followup) continue the agent's last session in the workspace, put just before the prompt (Claude Code: --continue; Codex: resume --last); without them a followup starts a new session
  permissions.flags  flags that switch off the agent's own permission prompts
  permissions.env  variables that do the same
  env  other variables the agent needs
  vault.provider  the vault provider whose token the agent carries
  vault.token_env  the variable holding the (phantom) token
  vault.base_url_env  the variable pointing the agent at the vault
  vault.base_path  what the agent's base URL ends with, instead of the route's base path (terok-vault routes): SDKs differ (OpenCode's wants /v1, Claude Code's nothing)
  vault.env  variables set only behind the vault; {base_url} in a value becomes the agent's base URL (Vibe: its providers, as JSON in VIBE_PROVIDERS)
  vault.oauth_token_env  the variable holding the phantom token instead of vault.token_env when the vault holds an OAuth credential for the provider (Claude Code: CLAUDE_CODE_OAUTH_TOKEN)
  vault.unsupported  why an agent without a vault provider cannot run behind the vault (it cannot be pointed at a base URL); terok-task run refuses it unless the project lists it in project.toml [vault] unvaulted
  login.args  the arguments (after the agent's program) of its own sign-in, which terok-vault login runs in a throwaway container on a terminal (Claude Code: auth login; Codex: login --device-auth)
  login.file  where that sign-in writes its credential, in the agent's home (Claude Code: .claude/.credentials.json; Codex: .codex/auth.json)
  login.hosts  the only hosts the sign-in's container may reach: the provider's sign-in and token hosts (the vault provider's token endpoint is added)`},
	{Title: "JSON FIELDS", Body: `build streams one object per event, each with a type:

  type  progress, log, layer or result
  layer  l0, l1 or l2
  step  progress: the step of the layer's build reached
  of  progress: the layer's number of steps
  instruction  progress: the step's Containerfile instruction
  line  log: one line of the build's output
  tag  layer: the layer's tag
  id  layer: the image's id
  hash  layer: the layer's full hash
  built  layer: whether it was built now (false: its tag existed); result: the layers built now
  seconds  layer: the time it took to build; result: the whole command's time
  project  result: the project, or "" for the global defaults
  image  result: the tag of the top layer, the image a task runs
  base  result: the base image
  base_id  result: the base image's id
  family  result: deb or rpm
  agents  result: the agents in the image, sorted
  l0, l1, l2  result: the layers' tags

base prints one object:

  image  the base image, as it is now available
  id  its id
  source  present, pulled, imported (from a kept root file system) or bootstrapped
  rootfs  the root file system's tarball it was imported from
  mirror  the mirror it was bootstrapped from
  tool  mmdebstrap or debootstrap
  pull_error  why a pull failed before a bootstrap
  seconds  the time it took

agents prints one object per agent:

  name  the agent's name
  label  its name for people
  description  one line about it
  binary  its program
  families  the package families it installs on
  family  with --base or --family: the family asked about
  installable  with --base or --family: whether it installs on that family
  provider  its vault provider, or ""
  source  built-in, or the file that last changed it
  unvaulted  why it cannot run behind the vault (its roster's vault.unsupported), absent for the others; the table's PROVIDER column says "unvaulted"
  login  true when terok-vault login can run its own sign-in (its roster has [login]); absent for the others

ls prints one object per image:

  id  the image's id
  tag  its tag, or "" when untagged
  layer  l0, l1, l2, or base for a base terok bootstrapped
  base  the base image it was built on
  family  deb or rpm
  agents  the agents in it (L1 and L2)
  project  the project (L2)
  hash  the layer's full hash
  parent  the id of the image it was built on
  users  the projects whose last build uses it ("default" for the global defaults' build)
  containers  the containers made from it
  size  its size, every layer below it included
  layer_size  the bytes it adds to the image it was built on
  created  when it was built

rm and prune print one object per image:

  id  the image's id
  tag  its tag, or ""
  layer  its layer
  size  the bytes it adds
  removed  whether it was removed (false with prune --dry-run)
  error  why it was not removed

usage prints one object per layer (each L1 followed by its agents and runtime), base and project, then the unused and total lines:

  kind  layer, agent, runtime, base, project, unused or total
  name  the tag, agent, runtime (node), base or project
  image  agent and runtime: the L1 image whose step it is
  bytes  for a layer the bytes it adds, for an agent or runtime what its step adds to L1, for a base its size, for a project its whole chain's size
  unique_bytes  the part no other build uses
  shared_bytes  the part another build uses too
  users  the builds that use it`},
	{Title: "EXAMPLES", Body: `Make the Debian base without a registry, then build the demo project's image:

  terok-image base --bootstrap
  terok-image build demo

Refresh the agents' tools to their newest versions:

  terok-image build demo --rebuild-agents

See what prune would remove, then remove it:

  terok-image prune --dry-run
  terok-image prune --yes

Remove every L2 image, by piping ls into rm:

  terok-image ls | jq -c 'select(.layer == "l2")' | terok-image rm --yes -`},
}
