package task

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/config"
)

// run.gpus becomes CDI device names in the hardening (shown by show, an
// opt-out on record) and in the container's spec, where the engine takes a
// qualified name as a CDI device.
func TestGPUsBecomeCDIDevices(t *testing.T) {
	for _, tc := range []struct {
		name string
		gpus config.GPUs
		want []string
	}{
		{"none", nil, []string{}},
		{"empty list", config.GPUs{}, []string{}},
		{"all", config.GPUs{"all"}, []string{"nvidia.com/gpu=all"}},
		{"two", config.GPUs{"0", "1"}, []string{"nvidia.com/gpu=0", "nvidia.com/gpu=1"}},
		{"uuid", config.GPUs{"GPU-6a1b9c3e"}, []string{"nvidia.com/gpu=GPU-6a1b9c3e"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := config.DefaultProject()
			p.Run.GPUs = tc.gpus
			for _, rootless := range []bool{false, true} {
				h := HardeningFor(config.DefaultGlobal(), p, rootless)
				if !reflect.DeepEqual(h.Devices, tc.want) {
					t.Fatalf("devices %q, want %q", h.Devices, tc.want)
				}
				var optOuts []string
				for _, d := range tc.want {
					optOuts = append(optOuts, "run.gpus: "+d)
				}
				if len(optOuts) == 0 {
					optOuts = []string{}
				}
				if !reflect.DeepEqual(h.OptOuts, optOuts) {
					t.Fatalf("opt-outs %q, want %q", h.OptOuts, optOuts)
				}
				s := Spec(Container{Name: "x", Image: "i"}, h)
				var paths []string
				for _, d := range s.Devices {
					if d.Type != "" || d.FileMode != nil || d.UID != nil {
						t.Fatalf("a CDI device carries more than its name: %+v", d)
					}
					paths = append(paths, d.Path)
				}
				if len(tc.want) == 0 && len(paths) == 0 {
					continue
				}
				if !reflect.DeepEqual(paths, tc.want) {
					t.Fatalf("spec devices %q, want %q", paths, tc.want)
				}
			}
		})
	}
}

// Podman's refusal of a CDI device no spec provides becomes one readable
// line naming the devices, with the fix as the hint; other errors stay.
func TestGPUError(t *testing.T) {
	err := gpuError(errors.New("setting up CDI devices: unresolvable CDI devices nvidia.com/gpu=1, nvidia.com/gpu=GPU-x"))
	var ge *GPUError
	if !errors.As(err, &ge) || !reflect.DeepEqual(ge.Devices, []string{"nvidia.com/gpu=1", "nvidia.com/gpu=GPU-x"}) {
		t.Fatalf("got %#v", err)
	}
	if want := "no CDI spec on this host provides nvidia.com/gpu=1, nvidia.com/gpu=GPU-x, which the project asks for (run.gpus)"; err.Error() != want {
		t.Fatalf("got %q", err)
	}
	if !strings.Contains(ge.Hint(), "nvidia-ctk cdi generate") {
		t.Fatalf("hint %q", ge.Hint())
	}
	if gpuError(errors.New("OCI runtime error")) != nil {
		t.Fatal("another error taken for a GPU's")
	}
}

// A login's container handles a credential: it gets no GPU, whatever the
// project asks for its tasks.
func TestLoginGetsNoGPU(t *testing.T) {
	p := config.DefaultProject()
	p.Run.GPUs = config.GPUs{"all"}
	if h := HardeningFor(config.DefaultGlobal(), loginProject(p), false); len(h.Devices) != 0 || len(h.OptOuts) != 0 {
		t.Fatalf("a login's hardening: %+v", h)
	}
}
