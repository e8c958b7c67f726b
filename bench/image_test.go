package bench

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkImageSizes: the images of a `command` project and of a `claude`
// project, in MB above the base image (goals: the command project under
// 60 MB; the claude project no more than Claude Code's own install plus
// 60 MB), with the base's size, L0's, and what Claude Code's step adds to
// L1 (terok-image usage's agent row). Each project is built first (the
// claude one installs from the npm registry: minutes, the first time);
// the timed part is one `terok-image usage`, which reads those sizes.
func BenchmarkImageSizes(b *testing.B) {
	podman, _, run := imageEnv(b)
	const base = "localhost/terok/debian:bookworm"
	bin := filepath.Dir(terok)
	size := func(image string) float64 {
		out := run(podman, "image", "inspect", "--format", "{{.Size}}", image)
		n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		if err != nil {
			b.Fatalf("size of %s: %q", image, out)
		}
		return float64(n) / 1e6
	}
	// build builds a project of one agent and returns its image and L0.
	build := func(project, agent string) (image, l0 string) {
		run(filepath.Join(bin, "terok-project"), "new", project, "--agents", agent)
		t0 := time.Now()
		sc := bufio.NewScanner(strings.NewReader(string(run(filepath.Join(bin, "terok-image"), "build", project))))
		for sc.Scan() {
			var r struct{ Type, Image, L0 string }
			if json.Unmarshal(sc.Bytes(), &r) == nil && r.Type == "result" {
				image, l0 = r.Image, r.L0
			}
		}
		if image == "" {
			b.Fatalf("the build of %s printed no result", project)
		}
		b.Logf("%s (%s): built in %s", project, agent, time.Since(t0).Round(time.Second))
		return image, l0
	}
	cmdImage, l0 := build("benchcmd", "command")
	claudeImage, _ := build("benchclaude", "claude")
	// The projects' L2s go; L0 and L1 stay, shared with other builds.
	defer func() { _ = exec.Command(podman, "rmi", cmdImage, claudeImage).Run() }() // tidying; the measurement is done

	baseMB := size(base)
	// What Claude Code's step adds to its L1, as usage reports it.
	var claudeMB float64
	// One usage a run, whatever b.N: it lists every image in the storage
	// and reads each L1's history, which takes seconds on a shared one.
	b.ResetTimer()
	t0 := time.Now()
	sc := bufio.NewScanner(strings.NewReader(string(run(filepath.Join(bin, "terok-image"), "usage"))))
	for sc.Scan() {
		var u struct {
			Kind, Name string
			Bytes      int64
		}
		if json.Unmarshal(sc.Bytes(), &u) == nil && u.Kind == "agent" && u.Name == "claude" {
			claudeMB = float64(u.Bytes) / 1e6
		}
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	if claudeMB == 0 {
		b.Fatal("terok-image usage reports no step for claude")
	}
	cmdMB, claudeProjectMB := size(cmdImage)-baseMB, size(claudeImage)-baseMB
	b.ReportMetric(baseMB, "base-MB")
	b.ReportMetric(size(l0)-baseMB, "l0-MB")
	b.ReportMetric(cmdMB, "command-MB")
	b.ReportMetric(claudeProjectMB, "claude-MB")
	b.ReportMetric(claudeMB, "claude-install-MB")
	b.ReportMetric(claudeProjectMB-claudeMB, "claude-overhead-MB")
	b.ReportMetric(float64(elapsed.Microseconds())/1000, "usage-ms")
	b.ReportMetric(0, "ns/op")
}
