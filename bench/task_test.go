package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/task"
	"github.com/terok-ai/terok-go/lib/testenv"
)

// BenchmarkTaskRun: `terok-task run --agent command true` end to end
// (record, token, volume, hardened container, warden, clone from the gate,
// wait, exit code) against `podman run --rm --init` of the same image
// running `true` (a task's container runs under an init too; goal: within
// 1.15x as root, 1.3x rootless), as a person runs it: the local podman, not
// a client of an API service (CONTAINER_HOST, which the test run sets, makes
// podman a remote client, some 150 ms slower here). Each round creates a
// task; they are removed afterwards. Run as an unprivileged user (bench/run
// does, as the rootless user it is given) it measures the rootless path:
// the user's own Podman, the warden in its user namespace. As root it
// also times the shield's OCI hook, as registered, on its own (hook-ms).
func BenchmarkTaskRun(b *testing.B) {
	tp := newTaskProject(b)
	env, bin, image := tp.env, tp.bin, tp.image
	podman, _ := exec.LookPath("podman")
	// Ten rounds whatever -benchtime says: each makes a container and a task.
	// terok-task reports its phases (TEROK_TRACE=1): where the time goes.
	rounds := min(b.N, 10)
	phases := map[string]float64{}
	pairInspect(b, rounds, append(env, "TEROK_TRACE=1"),
		[]string{"env", "-u", "CONTAINER_HOST", "-u", "CONTAINER_CONNECTION", podman, "run", "--rm", "--init", image, "true"},
		[]string{filepath.Join(bin, "terok-task"), "run", "bench", "--agent", "command", "true"},
		func(out []byte) { tracePhases(out, phases) })
	for p, ms := range phases {
		b.ReportMetric(ms/float64(rounds), p+"-ms")
	}
	// The shield's OCI hook on its own, as registered (part of attach):
	// which binary it runs shows here (terok, or its own terok-shield-hook).
	if os.Getuid() == 0 {
		b.ReportMetric(hookMs(b, rounds), "hook-ms")
	}
}

// hookMs is the mean time, in ms, of the registered OCI hook's run over
// rounds runs, fed a task container's state for a network namespace of
// its own (unshare -n): its start and the ruleset's load and verification.
func hookMs(b *testing.B, rounds int) float64 {
	_, bin, err := shield.FindHook()
	if err != nil {
		b.Fatal(err)
	}
	ns := exec.Command("unshare", "-n", "sleep", "600")
	if err := ns.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = ns.Process.Kill(); _ = ns.Wait() }()
	// Until unshare has made the namespace, the process is in the host's
	// (and the hook refuses it: fulltest23).
	host, _ := os.Readlink("/proc/self/ns/net")
	for i := 0; ; i++ {
		if n, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", ns.Process.Pid)); err == nil && n != host {
			break
		}
		if i == 200 {
			b.Fatal("unshare -n made no network namespace in 2 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	state := fmt.Sprintf(`{"ociVersion":"1.0.2","id":"bench","status":"creating","pid":%d,"annotations":{%q:%q}}`,
		ns.Process.Pid, shield.Annotation, task.NewID())
	var total time.Duration
	for range rounds {
		cmd := exec.Command(bin)
		cmd.Args = []string{shield.HookCommand, "hook"} // the registration's
		cmd.Stdin = strings.NewReader(state)
		t0 := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("the hook %s: %v\n%s", bin, err, out)
		}
		total += time.Since(t0)
	}
	return float64(total.Microseconds()) / 1000 / float64(rounds)
}

// BenchmarkFirstTask: a project's first task after its image is built, as
// a new user's is: a project whose L2 is new (a snippet of its own),
// `terok-image build`, then one `terok-task run --agent command true`
// (first-ms, with its phases) against one `podman run --rm --init` of the
// same image. Rootless, the first container of an image under the tasks'
// user ids once cost a copy of the whole image (11-15 s here); the build
// now makes it (its time is in build-ms). The image is removed afterwards.
func BenchmarkFirstTask(b *testing.B) {
	podman := testenv.Tool(b, "podman", "podman")
	root := stateRoot(b)
	env := append(os.Environ(), "TEROK_CONFIG_DIR="+root+"/config", "TEROK_STATE_DIR="+root+"/state",
		"TEROK_DATA_DIR="+root+"/data", "TEROK_RUNTIME_DIR="+root+"/run")
	bin := filepath.Dir(terok)
	run := func(args ...string) (string, time.Duration) {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = env
		t0 := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("%v: %v\n%s", args, err, out)
		}
		return string(out), time.Since(t0)
	}
	run(filepath.Join(bin, "terok-project"), "new", "first", "--agents", "command")
	toml := filepath.Join(root, "config", "projects", "first", "project.toml")
	data, err := os.ReadFile(toml)
	if err != nil {
		b.Fatal(err)
	}
	snippet := fmt.Sprintf("[image]\nsnippet = \"RUN echo %d > /etc/terok-bench-first\"", time.Now().UnixNano())
	if err := os.WriteFile(toml, []byte(strings.Replace(string(data), "[image]", snippet, 1)), 0o600); err != nil {
		b.Fatal(err)
	}
	out, build := run(filepath.Join(bin, "terok-image"), "build", "first")
	var image string
	for _, l := range strings.Split(out, "\n") {
		if i := strings.Index(l, `"image":"`); i >= 0 && strings.Contains(l, `"type":"result"`) {
			image = strings.SplitN(l[i+9:], `"`, 2)[0]
		}
	}
	if image == "" {
		b.Fatalf("no image in %s", out)
	}
	b.Cleanup(func() {
		ids, _ := run(filepath.Join(bin, "terok-task"), "ls", "-q")
		cmd := exec.Command(filepath.Join(bin, "terok-task"), "rm", "--yes", "--force", "-")
		cmd.Env, cmd.Stdin = env, strings.NewReader(ids)
		_ = cmd.Run() // tidying; the measurement is done
		_ = exec.Command(podman, "rmi", image).Run()
	})
	b.ResetTimer()
	out, first := run(append([]string{"env", "TEROK_TRACE=1"}, filepath.Join(bin, "terok-task"), "run", "first", "--agent", "command", "true")...)
	_, base := run("env", "-u", "CONTAINER_HOST", "-u", "CONTAINER_CONNECTION", podman, "run", "--rm", "--init", image, "true")
	phases := map[string]float64{}
	tracePhases([]byte(out), phases)
	for p, ms := range phases {
		b.ReportMetric(ms, p+"-ms")
	}
	b.ReportMetric(float64(build.Milliseconds()), "build-ms")
	b.ReportMetric(float64(first.Milliseconds()), "first-ms")
	b.ReportMetric(float64(base.Milliseconds()), "base-ms")
	b.ReportMetric(float64(first)/float64(base), "ratio")
	b.ReportMetric(0, "ns/op")
}

// tracePhases adds up the phases a command reports with TEROK_TRACE=1
// ("PROG trace PHASE MS" lines) into phases.
func tracePhases(out []byte, phases map[string]float64) {
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 4 && f[1] == "trace" {
			if ms, err := strconv.ParseFloat(f[3], 64); err == nil {
				phases[f[2]] += ms
			}
		}
	}
}

// taskProject is a project "bench" with its image built, in a state tree
// of the benchmark's own; its tasks are removed at cleanup.
type taskProject struct {
	env   []string
	bin   string // the directory of the terok-* links
	image string
	run   func(args ...string) string
}

func newTaskProject(b *testing.B) taskProject {
	if _, err := exec.LookPath("podman"); err != nil {
		b.Skip("podman is not installed")
	}
	root := stateRoot(b)
	tp := taskProject{bin: filepath.Dir(terok), env: append(os.Environ(), "TEROK_CONFIG_DIR="+root+"/config",
		"TEROK_STATE_DIR="+root+"/state", "TEROK_DATA_DIR="+root+"/data", "TEROK_RUNTIME_DIR="+root+"/run")}
	tp.run = func(args ...string) string {
		cmd := exec.Command(filepath.Join(tp.bin, args[0]), args[1:]...)
		cmd.Env = tp.env
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("%v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	tp.run("terok-project", "new", "bench", "--agents", "command")
	out := tp.run("terok-image", "build", "bench")
	for _, l := range strings.Split(out, "\n") {
		if i := strings.Index(l, `"image":"`); i >= 0 && strings.Contains(l, `"type":"result"`) {
			tp.image = strings.SplitN(l[i+9:], `"`, 2)[0]
		}
	}
	if tp.image == "" {
		b.Fatalf("no image in %s", out)
	}
	b.Cleanup(func() {
		ids := tp.run("terok-task", "ls", "-q")
		cmd := exec.Command(filepath.Join(tp.bin, "terok-task"), "rm", "--yes", "--force", "-")
		cmd.Env, cmd.Stdin = tp.env, strings.NewReader(ids)
		_ = cmd.Run() // tidying; the measurement is done
	})
	return tp
}

// BenchmarkTaskLs1000: `terok-task ls` over 1,000 task records (goal: under
// 100 ms), against `cat` of the same 1,000 records, the raw cost of reading
// them. ls also asks Podman once for the live state of every task's
// container; these tasks have none (they show as missing).
func BenchmarkTaskLs1000(b *testing.B) {
	testenv.Tool(b, "podman", "podman")
	root := stateRoot(b)
	env := append(os.Environ(), "TEROK_CONFIG_DIR="+root+"/config", "TEROK_STATE_DIR="+root+"/state",
		"TEROK_DATA_DIR="+root+"/data", "TEROK_RUNTIME_DIR="+root+"/run")
	st := task.Store{Dir: filepath.Join(root, "state", "tasks")}
	if err := os.MkdirAll(st.Dir, 0o700); err != nil {
		b.Fatal(err)
	}
	var files []string
	for i := range 1000 {
		rec := task.Record{Project: fmt.Sprintf("bench%d", i%10), Agent: "command", Mode: task.Headless,
			BaseBranch: "main", Image: "localhost/terok/l2-bench:0123456789ab", Created: time.Now().UTC(),
			Hardening: task.HardeningFor(config.DefaultGlobal(), config.DefaultProject(), false)}
		if err := st.Create(&rec); err != nil {
			b.Fatal(err)
		}
		files = append(files, filepath.Join(st.Dir, rec.ID+".json"))
	}
	catPath, _ := exec.LookPath("cat")
	pair(b, env, append([]string{catPath}, files...), []string{filepath.Join(filepath.Dir(terok), "terok-task"), "ls", "--json"})
}
