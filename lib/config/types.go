package config

import (
	"fmt"
	"time"
)

// The structs below are the one table of configuration keys: each leaf
// field is a key, its Go type is the key's type, its `doc` tag the key's
// one-line meaning, and DefaultGlobal/DefaultProject its default. Schema()
// reads them by reflection; validation, `config schema` and terok-config(5)
// all come from here. A key is added here, with its doc, or not at all.

// Global is config.toml.
type Global struct {
	Image  GlobalImage `toml:"image"`
	Podman Podman      `toml:"podman"`
}

// GlobalImage are the image defaults for projects that set none.
type GlobalImage struct {
	Base   string   `toml:"base" doc:"Base image of the L0 layer for projects that name none."`
	Agents []string `toml:"agents" doc:"Agents installed (L1) for projects that name none; the first is the default agent."`
}

// Podman is how terok reaches the Podman API.
type Podman struct {
	Socket      string   `toml:"socket" doc:"Podman API to use, as unix:///path; empty: CONTAINER_HOST, the default socket, else a service terok starts."`
	ServiceIdle Duration `toml:"service_idle" doc:"Idle time after which a Podman API service started by terok exits."`
}

// Project is one project's project.toml. Its name is its directory's name.
type Project struct {
	Description string       `toml:"description" doc:"One line saying what the project is."`
	Upstream    string       `toml:"upstream" doc:"The real repository: a git URL or an absolute local path; empty: no upstream."`
	Branch      string       `toml:"branch" doc:"The project's default branch."`
	Image       ProjectImage `toml:"image"`
}

// ProjectImage overrides the global image defaults for one project.
type ProjectImage struct {
	Base   string   `toml:"base" doc:"Base image of this project's L0 layer; empty: the global image.base."`
	Agents []string `toml:"agents" doc:"Agents installed for this project; the first is its default agent; empty: the global image.agents."`
}

// DefaultBase is the base image terok-image makes when no registry answers.
const DefaultBase = "localhost/terok/debian:bookworm"

// DefaultGlobal returns config.toml's defaults.
func DefaultGlobal() Global {
	return Global{
		Image:  GlobalImage{Base: DefaultBase, Agents: []string{"command"}},
		Podman: Podman{ServiceIdle: Duration(5 * time.Minute)},
	}
}

// DefaultProject returns project.toml's defaults.
func DefaultProject() Project {
	return Project{Branch: "main"}
}

// Duration is a TOML string such as "90s" or "30m".
type Duration time.Duration

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("not a duration (like \"90s\" or \"30m\"): %q", b)
	}
	if v < 0 {
		return fmt.Errorf("negative duration %q", b)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// EffectiveBase is the base image a project builds on.
func (p Project) EffectiveBase(g Global) string {
	if p.Image.Base != "" {
		return p.Image.Base
	}
	return g.Image.Base
}

// EffectiveAgents are the agents a project's image holds.
func (p Project) EffectiveAgents(g Global) []string {
	if len(p.Image.Agents) > 0 {
		return p.Image.Agents
	}
	return g.Image.Agents
}
