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
	Run    RunLimits   `toml:"run"`
	Git    GitIdentity `toml:"git"`
	Gate   GlobalGate  `toml:"gate"`
	Shield Shield      `toml:"shield"`
	Vault  GlobalVault `toml:"vault"`
}

// GlobalVault is how the credential vault is opened and how its proxy
// reaches the model providers (see terok-vault(1)).
type GlobalVault struct {
	PassphraseCommand []string `toml:"passphrase_command" doc:"Command (an argv list, no shell) whose first line of output is the vault's passphrase, e.g. [\"pass\", \"show\", \"terok\"]; tried after the kernel keyring, before a prompt."`
	PassphraseTimeout Duration `toml:"passphrase_timeout" doc:"How long passphrase_command may take before it is killed."`
	UnlockTTL         Duration `toml:"unlock_ttl" doc:"How long 'terok-vault unlock' keeps the vault's key in the kernel keyring."`
	MaxBody           Size     `toml:"max_body" doc:"Largest request body an agent may send through the vault's proxy, like \"64m\"; larger ones get 413."`
	// Providers override the built-in routes, or add providers, by name
	// ([vault.providers.NAME]).
	Providers map[string]VaultProvider `toml:"providers"`
}

// VaultProvider is one provider's route in config.toml: where the vault's
// proxy sends its requests and how it presents the credential. An empty
// key keeps the built-in route's value.
type VaultProvider struct {
	Upstream      string   `toml:"upstream" doc:"Base URL the provider's requests go to (https://..., or http:// for a gateway on the host)."`
	OAuthUpstream string   `toml:"oauth_upstream" doc:"Base URL requests made with an OAuth credential go to instead."`
	TokenURL      string   `toml:"token_url" doc:"OAuth token endpoint used to refresh the provider's OAuth credentials."`
	ClientID      string   `toml:"client_id" doc:"OAuth client id sent with a refresh."`
	APIKeyHeader  string   `toml:"api_key_header" doc:"Header an API key goes in, e.g. \"x-api-key\" or \"Authorization\"."`
	APIKeyPrefix  *string  `toml:"api_key_prefix" doc:"Text before the API key in its header, e.g. \"Bearer \"."`
	Paths         []string `toml:"paths" doc:"Path prefixes requests may have; empty: any."`
	ErrorShape    string   `toml:"error_shape" doc:"Error format the provider's clients print: anthropic, openai or mistral."`
}

// Shield is the egress policy of every project's tasks.
type Shield struct {
	Profiles     []string `toml:"profiles" doc:"Egress profiles (terok-shield profiles lists them) every task gets unless its project names its own."`
	Resolvers    []string `toml:"resolvers" doc:"DNS servers the tasks' resolvers ask, as address or address:port; empty: the nameservers of the host's /etc/resolv.conf."`
	Clearance    string   `toml:"clearance" doc:"What a task's resolver does with a name outside its policy: \"refuse\" at once, or \"hold\" the query while the name's clearance request is pending (terok-clearance allow answers it, so the first attempt succeeds; a deny or hold_timeout refuses it), and drop rather than reject a connection to an address outside the policy (denied, private and the host's addresses are still rejected), so that TCP's own retry connects after an allow."`
	HoldTimeout  Duration `toml:"hold_timeout" doc:"How long a held query waits for a verdict before it is refused, from 1s to 5m (clearance = \"hold\"); a client may give up sooner (glibc asks twice, 5s each)."`
	NameBinding  string   `toml:"name_binding" doc:"How a task's TCP connection to an address its resolver learned is checked: \"rule\", by the name it presents (TLS server name or HTTP Host), which the policy must allow and an allow rule must cover together with a name the address was learned for; \"policy\", by the name alone; \"off\", by address only (any name served from a learned address gets through)."`
	AddressPorts []int    `toml:"address_ports" doc:"TCP ports on which a learned address is allowed by address alone, for protocols that present no name (22 for git over SSH); name_binding does not apply to them."`
}

// The values of shield.name_binding.
const (
	NameBindingRule   = "rule"
	NameBindingPolicy = "policy"
	NameBindingOff    = "off"
)

// ProjectShield is a project's egress policy: its profiles, plus its
// upstream's host, plus allow, minus deny (deny beats allow).
type ProjectShield struct {
	Profiles    []string `toml:"profiles" doc:"Egress profiles of this project's tasks; empty: the global shield.profiles."`
	Allow       []string `toml:"allow" doc:"More egress targets for this project's tasks: domains, *.wildcard domains, addresses, CIDR ranges."`
	Deny        []string `toml:"deny" doc:"Egress targets this project's tasks may never reach, even when a profile or allow names them (deny beats allow)."`
	Clearance   string   `toml:"clearance" doc:"Overrides the global shield.clearance for this project's tasks: \"refuse\" or \"hold\"; empty: the global one."`
	HoldTimeout Duration `toml:"hold_timeout" doc:"Overrides the global shield.hold_timeout for this project's tasks, from 1s to 5m; 0: the global one."`
}

// The values of shield.clearance, and the bounds of shield.hold_timeout.
const (
	ClearanceRefuse = "refuse"
	ClearanceHold   = "hold"
	MinHoldTimeout  = time.Second
	MaxHoldTimeout  = 5 * time.Minute
)

// EffectiveClearance is how a project's tasks treat a name or address
// outside their policy (ClearanceRefuse or ClearanceHold) and how long a
// held query waits: the project's own settings, else the global ones.
func (p Project) EffectiveClearance(g Global) (mode string, hold time.Duration) {
	mode, hold = g.Shield.Clearance, g.Shield.HoldTimeout.D()
	if p.Shield.Clearance != "" {
		mode = p.Shield.Clearance
	}
	if p.Shield.HoldTimeout != 0 {
		hold = p.Shield.HoldTimeout.D()
	}
	if mode == "" {
		mode = ClearanceRefuse
	}
	if hold == 0 {
		hold = DefaultHoldTimeout
	}
	return mode, hold
}

// DefaultHoldTimeout is shield.hold_timeout's default.
const DefaultHoldTimeout = 30 * time.Second

// RunLimits are the resource limits of every task (SECURITY.md guarantee 8).
type RunLimits struct {
	Timeout   Duration `toml:"timeout" doc:"How long a headless agent may run before it is stopped (exit code 124)."`
	Memory    Size     `toml:"memory" doc:"Memory limit of a task's container, like \"4g\" or \"512m\"."`
	PidsLimit int      `toml:"pids_limit" doc:"Most processes a task's container may hold."`
	CPUs      float64  `toml:"cpus" doc:"CPUs a task's container may use (fractions allowed)."`
}

// GitIdentity is the author of the agents' commits.
type GitIdentity struct {
	Name  string `toml:"name" doc:"Author name of agents' commits; empty: the host's git user.name, else \"terok agent\"."`
	Email string `toml:"email" doc:"Author email of agents' commits; empty: the host's git user.email, else agent@terok.invalid."`
}

// GlobalImage are the image defaults for projects that set none.
type GlobalImage struct {
	Base             string   `toml:"base" doc:"Base image of the L0 layer for projects that name none."`
	Family           string   `toml:"family" doc:"Package family of image.base: deb or rpm; empty: detected from the base image's /etc/os-release."`
	Agents           []string `toml:"agents" doc:"Agents installed (L1) for projects that name none; the first is the default agent."`
	HostCertificates bool     `toml:"host_certificates" doc:"Copy the host's locally added CA certificates into L0, so that TLS through the host's proxies and mirrors works in builds and tasks."`
}

// Podman is how terok reaches the Podman API.
type Podman struct {
	Socket      string   `toml:"socket" doc:"Podman API to use, as unix:///path (if it does not answer, terok stops there: exit 3); empty: CONTAINER_HOST (likewise), the default socket, else a service terok starts."`
	ServiceIdle Duration `toml:"service_idle" doc:"Idle time after which a Podman API service started by terok exits."`
}

// GlobalGate is the git gate's policy for every project.
type GlobalGate struct {
	Protected    []string `toml:"protected" doc:"Branches no task may create, update or delete, in every project, besides each project's default branch; shell patterns, so release/* protects release/1.0."`
	MaxPushSize  Size     `toml:"max_push_size" doc:"Largest pack a task may push to a gate, like \"500m\" or \"2g\"; larger pushes are refused whole."`
	BackupMaxAge Duration `toml:"backup_max_age" doc:"Age after which 'terok-gate prune' removes a gate backup (the old tip of a force-pushed, deleted or replaced branch)."`
}

// Project is one project's project.toml. Its name is its directory's name.
type Project struct {
	Description string        `toml:"description" doc:"One line saying what the project is."`
	Upstream    string        `toml:"upstream" doc:"The real repository: a git URL or an absolute local path; empty: no upstream."`
	Branch      string        `toml:"branch" doc:"The project's default branch."`
	Image       ProjectImage  `toml:"image"`
	Run         ProjectRun    `toml:"run"`
	Gate        ProjectGate   `toml:"gate"`
	Shield      ProjectShield `toml:"shield"`
	Vault       ProjectVault  `toml:"vault"`
}

// ProjectVault are a project's explicit exceptions to the vault's rules.
// Both are shown by terok-task show.
type ProjectVault struct {
	Direct    []string `toml:"direct" doc:"Providers whose real API and auth hosts this project's tasks may reach directly (denied in every task by default, so a smuggled real key is useless)."`
	Unvaulted []string `toml:"unvaulted" doc:"Agents that cannot run behind the vault (terok-image agents says which) that this project's tasks may run anyway, with their own login and direct egress."`
}

// ProjectRun are a project's opt-outs from the hardened defaults and its
// own limits. Every opt-out is shown by terok-task show and recorded with
// the task.
type ProjectRun struct {
	Timeout         Duration `toml:"timeout" doc:"Overrides the global run.timeout for this project's tasks; 0: the global one."`
	Memory          Size     `toml:"memory" doc:"Overrides the global run.memory; empty: the global one."`
	PidsLimit       int      `toml:"pids_limit" doc:"Overrides the global run.pids_limit; 0: the global one."`
	CPUs            float64  `toml:"cpus" doc:"Overrides the global run.cpus; 0: the global one."`
	CapAdd          []string `toml:"cap_add" doc:"Opt-out: capabilities put back into the task (all are dropped by default), e.g. [\"NET_BIND_SERVICE\"]."`
	NoNewPrivileges bool     `toml:"no_new_privileges" doc:"Opt-out: false lets set-uid programs gain privileges inside the task; default true."`
	GPUs            GPUs     `toml:"gpus" doc:"Opt-out: GPUs the tasks get through CDI (nvidia.com/gpu=NAME), \"all\" or a list of indices or UUIDs like [\"0\", \"1\"]; empty: none. The host needs a CDI spec (nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml; terok doctor --only gpu checks it). Not yet tried with a real GPU."`
}

// ProjectImage overrides the global image defaults for one project.
type ProjectImage struct {
	Base    string   `toml:"base" doc:"Base image of this project's L0 layer; empty: the global image.base."`
	Family  string   `toml:"family" doc:"Package family of this project's base: deb or rpm; empty: the global image.family when the base is the global one, else detected."`
	Agents  []string `toml:"agents" doc:"Agents installed for this project; the first is its default agent; empty: the global image.agents."`
	Snippet string   `toml:"snippet" doc:"Containerfile lines for this project's L2 layer, run as root after those of the file image.containerfile beside project.toml (FROM, COPY, ADD, CMD, ENTRYPOINT and ONBUILD are refused)."`
}

// ProjectGate adds to the global gate policy for one project.
type ProjectGate struct {
	Protected   []string `toml:"protected" doc:"More branches protected from tasks in this project, besides its default branch and the global gate.protected; shell patterns."`
	AllowTags   bool     `toml:"allow_tags" doc:"Whether tasks may push new tags to this project's gate (a task may then move or delete only the tags it created)."`
	MaxPushSize Size     `toml:"max_push_size" doc:"Largest pack a task may push to this project's gate; empty: the global gate.max_push_size."`
}

// DefaultBase is the base image terok-image makes when no registry answers.
const DefaultBase = "localhost/terok/debian:bookworm"

// DefaultGlobal returns config.toml's defaults.
func DefaultGlobal() Global {
	return Global{
		Image:  GlobalImage{Base: DefaultBase, Agents: []string{"command"}, HostCertificates: true},
		Podman: Podman{ServiceIdle: Duration(5 * time.Minute)},
		Run:    RunLimits{Timeout: Duration(30 * time.Minute), Memory: 4 << 30, PidsLimit: 4096, CPUs: 2},
		Gate:   GlobalGate{MaxPushSize: 1 << 30, BackupMaxAge: Duration(30 * 24 * time.Hour)},
		Shield: Shield{Profiles: []string{"base"}, Clearance: ClearanceRefuse, HoldTimeout: Duration(DefaultHoldTimeout), NameBinding: NameBindingRule},
		Vault:  GlobalVault{PassphraseTimeout: Duration(30 * time.Second), UnlockTTL: Duration(8 * time.Hour), MaxBody: 64 << 20},
	}
}

// DefaultProject returns project.toml's defaults.
func DefaultProject() Project {
	return Project{Branch: "main", Run: ProjectRun{NoNewPrivileges: true}}
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

// EffectiveFamily is the package family the project's configuration names
// for its base ("" to detect it): the project's own, else the global one when
// the project builds on the global base.
func (p Project) EffectiveFamily(g Global) string {
	if p.Image.Family != "" {
		return p.Image.Family
	}
	if p.Image.Base == "" {
		return g.Image.Family
	}
	return ""
}

// EffectiveAgents are the agents a project's image holds.
func (p Project) EffectiveAgents(g Global) []string {
	if len(p.Image.Agents) > 0 {
		return p.Image.Agents
	}
	return g.Image.Agents
}

// Size is a TOML string such as "4g", "512m" or "1048576" (bytes).
type Size int64

func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = Size(v)
	return nil
}

func (s Size) MarshalText() ([]byte, error) { return []byte(FormatSize(int64(s))), nil }

// ParseSize reads "4g", "512m", "64k" or a plain number of bytes.
func ParseSize(v string) (int64, error) {
	bad := fmt.Errorf("not a size (like \"4g\", \"512m\" or bytes): %q", v)
	if v == "" {
		return 0, nil
	}
	mult := int64(1)
	switch v[len(v)-1] {
	case 'k', 'K':
		mult = 1 << 10
	case 'm', 'M':
		mult = 1 << 20
	case 'g', 'G':
		mult = 1 << 30
	case 't', 'T':
		mult = 1 << 40
	}
	num := v
	if mult > 1 {
		num = v[:len(v)-1]
	}
	var n int64
	if len(num) == 0 || len(num) > 12 {
		return 0, bad
	}
	for _, c := range num {
		if c < '0' || c > '9' {
			return 0, bad
		}
		n = n*10 + int64(c-'0')
	}
	return n * mult, nil
}

// FormatSize writes a size the way ParseSize reads it.
func FormatSize(n int64) string {
	for _, u := range []struct {
		s string
		m int64
	}{{"t", 1 << 40}, {"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}} {
		if n >= u.m && n%u.m == 0 {
			return fmt.Sprintf("%d%s", n/u.m, u.s)
		}
	}
	return fmt.Sprintf("%d", n)
}

// EffectiveGate is the gate policy of a project: its default branch and
// every protected pattern (global and its own), whether tasks may push
// tags, and the push size limit.
type EffectiveGate struct {
	DefaultBranch string
	Protected     []string
	AllowTags     bool
	MaxPushSize   int64
	BackupMaxAge  time.Duration
}

// EffectiveGate combines a project's gate settings with the global ones.
func (p Project) EffectiveGate(g Global) EffectiveGate {
	e := EffectiveGate{
		DefaultBranch: p.Branch,
		Protected:     append(append([]string{}, g.Gate.Protected...), p.Gate.Protected...),
		AllowTags:     p.Gate.AllowTags,
		MaxPushSize:   int64(g.Gate.MaxPushSize),
		BackupMaxAge:  g.Gate.BackupMaxAge.D(),
	}
	if p.Gate.MaxPushSize > 0 {
		e.MaxPushSize = int64(p.Gate.MaxPushSize)
	}
	return e
}
