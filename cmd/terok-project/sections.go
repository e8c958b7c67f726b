package projectcmd

import "github.com/terok-ai/terok-go/lib/cli"

var sections = []cli.Section{
	{Title: "THE WIZARD", Body: `On a terminal (stdin and stdout both terminals), new without flags is a wizard — gum's
lists and inputs when gum is installed, numbered lists and typed answers otherwise;
without a terminal it never asks and the flags alone say what to make.

It asks for the name (when not given) and a description; the upstream, which it checks
with git ls-remote, as the gate will reach it (your own git configuration and
credentials, no prompt, at most 20 seconds) — an upstream that does not answer is
refused with git's reason and asked again, and an empty answer means no upstream; the
default branch, from the upstream's branches (its HEAD's first); the base image; the
agents, from the roster with their descriptions (x or space toggles; the global
image.agents are selected at first), and which of them is the default when there are
several; and the egress profiles, from those terok-shield profiles lists (the global
shield.profiles selected at first). Answers equal to the global defaults stay inherited.

Only then is the project written, by the same code as new with flags: Esc or Ctrl-C
during the questions leaves nothing behind. The wizard then offers, each after printing
its command and each skippable: terok-gate sync NAME (when there is an upstream),
terok-image build NAME (its progress shown), terok-vault init when there is no vault yet,
and, for each vault provider of the chosen agents, terok-vault set PROVIDER (or, once the
image is built, terok-vault login AGENT --project NAME for an agent with its own
sign-in). Agents without a provider are skipped.

It ends with the scriptable equivalent of what it did: the new command with its flags,
the steps taken, and those left to do. A step that fails or is interrupted leaves the
project as written; the summary still says what is left.`},
	{Title: "JSON FIELDS", Body: `ls and show print one object per project:

  name  the project's name
  description  its one-line description
  upstream  the real repository (URL or absolute path), or ""
  branch  the default branch
  base  the effective base image (the project's, else the global image.base)
  agents  the effective agents (the project's, else the global image.agents)
  default_agent  the first of agents
  config_file  the path of its project.toml

rm prints one object per removed project:

  name  the project's name
  removed  true
  archive  the directory keeping its configuration

config schema prints one object per key:

  key  the dotted key
  file  config.toml or project.toml
  type  string, list of strings, duration, ...
  default  the default, as JSON
  doc  the key's meaning

config paths prints one object per path:

  name  config_dir, config_file, projects_dir, state_dir, archive_dir, audit_dir, data_dir, gate_dir, runtime_dir, podman_socket
  path  the resolved absolute path
  source  for roots: env, system, xdg, home or tmp
  exists  whether it exists now

config check prints one object per file: file, ok, and error when not ok.`},
	{Title: "EXAMPLES", Body: `Create a project from a local repository, non-interactively:

  terok-project new demo --upstream ~/src/demo --agents command,claude

The same with the egress profiles of a Node project, then what the wizard offers after:

  terok-project new demo --upstream ~/src/demo --agents claude,command --profiles base,node
  terok-gate sync demo
  terok-image build demo
  terok-vault set anthropic

List names, and remove every project listed:

  terok-project ls | jq -r .name
  terok-project ls | terok-project rm --yes -`},
}
