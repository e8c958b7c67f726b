// Package bench measures terok's speed as ratios against the raw baseline
// in the same run (never as a pass/fail timing). Run it with bench/run.
package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/testenv"
)

var terok string // the built binary

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "terok-bench-")
	if err != nil {
		panic(err)
	}
	terok = filepath.Join(dir, "terok")
	if built := os.Getenv("TEROK_BENCH_BIN"); built != "" {
		// Built beforehand (bench/run's rootless part: a compiled test
		// binary run as another user, who has neither the source nor Go).
		// Linked, not copied: the warden runs as the terok-warden beside
		// the real terok binary.
		if err := os.Symlink(filepath.Join(built, "terok"), terok); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	} else if err := buildTerok(dir); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	for _, n := range []string{"terok-project", "terok-gate", "terok-image", "terok-task", "terok-shield"} {
		if err := os.Symlink("terok", filepath.Join(dir, n)); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	_ = os.RemoveAll(dir) // a temporary directory; the run's result stands
	os.Exit(code)
}

// benchTags are the build tags of terok's binaries (the Makefile's).
const benchTags = "remote containers_image_openpgp exclude_graphdriver_btrfs exclude_graphdriver_devicemapper"

// buildTerok builds terok and terok-warden into dir, stripped, as
// installed (terok-warden without inlining, as the Makefile builds it):
// the tasks' wardens run as terok-warden beside terok.
func buildTerok(dir string) error {
	for _, cmd := range []string{"terok", "terok-warden"} {
		args := []string{"build", "-tags", benchTags, "-trimpath", "-ldflags", "-s -w"}
		if cmd == "terok-warden" {
			args = append(args, "-gcflags=all=-l") // as the Makefile builds it
		}
		build := exec.Command("go", append(args, "-o", filepath.Join(dir, cmd), "../cmd/"+cmd)...)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building %s: %w", cmd, err)
		}
	}
	return nil
}

// pair runs the baseline and the measured command alternately b.N times
// each and reports both means and their ratio.
func pair(b *testing.B, env []string, base, measured []string) {
	b.Helper()
	pairN(b, b.N, env, base, measured)
}

// pairN is pair with a number of rounds of its own, for commands too slow
// to repeat b.N times.
func pairN(b *testing.B, rounds int, env []string, base, measured []string) {
	b.Helper()
	pairInspect(b, rounds, env, base, measured, nil)
}

// pairInspect is pairN that hands each measured run's output to inspect.
func pairInspect(b *testing.B, rounds int, env []string, base, measured []string, inspect func([]byte)) {
	b.Helper()
	var tb, tm time.Duration
	run := func(argv []string) (time.Duration, []byte) {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = env
		t0 := time.Now()
		out, err := cmd.CombinedOutput()
		d := time.Since(t0)
		if err != nil {
			b.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
		}
		return d, out
	}
	run(base)
	run(measured) // warm the page cache
	b.ResetTimer()
	for i := 0; i < rounds; i++ {
		d, _ := run(base)
		tb += d
		d, out := run(measured)
		tm += d
		if inspect != nil {
			inspect(out)
		}
	}
	n := float64(rounds)
	b.ReportMetric(float64(tb.Microseconds())/n/1000, "base-ms")
	b.ReportMetric(float64(tm.Microseconds())/n/1000, "terok-ms")
	b.ReportMetric(float64(tm)/float64(tb), "ratio")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkStartup: `terok --help` against `true` (goal: under 10 ms).
func BenchmarkStartup(b *testing.B) {
	truePath, _ := exec.LookPath("true")
	pair(b, os.Environ(), []string{truePath}, []string{terok, "--help"})
}

// BenchmarkProjectLs1000: `terok-project ls` over 1,000 projects (goal:
// under 50 ms), against `cat` of the same 1,000 project.toml files, the raw
// cost of reading them.
func BenchmarkProjectLs1000(b *testing.B) {
	root := stateRoot(b)
	env := append(os.Environ(), "TEROK_CONFIG_DIR="+root+"/config", "TEROK_STATE_DIR="+root+"/state",
		"TEROK_DATA_DIR="+root+"/data", "TEROK_RUNTIME_DIR="+root+"/run")
	var files []string
	for i := 0; i < 1000; i++ {
		name := fmt.Sprintf("project-%04d", i)
		dir := filepath.Join(root, "config", "projects", name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			b.Fatal(err)
		}
		f := filepath.Join(dir, "project.toml")
		if err := os.WriteFile(f, []byte(fmt.Sprintf("description = \"benchmark project %d\"\nupstream = \"https://example.com/%s.git\"\nbranch = \"main\"\n\n[image]\nagents = [\"command\", \"claude\"]\n", i, name)), 0o600); err != nil {
			b.Fatal(err)
		}
		files = append(files, f)
	}
	catPath, _ := exec.LookPath("cat")
	pair(b, env, append([]string{catPath}, files...), []string{filepath.Join(filepath.Dir(terok), "terok-project"), "ls", "--json"})
}

// BenchmarkBuildNoop: `terok-image build` of a project whose image exists
// (nothing to build: it finds each layer by its tag) against `podman image
// exists` of the same image, the least a check can cost.
func BenchmarkBuildNoop(b *testing.B) {
	podman, env, run := imageEnv(b)
	bin := filepath.Dir(terok)
	run(filepath.Join(bin, "terok-project"), "new", "bench", "--agents", "command")
	// The first build may build; what it prints names the image.
	var tag string
	sc := bufio.NewScanner(strings.NewReader(string(run(filepath.Join(bin, "terok-image"), "build", "bench"))))
	for sc.Scan() {
		var r struct{ Type, Image string }
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Type == "result" {
			tag = r.Image
		}
	}
	if tag == "" {
		b.Fatal("the build printed no result")
	}
	pair(b, env, []string{podman, "image", "exists", tag}, []string{filepath.Join(bin, "terok-image"), "build", "bench"})
	// The project's L2 goes; L0 and L1 stay, shared with other builds.
	_ = exec.Command(podman, "rmi", tag).Run() // tidying; the measurement is done
}

// imageEnv is what a benchmark that builds images needs: Podman, with the
// Debian base, and terok's directories under a temporary directory
// (removed when the benchmark ends), with a runner of commands there.
func imageEnv(b *testing.B) (podman string, env []string, run func(argv ...string) []byte) {
	podman = testenv.Tool(b, "podman", "podman")
	testenv.Need(b, exec.Command(podman, "image", "exists", "localhost/terok/debian:bookworm").Run() == nil,
		"no localhost/terok/debian:bookworm; run terok-image base")
	root, err := os.MkdirTemp("", "terok-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(root) }) // a temporary directory
	env = append(os.Environ(), "TEROK_CONFIG_DIR="+root+"/config", "TEROK_STATE_DIR="+root+"/state",
		"TEROK_DATA_DIR="+root+"/data", "TEROK_RUNTIME_DIR="+root+"/run", "TEROK_CACHE_DIR="+root+"/cache")
	if err := os.MkdirAll(root+"/config", 0o700); err != nil {
		b.Fatal(err)
	}
	// A service terok starts itself (no CONTAINER_HOST) does not linger.
	if err := os.WriteFile(root+"/config/config.toml", []byte("[podman]\nservice_idle = \"30s\"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	run = func(argv ...string) []byte {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			b.Fatalf("%s: %v\n%s%s", strings.Join(argv, " "), err, out, stderr)
		}
		return out
	}
	return podman, env, run
}

// stateRoot is a temporary directory for a benchmark's TEROK_*_DIR trees.
// A Podman service that terok starts under its runtime directory (when no
// CONTAINER_HOST is set, as for a rootless user) is stopped when the
// benchmark ends, after its own clean-ups: left alone, it would idle on for
// 300 s with its directory gone.
func stateRoot(b *testing.B) string {
	root := b.TempDir()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := engine.StopServiceAt(ctx, filepath.Join(root, "run", "podman", "podman.sock")); err != nil {
			b.Errorf("stopping terok's Podman service: %v", err)
		}
	})
	return root
}
