package config

import (
	"fmt"
	"strconv"
)

// GPUs is project.toml's run.gpus: the GPUs a project's tasks get, as CDI
// device names of the kind lib/task names (nvidia.com/gpu). In TOML it is
// the string "all", or a list of GPU indices or UUIDs (strings, or
// integers for indices); it decodes to ["all"] or to the list as strings.
// An empty list, like no key, asks for none.
type GPUs []string

// GPUKind is the CDI vendor/class of the GPUs run.gpus asks for: each
// becomes the CDI device GPUKind=NAME in the task's container, and the
// doctor looks for devices of this kind in the host's CDI specs. It is the
// kind nvidia-ctk (NVIDIA's container toolkit) generates.
const GPUKind = "nvidia.com/gpu"

// GPUAll is the device name that stands for every GPU (nvidia-ctk's
// generated spec has a device of that name).
const GPUAll = "all"

// gpuName is a CDI device name (letters, digits, '_', '-', '.', ':',
// starting and ending with a letter or digit): an index, a GPU-... UUID,
// or a MIG device like 0:1.
var gpuName = lazyRegexp(`^[A-Za-z0-9]([A-Za-z0-9_.:-]{0,126}[A-Za-z0-9])?$`)

const gpusForm = `"all" or a list of GPU indices or UUIDs, like ["0", "1"]`

// UnmarshalTOML reads "all", or a list of strings and non-negative
// integers.
func (g *GPUs) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		if v != GPUAll {
			return fmt.Errorf("not %s: %q", gpusForm, v)
		}
		*g = GPUs{GPUAll}
		return nil
	case []any:
		out := make(GPUs, 0, len(v))
		for _, e := range v {
			var name string
			switch e := e.(type) {
			case string:
				name = e
			case int64:
				if e < 0 {
					return fmt.Errorf("not a GPU index: %d", e)
				}
				name = strconv.FormatInt(e, 10)
			default:
				return fmt.Errorf("not %s: a list holds %v", gpusForm, e)
			}
			out = append(out, name)
		}
		*g = out
		return nil
	}
	return fmt.Errorf("not %s: %v", gpusForm, v)
}

// SchemaType is the key's type as `config schema` prints it.
func (GPUs) SchemaType() string { return "string or list of strings" }

// Devices are the qualified CDI device names of g: GPUKind=NAME each.
func (g GPUs) Devices() []string {
	out := make([]string, 0, len(g))
	for _, n := range g {
		out = append(out, GPUKind+"="+n)
	}
	return out
}

// All reports whether g asks for every GPU.
func (g GPUs) All() bool { return len(g) == 1 && g[0] == GPUAll }

// Validate checks the names: "all" stands alone, each other is a CDI device
// name, none is listed twice.
func (g GPUs) Validate() error {
	seen := map[string]bool{}
	for _, n := range g {
		switch {
		case n == GPUAll && len(g) > 1:
			return fmt.Errorf(`"all" stands alone: gpus = "all"`)
		case !gpuName().MatchString(n):
			return fmt.Errorf("invalid GPU %q (an index like \"0\", a UUID like \"GPU-...\", or a MIG device like \"0:1\")", n)
		case seen[n]:
			return fmt.Errorf("GPU %q listed twice", n)
		}
		seen[n] = true
	}
	return nil
}
