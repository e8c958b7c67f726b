package task

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"

	"github.com/containers/podman/v5/pkg/specgen"
	spec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/engine"
)

// AgentUID is the uid (and gid) of the agent's user in terok's images.
const AgentUID = 1000

// Labels that mark a container or volume as terok's.
const (
	LabelTask    = "terok.task"
	LabelProject = "terok.project"
	// LabelLogin marks the container of a login (terok-vault login); its
	// value is the agent.
	LabelLogin = "terok.login"
	// LabelState names the state tree (config.Paths.State) whose record a
	// task's container and volume belong to: `terok doctor` finds those
	// of its own tree that no record claims, and leaves other trees'
	// alone.
	LabelState = "terok.state"
)

// Hardening is the confinement a task runs under (SECURITY.md guarantee 9).
// The defaults are the secure choice; every difference from them is a
// project.toml opt-out listed in OptOuts.
type Hardening struct {
	CapDrop         []string `json:"cap_drop"`
	CapAdd          []string `json:"cap_add"`
	NoNewPrivileges bool     `json:"no_new_privileges"`
	UserNS          string   `json:"userns"`
	Init            bool     `json:"init"`
	PidsLimit       int64    `json:"pids_limit"`
	MemoryBytes     int64    `json:"memory_bytes"`
	CPUs            float64  `json:"cpus"`
	Devices         []string `json:"devices"`
	Privileged      bool     `json:"privileged"`
	Seccomp         string   `json:"seccomp"`
	OptOuts         []string `json:"opt_outs"`
}

// HardeningFor computes a task's hardening from the global limits and the
// project's overrides and opt-outs. Rootless tasks keep the host user's id
// as the agent's (keep-id); rootful tasks get an automatic, private range of
// ids (auto).
func HardeningFor(g config.Global, p config.Project, rootless bool) Hardening {
	h := Hardening{
		CapDrop:         []string{"ALL"},
		CapAdd:          []string{},
		NoNewPrivileges: true,
		Init:            true,
		PidsLimit:       int64(g.Run.PidsLimit),
		MemoryBytes:     int64(g.Run.Memory),
		CPUs:            g.Run.CPUs,
		Devices:         []string{},
		Seccomp:         SeccompName,
		OptOuts:         []string{},
	}
	if rootless {
		h.UserNS = fmt.Sprintf("keep-id:uid=%d,gid=%d", AgentUID, AgentUID)
	} else {
		h.UserNS = "auto"
	}
	if p.Run.PidsLimit > 0 {
		h.PidsLimit = int64(p.Run.PidsLimit)
	}
	if p.Run.Memory > 0 {
		h.MemoryBytes = int64(p.Run.Memory)
	}
	if p.Run.CPUs > 0 {
		h.CPUs = p.Run.CPUs
	}
	if len(p.Run.CapAdd) > 0 {
		h.CapAdd = slices.Sorted(slices.Values(p.Run.CapAdd))
		h.CapAdd = slices.Compact(h.CapAdd)
		for _, c := range h.CapAdd {
			h.OptOuts = append(h.OptOuts, "run.cap_add: CAP_"+c)
		}
	}
	if !p.Run.NoNewPrivileges {
		h.NoNewPrivileges = false
		h.OptOuts = append(h.OptOuts, "run.no_new_privileges = false")
	}
	// GPUs are host devices: CDI devices the engine resolves from the
	// host's CDI specs when the container starts.
	for _, d := range p.Run.GPUs.Devices() {
		h.Devices = append(h.Devices, d)
		h.OptOuts = append(h.OptOuts, "run.gpus: "+d)
	}
	return h
}

// Container is what a task's container is made of, besides its hardening.
type Container struct {
	Name        string
	Image       string
	Command     []string
	Env         map[string]string
	Labels      map[string]string
	Annotations map[string]string
	Volume      string   // the task's workspace volume
	Seccomp     string   // the seccomp profile's path ("" for the engine's default)
	DNS         []net.IP // the resolvers in the container's resolv.conf
	WorkDir     string   // where it is mounted, and the working directory
	Terminal    bool
}

// Spec renders a container and its hardening as a Podman spec.
func Spec(c Container, h Hardening) *specgen.SpecGenerator {
	s := specgen.NewSpecGenerator(c.Image, false)
	s.Name = c.Name
	s.Command = c.Command
	s.Env = maps.Clone(c.Env)
	s.Labels = maps.Clone(c.Labels)
	s.Annotations = maps.Clone(c.Annotations)
	s.WorkDir = c.WorkDir
	s.User = fmt.Sprintf("%d:%d", AgentUID, AgentUID)
	s.Terminal = &c.Terminal
	s.Stdin = &c.Terminal
	if c.Volume != "" {
		s.Volumes = []*specgen.NamedVolume{{Name: c.Volume, Dest: c.WorkDir, Options: []string{"rw", "nodev", "nosuid", "U"}}}
	}
	// k8s-file keeps logs readable after exit, with or without journald.
	s.LogConfiguration = &specgen.LogConfig{Driver: "k8s-file"}

	s.CapDrop = slices.Clone(h.CapDrop)
	s.CapAdd = slices.Clone(h.CapAdd)
	s.NoNewPrivileges = &h.NoNewPrivileges
	s.Init = &h.Init
	s.Privileged = new(bool)
	s.SeccompProfilePath = c.Seccomp
	// A qualified CDI name (vendor.com/class=name) is resolved by the
	// engine from its CDI spec directories (Podman 4.3.1 reads /etc/cdi and
	// /var/run/cdi) when the container is initialised, not when it is
	// created.
	for _, d := range h.Devices {
		s.Devices = append(s.Devices, spec.LinuxDevice{Path: d})
	}
	s.DNSServers = slices.Clone(c.DNS)
	switch {
	case h.UserNS == "auto":
		// Always the same size, so that ranges stay whole
		// (engine.createContiguous).
		engine.AutoUserNS(s, engine.AutoUserNSSize)
	case len(h.UserNS) > 8 && h.UserNS[:8] == "keep-id:":
		s.UserNS = specgen.Namespace{NSMode: specgen.KeepID, Value: h.UserNS[8:]}
	case h.UserNS == "keep-id":
		s.UserNS = specgen.Namespace{NSMode: specgen.KeepID}
	}
	res := &spec.LinuxResources{}
	if h.PidsLimit > 0 {
		res.Pids = &spec.LinuxPids{Limit: h.PidsLimit}
	}
	if h.MemoryBytes > 0 {
		m := h.MemoryBytes
		res.Memory = &spec.LinuxMemory{Limit: &m, Swap: &m}
	}
	if h.CPUs > 0 {
		period := uint64(100000)
		quota := int64(h.CPUs * float64(period))
		res.CPU = &spec.LinuxCPU{Period: &period, Quota: &quota}
	}
	s.ResourceLimits = res
	return s
}

// GPUError is a task's start refused by the engine because no CDI spec on
// the host provides a GPU the project asks for (run.gpus).
type GPUError struct {
	Devices []string // the CDI devices the engine could not resolve
	Err     error
}

func (e *GPUError) Error() string {
	return fmt.Sprintf("no CDI spec on this host provides %s, which the project asks for (run.gpus)", strings.Join(e.Devices, ", "))
}
func (e *GPUError) Unwrap() error { return e.Err }

// Hint says where the GPUs come from.
func (e *GPUError) Hint() string {
	return "'terok doctor --only gpu' lists the GPUs the host's CDI specs provide; make a spec with 'nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml'"
}

// unresolvedCDI is Podman's error for CDI devices no spec provides
// ("setting up CDI devices: unresolvable CDI devices A, B"; measured with
// Podman 4.3.1).
const unresolvedCDI = "unresolvable CDI devices "

// gpuError makes the engine's refusal of CDI devices a GPUError, or
// returns nil for any other error.
func gpuError(err error) error {
	msg := err.Error()
	i := strings.Index(msg, unresolvedCDI)
	if i < 0 {
		return nil
	}
	rest, _, _ := strings.Cut(msg[i+len(unresolvedCDI):], "\n")
	var devs []string
	for _, d := range strings.Split(rest, ",") {
		if d = strings.TrimSpace(d); d != "" {
			devs = append(devs, d)
		}
	}
	return &GPUError{Devices: devs, Err: err}
}
