package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/specgen"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/testenv"
)

// These tests run the real Podman. Outside CI they skip, saying why, when
// a prerequisite is missing; with CI=true a missing prerequisite fails.

// needPodman checks that podman is installed and a probe image exists,
// returning the image.
func needPodman(t testing.TB) string {
	t.Helper()
	_, err := exec.LookPath("podman")
	testenv.Need(t, err == nil, "podman is not installed")
	for _, img := range ProbeImages {
		if exec.Command("podman", "image", "exists", img).Run() == nil {
			return img
		}
	}
	testenv.Need(t, false, "no probe image ("+strings.Join(ProbeImages, " or ")+"); run scripts/setup-host")
	return ""
}

// privateOptions returns Options that cannot reach any Podman service but
// the one terok starts under a private TEROK_RUNTIME_DIR.
func privateOptions(t *testing.T) Options {
	t.Helper()
	// A short path: a unix socket's path is limited to 107 bytes.
	dir, err := os.MkdirTemp("", "terok-engine-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	t.Setenv("TEROK_RUNTIME_DIR", filepath.Join(dir, "run"))
	t.Setenv("CONTAINER_HOST", "")
	paths, err := config.ResolvePaths(os.Getenv, os.Getuid())
	if err != nil {
		t.Fatal(err)
	}
	opts := OptionsFromConfig(paths, config.DefaultGlobal(), os.Getenv)
	opts.DefaultSocket = filepath.Join(dir, "no-default.sock")
	opts.ServiceIdle = time.Minute
	return opts
}

// stopOnCleanup stops the service on the socket when the test ends, in
// case the test failed before stopping it.
func stopOnCleanup(t *testing.T, socket string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := StopServiceAt(ctx, socket); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
}

func TestConnectStartsOwnServiceRunsProbeAndStops(t *testing.T) {
	image := needPodman(t)
	opts := privateOptions(t)
	stopOnCleanup(t, opts.ServiceSocket)
	ctx := t.Context()

	began := time.Now()
	e, err := Connect(ctx, opts)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Logf("Connect starting the service took %s", time.Since(began))
	if !e.StartedService() || e.ServicePID() <= 0 || e.Source() != "terok" {
		t.Fatalf("want a service started by terok, got started=%v pid=%d source=%q", e.StartedService(), e.ServicePID(), e.Source())
	}
	if want := "unix://" + opts.ServiceSocket; e.URI() != want {
		t.Errorf("URI = %q, want %q", e.URI(), want)
	}
	if pid := readPIDFile(t, opts.ServiceSocket); pid != e.ServicePID() {
		t.Errorf("pid file says %d, engine says %d", pid, e.ServicePID())
	}
	v, err := e.Version(ctx)
	if err != nil || v.Podman == "" || v.API == "" || e.APIVersion() == "" {
		t.Errorf("no version: %+v, %v (API %q)", v, err, e.APIVersion())
	}
	h, err := e.Host(ctx)
	if err != nil || h.Rootless != (os.Geteuid() != 0) || h.OCIRuntime == "" {
		t.Errorf("Host() = %+v, %v as uid %d", h, err, os.Geteuid())
	}
	t.Logf("podman %+v host %+v", v, h)
	// The fast answer (the socket's peer) agrees with the engine's own.
	if r, err := e.Rootless(ctx); err != nil || r != h.Rootless {
		t.Errorf("Rootless() = %v, %v; the engine says %v", r, err, h.Rootless)
	}

	again := connectAgainWhileUp(t, opts)
	defer again.Close()

	p, err := e.RunProbe(ctx, image, "sh", "-c", "echo hello from the probe; echo to stderr >&2; exit 3")
	if err != nil {
		t.Fatalf("RunProbe: %v", err)
	}
	t.Logf("probe took %s", p.Took)
	if p.ExitCode != 3 || !strings.Contains(p.Output, "hello from the probe") || !strings.Contains(p.Output, "to stderr") {
		t.Errorf("probe = exit %d, output %q; want exit 3 and both lines", p.ExitCode, p.Output)
	}
	assertContainerGone(t, e, p.Name)

	_, err = e.RunProbe(ctx, image, "/no/such/command")
	var pe *ProbeError
	if !errors.As(err, &pe) || pe.Stage != "starting" {
		t.Fatalf("probe of a missing command: want a ProbeError at starting, got %v", err)
	}
	t.Logf("expected start failure: %v", err)
	assertContainerGone(t, e, pe.Container)

	removeLeftoverProbe(t, e, image)

	pid := e.ServicePID()
	if err := e.StopService(context.Background()); err != nil {
		t.Fatalf("StopService: %v", err)
	}
	assertServiceGone(t, opts.ServiceSocket, pid)
}

// connectAgainWhileUp connects with the same options while terok's service
// runs: it must reuse it, quickly.
func connectAgainWhileUp(t *testing.T, opts Options) *Engine {
	t.Helper()
	began := time.Now()
	e, err := Connect(t.Context(), opts)
	if err != nil {
		t.Fatalf("second Connect: %v", err)
	}
	t.Logf("Connect to the running service took %s", time.Since(began))
	if e.StartedService() || e.Source() != "terok" {
		t.Errorf("second Connect: started=%v source=%q; want the running service reused", e.StartedService(), e.Source())
	}
	return e
}

func TestConcurrentConnectStartsOneService(t *testing.T) {
	needPodman(t)
	opts := privateOptions(t)
	stopOnCleanup(t, opts.ServiceSocket)

	const n = 6
	engines := make([]*Engine, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			engines[i], errs[i] = Connect(t.Context(), opts)
		}()
	}
	wg.Wait()
	var starters []*Engine
	for i, e := range engines {
		if errs[i] != nil {
			t.Fatalf("Connect %d: %v", i, errs[i])
		}
		if e.StartedService() {
			starters = append(starters, e)
		}
	}
	if len(starters) != 1 {
		t.Fatalf("%d of %d concurrent Connects started a service; want exactly 1", len(starters), n)
	}
	for _, e := range engines {
		if e != starters[0] {
			e.Close()
		}
	}
	pid := starters[0].ServicePID()
	if err := starters[0].StopService(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertServiceGone(t, opts.ServiceSocket, pid)
}

// TestConcurrentProcessesStartOneService is the real case: several terok
// commands, each its own process, connecting at once.
func TestConcurrentProcessesStartOneService(t *testing.T) {
	needPodman(t)
	opts := privateOptions(t)
	stopOnCleanup(t, opts.ServiceSocket)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	outs := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(exe, "-test.run=^TestConnectHelperProcess$")
			cmd.Env = append(os.Environ(), "TEROK_ENGINE_HELPER="+helperArgs(opts))
			outs[i], errs[i] = cmd.Output()
		}()
	}
	wg.Wait()
	started, pids := 0, map[int]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("helper %d: %v\n%s", i, errs[i], outs[i])
		}
		r := parseHelperResult(t, outs[i])
		if r.Started {
			started++
			pids[r.PID] = true
		}
	}
	if started != 1 {
		t.Fatalf("%d of %d processes started a service; want exactly 1", started, n)
	}
	pid := readPIDFile(t, opts.ServiceSocket)
	if !pids[pid] {
		t.Errorf("pid file says %d; the starter said %v", pid, pids)
	}
	if err := StopServiceAt(context.Background(), opts.ServiceSocket); err != nil {
		t.Fatal(err)
	}
	assertServiceGone(t, opts.ServiceSocket, pid)
}

type helperResult struct {
	Started bool `json:"started"`
	PID     int  `json:"pid"`
}

func helperArgs(o Options) string {
	b, _ := json.Marshal([]string{o.Socket, o.DefaultSocket, o.ServiceSocket})
	return string(b)
}

func parseHelperResult(t *testing.T, out []byte) helperResult {
	t.Helper()
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "HELPER "); ok {
			var r helperResult
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				t.Fatal(err)
			}
			return r
		}
	}
	t.Fatalf("helper printed no result:\n%s", out)
	return helperResult{}
}

// TestConnectHelperProcess is not a test: it is the body of one helper
// process of TestConcurrentProcessesStartOneService.
func TestConnectHelperProcess(t *testing.T) {
	arg := os.Getenv("TEROK_ENGINE_HELPER")
	if arg == "" {
		t.Skip("helper process only")
	}
	var s []string
	if err := json.Unmarshal([]byte(arg), &s); err != nil {
		t.Fatal(err)
	}
	opts := Options{Socket: s[0], DefaultSocket: s[1], ServiceSocket: s[2], ServiceIdle: time.Minute}
	e, err := Connect(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	b, _ := json.Marshal(helperResult{Started: e.StartedService(), PID: e.ServicePID()})
	fmt.Printf("HELPER %s\n", b)
}

// removeLeftoverProbe leaves a probe container behind, as a killed run
// would, and checks that RemoveProbes finds and removes it once it is old
// enough (and not before: a young one may be another command's probe).
func removeLeftoverProbe(t *testing.T, e *Engine, image string) {
	t.Helper()
	s := specgen.NewSpecGenerator(image, false)
	s.Name = "terok-probe-leftover-" + strconv.Itoa(os.Getpid())
	s.Command = []string{"true"}
	s.Labels = map[string]string{ProbeLabel: "1"}
	if _, err := containers.CreateWithSpec(e.Context(), s, nil); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.removeProbe(e.Context(), s.Name) }()
	if _, err := e.RemoveProbes(t.Context(), time.Hour); err != nil {
		t.Fatal(err)
	}
	if ok, _ := containers.Exists(e.Context(), s.Name, nil); !ok {
		t.Fatal("RemoveProbes removed a young probe")
	}
	time.Sleep(1100 * time.Millisecond)
	n, err := e.RemoveProbes(t.Context(), time.Second)
	if err != nil || n < 1 {
		t.Fatalf("RemoveProbes = %d, %v", n, err)
	}
	assertContainerGone(t, e, s.Name)
}

func readPIDFile(t *testing.T, socket string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(filepath.Dir(socket), PIDFileName))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func assertContainerGone(t *testing.T, e *Engine, name string) {
	t.Helper()
	ok, err := containers.Exists(e.Context(), name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Errorf("probe container %s was left behind", name)
	}
}

// assertServiceGone checks that the service is stopped: its process ended,
// its socket and PID file removed, and nothing answers there.
func assertServiceGone(t *testing.T, socket string, pid int) {
	t.Helper()
	if isServiceProcess(pid, socket) {
		t.Errorf("service pid %d still runs", pid)
	}
	for _, p := range []string{socket, filepath.Join(filepath.Dir(socket), PIDFileName)} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still exists (%v)", p, err)
		}
	}
	if err := Ping(context.Background(), socket, time.Second); err == nil {
		t.Errorf("something still answers on %s", socket)
	}
}
