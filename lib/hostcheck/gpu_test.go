package hostcheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A spec like nvidia-ctk's (YAML), with devices 0 and all, whose nodes are
// paths that exist (or not) on this host.
func gpuSpec(node string) string {
	return `cdiVersion: 0.5.0
kind: nvidia.com/gpu
devices:
- name: "0"
  containerEdits:
    deviceNodes:
    - path: ` + node + `
- name: all
  containerEdits:
    deviceNodes:
    - path: ` + node + `
containerEdits:
  env:
  - NVIDIA_VISIBLE_DEVICES=void
  deviceNodes:
  - path: /dev/null
`
}

func writeSpec(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCheckGPU(t *testing.T) {
	type want struct {
		status Status
		detail []string // each in the detail
		fix    string   // in the fix
	}
	for _, tc := range []struct {
		name  string
		files map[string]string // dir/file: content
		needs map[string][]string
		want  want
	}{
		{"nothing", nil, nil, want{OK, []string{"no project asks for GPUs"}, ""}},
		{"a spec, no project asks", map[string]string{"etc/nvidia.yaml": gpuSpec("/dev/zero")}, nil,
			want{OK, []string{"no project asks for GPUs", "provide nvidia.com/gpu: 0, all"}, ""}},
		{"a project asks, no spec", nil, map[string][]string{"p": {"nvidia.com/gpu=all"}},
			want{Fail, []string{"project p asks for nvidia.com/gpu=all, which no CDI spec"}, "nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml"}},
		{"a project asks for what the spec has", map[string]string{"run/nvidia.json": `{"cdiVersion":"0.5.0","kind":"nvidia.com/gpu","devices":[{"name":"all","containerEdits":{"deviceNodes":[{"path":"/dev/zero"}]}}]}`},
			map[string][]string{"p": {"nvidia.com/gpu=all"}, "q": nil},
			want{OK, []string{"provide nvidia.com/gpu: all", "asked for by p"}, ""}},
		{"a project asks for a GPU the spec lacks", map[string]string{"etc/nvidia.yaml": gpuSpec("/dev/zero")},
			map[string][]string{"p": {"nvidia.com/gpu=0", "nvidia.com/gpu=1"}},
			want{Fail, []string{"project p asks for nvidia.com/gpu=1, which"}, "nvidia-ctk"}},
		{"another kind is not a GPU", map[string]string{"etc/other.yaml": strings.ReplaceAll(gpuSpec("/dev/zero"), "nvidia.com/gpu", "example.com/thing")},
			map[string][]string{"p": {"nvidia.com/gpu=0"}},
			want{Fail, []string{"asks for nvidia.com/gpu=0, which no CDI spec"}, ""}},
		{"a device node is missing", map[string]string{"etc/nvidia.yaml": gpuSpec("/dev/terok-no-such-node")},
			map[string][]string{"p": {"nvidia.com/gpu=all"}},
			want{Fail, []string{"device nodes the specs name are missing on the host: /dev/terok-no-such-node"}, ""}},
		{"a device node is missing, no project asks", map[string]string{"etc/nvidia.yaml": gpuSpec("/dev/terok-no-such-node")}, nil,
			want{Warn, []string{"missing on the host: /dev/terok-no-such-node", "no project asks for GPUs"}, "regenerate"}},
		{"a broken spec", map[string]string{"etc/nvidia.yaml": "kind: [\n", "etc/notes.txt": "not read"}, nil,
			want{Warn, []string{"unreadable CDI spec", "nvidia.yaml: not a CDI spec"}, ""}},
		{"the dynamic directory overrides", map[string]string{"etc/nvidia.yaml": gpuSpec("/dev/terok-no-such-node"),
			"run/nvidia.yaml": gpuSpec("/dev/zero")}, map[string][]string{"p": {"nvidia.com/gpu=0"}},
			want{OK, []string{"asked for by p"}, ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for f, body := range tc.files {
				writeSpec(t, filepath.Join(root, filepath.Dir(f)), filepath.Base(f), body)
			}
			r := checkGPU(&GPUProbe{Needs: tc.needs, SpecDirs: []string{filepath.Join(root, "etc"), filepath.Join(root, "run")}})
			if r.Check != "gpu" || r.Status != tc.want.status || !strings.Contains(r.Fix, tc.want.fix) {
				t.Fatalf("got %+v, want %s with fix %q", r, tc.want.status, tc.want.fix)
			}
			for _, d := range tc.want.detail {
				if !strings.Contains(r.Detail, d) {
					t.Errorf("detail %q lacks %q", r.Detail, d)
				}
			}
		})
	}
}
