package projectcmd

import "github.com/terok-ai/terok-go/lib/cli"

var sections = []cli.Section{
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

List names, and remove every project listed:

  terok-project ls | jq -r .name
  terok-project ls | terok-project rm --yes -`},
}
