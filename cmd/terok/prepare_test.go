package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A rootless terok-image build leaves the engine's copy of the project's
// image under the tasks' mapping (task.Runner.PrepareImage), so that the
// user's first task does not make it; as root there is nothing to prepare.
// The copy is the image's mapped top layer in the storage's own record.
func TestImagePreparedForTasks(t *testing.T) {
	e := newTaskEnv(t)
	project := fmt.Sprintf("tprep%d", time.Now().UnixNano()%1e6)
	e.must("terok-project", "new", project, "--agents", "command")
	e.must("terok-image", "build", project)
	var img struct {
		ID  string `json:"id"`
		Tag string `json:"tag"`
	}
	for _, l := range strings.Split(strings.TrimSpace(e.must("terok-image", "ls", "--layer", "l2", "--project", project)), "\n") {
		if err := json.Unmarshal([]byte(l), &img); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
	}
	if img.ID == "" {
		t.Fatal("terok-image ls lists no L2 of the project")
	}
	t.Cleanup(func() { _, _, _ = e.run("", "terok-image", "rm", img.Tag) })
	cmd := exec.Command("podman", "--remote", "info", "--format", "{{.Store.GraphRoot}} {{.Store.GraphDriverName}}")
	cmd.Env = e.env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("podman info: %v", err)
	}
	root, driver, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	data, err := os.ReadFile(filepath.Join(root, driver+"-images", "images.json"))
	if err != nil {
		t.Fatal(err)
	}
	var recs []struct {
		ID     string   `json:"id"`
		Mapped []string `json:"mapped-layers"`
	}
	if err := json.Unmarshal(data, &recs); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range recs {
		if r.ID != img.ID {
			continue
		}
		found = true
		switch rootless := os.Getuid() != 0; {
		case rootless && len(r.Mapped) == 0:
			t.Errorf("rootless: the build left no copy of %s under the tasks' mapping", img.Tag)
		case !rootless && len(r.Mapped) != 0:
			t.Errorf("root: the build made copies of %s (%v); root's tasks are mapped by the kernel", img.Tag, r.Mapped)
		}
	}
	if !found {
		t.Fatalf("%s is not in the storage's record of images", img.ID)
	}
	// The container that made the copy is gone.
	cmd = exec.Command("podman", "--remote", "ps", "-a", "-q", "--filter", "ancestor="+img.ID)
	cmd.Env = e.env
	if out, err := cmd.Output(); err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("containers of %s after the build: %q %v", img.Tag, out, err)
	}
}
