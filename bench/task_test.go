package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkTaskRun: `terok-task run --agent command true` end to end
// (record, token, volume, hardened container, warden, clone from the gate,
// wait, exit code) against `podman run --rm` of the same image running
// `true` (goal: under 1.5x). Each round creates a task; they are removed
// afterwards.
func BenchmarkTaskRun(b *testing.B) {
	if _, err := exec.LookPath("podman"); err != nil {
		b.Skip("podman is not installed")
	}
	root := b.TempDir()
	env := append(os.Environ(), "TEROK_CONFIG_DIR="+root+"/config", "TEROK_STATE_DIR="+root+"/state",
		"TEROK_DATA_DIR="+root+"/data", "TEROK_RUNTIME_DIR="+root+"/run")
	bin := filepath.Dir(terok)
	run := func(args ...string) string {
		cmd := exec.Command(filepath.Join(bin, args[0]), args[1:]...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("%v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("terok-project", "new", "bench", "--agents", "command")
	out := run("terok-image", "build", "bench")
	image := ""
	for _, l := range strings.Split(out, "\n") {
		if i := strings.Index(l, `"image":"`); i >= 0 && strings.Contains(l, `"type":"result"`) {
			image = strings.SplitN(l[i+9:], `"`, 2)[0]
		}
	}
	if image == "" {
		b.Fatalf("no image in %s", out)
	}
	podman, _ := exec.LookPath("podman")
	b.Cleanup(func() {
		ids := run("terok-task", "ls", "-q")
		cmd := exec.Command(filepath.Join(bin, "terok-task"), "rm", "--yes", "--force", "-")
		cmd.Env, cmd.Stdin = env, strings.NewReader(ids)
		cmd.Run()
	})
	// Ten rounds whatever -benchtime says: each makes a container and a task.
	pairN(b, min(b.N, 10), env, []string{podman, "run", "--rm", image, "true"},
		[]string{filepath.Join(bin, "terok-task"), "run", "bench", "--agent", "command", "true"})
}
