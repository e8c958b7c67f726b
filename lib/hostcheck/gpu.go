package hostcheck

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/terok-ai/terok-go/lib/config"
)

// CDISpecDirs are the directories Podman reads CDI specs from, in order of
// priority (a later one overrides an earlier one's device of the same
// name). Podman 4.3.1 reads only these; containers.conf's cdi_spec_dirs is
// honoured only from Podman 5.5 on, so it is not read here.
var CDISpecDirs = []string{"/etc/cdi", "/var/run/cdi"}

// GPUFix is the command that makes the host's CDI spec for its NVIDIA
// GPUs.
const GPUFix = "nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml"

// maxCDISpec bounds a CDI spec file read (nvidia-ctk's are some kB).
const maxCDISpec = 4 << 20

// GPUProbe is what the gpu check knows of terok's configuration.
type GPUProbe struct {
	// Needs are the CDI devices each project's run.gpus asks for, by
	// project.
	Needs map[string][]string
	// SpecDirs are the directories searched; nil: CDISpecDirs.
	SpecDirs []string
}

// CDISpec is the part of a CDI spec file the doctor reads.
type CDISpec struct {
	File           string         `json:"-"`
	Kind           string         `json:"kind"`
	Devices        []CDIDevice    `json:"devices"`
	ContainerEdits CDIEditsOfNode `json:"containerEdits"`
}

// CDIDevice is one device of a spec.
type CDIDevice struct {
	Name           string         `json:"name"`
	ContainerEdits CDIEditsOfNode `json:"containerEdits"`
}

// CDIEditsOfNode are the device nodes a spec's edits add.
type CDIEditsOfNode struct {
	DeviceNodes []CDINode `json:"deviceNodes"`
}

// CDINode is a device node: its path in the container and, if another,
// on the host.
type CDINode struct {
	Path     string `json:"path"`
	HostPath string `json:"hostPath"`
}

// ReadCDISpecs reads the CDI spec files (*.json, *.yaml, as Podman does)
// of dirs; a missing directory has none. Files that cannot be read or
// parsed are returned as problems (path: error).
func ReadCDISpecs(dirs []string) (specs []CDISpec, broken []string) {
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			if !os.IsNotExist(err) {
				broken = append(broken, fmt.Sprintf("%s: %v", dir, err))
			}
			continue
		}
		for _, e := range entries {
			if ext := filepath.Ext(e.Name()); e.IsDir() || (ext != ".json" && ext != ".yaml") {
				continue
			}
			path := filepath.Join(dir, e.Name())
			s, err := readCDISpec(path)
			if err != nil {
				broken = append(broken, fmt.Sprintf("%s: %v", path, err))
				continue
			}
			specs = append(specs, s)
		}
	}
	return specs, broken
}

func readCDISpec(path string) (CDISpec, error) {
	f, err := os.Open(path)
	if err != nil {
		return CDISpec{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCDISpec+1))
	if err != nil {
		return CDISpec{}, err
	}
	if len(data) > maxCDISpec {
		return CDISpec{}, fmt.Errorf("larger than %d bytes", maxCDISpec)
	}
	var s CDISpec
	if err := yaml.Unmarshal(data, &s); err != nil {
		return CDISpec{}, fmt.Errorf("not a CDI spec: %v", firstLine(err.Error()))
	}
	if s.Kind == "" {
		return CDISpec{}, fmt.Errorf("not a CDI spec: no kind")
	}
	s.File = path
	return s, nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

// gpuDevices are the devices of kind config.GPUKind in specs, by name
// (a later spec's device overrides an earlier one's, as in Podman), each
// with its nodes (the spec's own added to the device's).
func gpuDevices(specs []CDISpec) map[string][]CDINode {
	out := map[string][]CDINode{}
	for _, s := range specs {
		if s.Kind != config.GPUKind {
			continue
		}
		for _, d := range s.Devices {
			out[d.Name] = append(slices.Clone(s.ContainerEdits.DeviceNodes), d.ContainerEdits.DeviceNodes...)
		}
	}
	return out
}

// missingNodes are the nodes whose device does not exist on the host. A
// task always runs in a user namespace, where the OCI runtime bind-mounts a
// device node from the host path the spec gives as its container path
// (measured with runc), so that path must exist on the host as well as
// the host path.
func missingNodes(nodes []CDINode) []string {
	var out []string
	for _, n := range nodes {
		for _, p := range []string{n.HostPath, n.Path} {
			if p == "" || slices.Contains(out, p) {
				continue
			}
			if _, err := os.Stat(p); err != nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// checkGPU checks that the host's CDI specs provide the GPUs the projects
// ask for (run.gpus), and that the device nodes of every GPU they name
// exist. With no project asking, it only reports what the specs provide.
func checkGPU(p *GPUProbe) Result {
	r := Result{Check: "gpu", Status: OK}
	if p == nil {
		p = &GPUProbe{}
	}
	dirs := p.SpecDirs
	if dirs == nil {
		dirs = CDISpecDirs
	}
	specs, broken := ReadCDISpecs(dirs)
	devs := gpuDevices(specs)
	names := make([]string, 0, len(devs))
	for n := range devs {
		names = append(names, n)
	}
	sort.Strings(names)
	projects := make([]string, 0, len(p.Needs))
	for n, d := range p.Needs {
		if len(d) > 0 {
			projects = append(projects, n)
		}
	}
	sort.Strings(projects)

	var details []string
	if len(names) > 0 {
		details = append(details, fmt.Sprintf("CDI specs provide %s: %s", config.GPUKind, strings.Join(names, ", ")))
	}
	var problems []string
	for _, proj := range projects {
		var lacking []string
		for _, d := range p.Needs[proj] {
			if _, ok := devs[strings.TrimPrefix(d, config.GPUKind+"=")]; !ok {
				lacking = append(lacking, d)
			}
		}
		if len(lacking) > 0 {
			problems = append(problems, fmt.Sprintf("project %s asks for %s, which no CDI spec in %s provides", proj, strings.Join(lacking, ", "), strings.Join(dirs, " or ")))
		}
	}
	var missing []string
	for _, n := range names {
		missing = append(missing, missingNodes(devs[n])...)
	}
	slices.Sort(missing)
	missing = slices.Compact(missing)
	if len(missing) > 0 {
		problems = append(problems, "device nodes the specs name are missing on the host: "+strings.Join(missing, ", "))
	}
	for _, b := range broken {
		problems = append(problems, "unreadable CDI spec "+b)
	}

	switch {
	case len(projects) == 0 && len(names) == 0 && len(broken) == 0:
		r.Detail = "no project asks for GPUs"
		return r
	case len(projects) == 0:
		details = append([]string{"no project asks for GPUs"}, details...)
		if len(problems) > 0 {
			r.Status = Warn
			r.Fix = "regenerate the spec: " + GPUFix
		}
	case len(problems) > 0:
		r.Status = Fail
		r.Fix = GPUFix + " (with the NVIDIA driver and nvidia-container-toolkit installed), or ask for GPUs it lists (run.gpus)"
	default:
		details = append(details, "asked for by "+strings.Join(projects, ", "))
	}
	r.Detail = strings.Join(append(problems, details...), "; ")
	return r
}
