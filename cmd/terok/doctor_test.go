package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containers/podman/v5/pkg/specgen"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/hostcheck"
	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/task"
)

// doctorChecks are the checks in the order doctor prints them.
var doctorChecks = []string{"podman", "container", "task", "binaries", "cgroups", "ulimits", "userns", "nft", "shield", "git", "gum", "dbus", "notifier", "vault", "gpu", "orphans"}

// doctorEnv is a private terok tree (so a service the doctor starts is the
// test's own) with no CONTAINER_HOST and no session bus.
func doctorEnv(t *testing.T, tty bool, extra map[string]string) (*cli.Env, *bytes.Buffer, string) {
	t.Helper()
	dir := t.TempDir()
	vars := map[string]string{
		"HOME":              filepath.Join(dir, "home"),
		"TEROK_CONFIG_DIR":  filepath.Join(dir, "config"),
		"TEROK_STATE_DIR":   filepath.Join(dir, "state"),
		"TEROK_DATA_DIR":    filepath.Join(dir, "data"),
		"TEROK_RUNTIME_DIR": filepath.Join(dir, "run"),
		"PATH":              os.Getenv("PATH"),
	}
	for k, v := range extra {
		vars[k] = v
	}
	socket := filepath.Join(vars["TEROK_RUNTIME_DIR"], "podman", "podman.sock")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := engine.StopServiceAt(ctx, socket); err != nil {
			t.Errorf("stopping the doctor's service: %v", err)
		}
	})
	var out bytes.Buffer
	env := &cli.Env{
		Ctx: t.Context(), Prog: "terok", Stdin: strings.NewReader(""),
		Stdout: &out, Stderr: &bytes.Buffer{}, StdoutTTY: tty,
		Getenv: func(k string) string { return vars[k] },
	}
	return env, &out, socket
}

// runDoctor runs `terok doctor ARGS` in-process and returns its records
// and exit code.
func runDoctor(t *testing.T, env *cli.Env, out *bytes.Buffer, args ...string) ([]hostcheck.Result, int) {
	t.Helper()
	code := cli.Run(Host, append([]string{"doctor"}, args...), env)
	if env.StdoutTTY {
		return nil, code
	}
	var rs []hostcheck.Result
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var fields map[string]any
		if err := json.Unmarshal([]byte(line), &fields); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		for _, f := range []string{"check", "status", "detail", "fix"} {
			if _, ok := fields[f]; !ok {
				t.Errorf("record %q has no %s field", line, f)
			}
		}
		var r hostcheck.Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("record %q: %v", line, err)
		}
		rs = append(rs, r)
	}
	return rs, code
}

func byCheck(rs []hostcheck.Result, name string) hostcheck.Result {
	for _, r := range rs {
		if r.Check == name {
			return r
		}
	}
	return hostcheck.Result{}
}

func needPodman(t *testing.T) {
	t.Helper()
	_, err := exec.LookPath("podman")
	ok, reason := err == nil, "podman is not installed"
	if ok && exec.Command("podman", "image", "exists", engine.ProbeImages[0]).Run() != nil &&
		exec.Command("podman", "image", "exists", engine.ProbeImages[1]).Run() != nil {
		ok, reason = false, "no probe image; run scripts/setup-host"
	}
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("prerequisite missing in CI: %s", reason)
	}
	t.Skipf("skipped: %s", reason)
}

// TestDoctorRecordsAndExitStatus runs on any host: every check gives one
// well-formed record, in order, and the exit status is the worst status.
func TestDoctorRecordsAndExitStatus(t *testing.T) {
	env, out, _ := doctorEnv(t, false, nil)
	rs, code := runDoctor(t, env, out)
	var names []string
	for _, r := range rs {
		names = append(names, r.Check)
		if !slices.Contains([]hostcheck.Status{hostcheck.OK, hostcheck.Warn, hostcheck.Fail}, r.Status) {
			t.Errorf("%s: status %q", r.Check, r.Status)
		}
		if r.Status != hostcheck.OK && r.Fix == "" && r.Check != "podman" {
			t.Errorf("%s is %s with no fix: %+v", r.Check, r.Status, r)
		}
	}
	if !slices.Equal(names, doctorChecks) {
		t.Errorf("checks = %q, want %q", names, doctorChecks)
	}
	if want := hostcheck.Worst(rs).Rank(); code != want {
		t.Errorf("exit %d, want %d (worst %s)", code, want, hostcheck.Worst(rs))
	}
	// No session bus in this environment: a warning, so never exit 0.
	if d := byCheck(rs, "dbus"); d.Status != hostcheck.Warn {
		t.Errorf("dbus without DBUS_SESSION_BUS_ADDRESS: %+v", d)
	}
	if code == 0 {
		t.Error("exit 0 despite a warning")
	}
}

func TestDoctorWithPodman(t *testing.T) {
	needPodman(t)
	env, out, socket := doctorEnv(t, false, nil)
	rs, code := runDoctor(t, env, out)
	for _, name := range []string{"podman", "container", "task", "binaries"} {
		if r := byCheck(rs, name); r.Status != hostcheck.OK {
			t.Errorf("%s: %+v", name, r)
		}
	}
	t.Logf("doctor exit %d:\n%s", code, out)
	if p := byCheck(rs, "podman"); strings.Contains(p.Detail, socket) && !strings.Contains(p.Detail, "started by terok") {
		t.Errorf("a private runtime dir, yet the service was not started by terok: %s", p.Detail)
	}
	if code == hostcheck.Fail.Rank() {
		t.Logf("note: a check failed on this host (see above)")
	}
}

// TestDoctorTaskProbeFailsAsATaskWould: the task check runs a container
// the way tasks run theirs, so a host part a task needs and the host lacks
// fails there, with its fix. Two are taken away for real: the init binary
// (Podman is pointed at one that does not exist — what a host without
// catatonit does), and the shield's hook (the probe without its
// annotation: the hook does not fire, and the verification finds no
// ruleset in the running container).
func TestDoctorTaskProbeFailsAsATaskWould(t *testing.T) {
	needPodman(t)
	env, _, _ := doctorEnv(t, false, nil)
	var d DoctorCmd
	opts, _ := d.options(env)
	opts.Only = []string{"task"}
	// The doctor gives Podman 30 s; this host builds images in other
	// packages' tests meanwhile, and a create waited longer than that for
	// the storage lock (fulltest17). What is tested is the outcome, not
	// the budget.
	opts.PodmanTimeout = 2 * time.Minute
	before := map[string][]string{}
	for _, what := range []string{"ps -aq", "volume ls -q"} {
		before[what] = probeThings(t, what)
	}
	build := opts.TaskProbe.Spec
	probe := func(change func(*specgen.SpecGenerator)) hostcheck.Result {
		t.Helper()
		opts.TaskProbe.Spec = func(image, name string, command []string) (*specgen.SpecGenerator, error) {
			s, err := build(image, name, command)
			if err == nil {
				change(s)
			}
			return s, err
		}
		rs := hostcheck.Run(t.Context(), opts)
		return byCheck(rs, "task")
	}
	if r := probe(func(*specgen.SpecGenerator) {}); r.Status != hostcheck.OK || !strings.Contains(r.Detail, "shield's ruleset in force") {
		t.Fatalf("a healthy task probe: %+v", r)
	}
	// Without a verifier (no terok binary found) the probe is still
	// stopped once it has reported: left to sleep, it would outlive the
	// check's timeout and the check would fail.
	verify := opts.TaskProbe.Verify
	opts.TaskProbe.Verify = nil
	if r := probe(func(*specgen.SpecGenerator) {}); r.Status != hostcheck.OK || !strings.Contains(r.Detail, "shield not verified") {
		t.Errorf("a task probe without a verifier: %+v", r)
	}
	opts.TaskProbe.Verify = verify
	r := probe(func(s *specgen.SpecGenerator) { s.InitPath = "/nonexistent/podman/catatonit" })
	if r.Status != hostcheck.Fail || !strings.Contains(r.Detail, "container-init binary not found") ||
		!strings.Contains(r.Fix, "apt-get install -y catatonit") {
		t.Errorf("no init binary: %+v", r)
	}
	r = probe(func(s *specgen.SpecGenerator) { delete(s.Annotations, shield.Annotation) })
	if r.Status != hostcheck.Fail || !strings.Contains(r.Detail, "no terok ruleset") || !strings.Contains(r.Fix, "terok setup") {
		t.Errorf("no shield hook: %+v", r)
	}
	// Nothing of these probes is left behind: no container, no volume
	// (another run's probes on a shared engine may come and go meanwhile).
	for what, had := range before {
		for _, id := range probeThings(t, what) {
			if !slices.Contains(had, id) {
				t.Errorf("podman %s after the probes: %s is left", what, id)
			}
		}
	}
}

// probeThings lists the probe containers ("ps -aq") or volumes ("volume
// ls -q") in the engine.
func probeThings(t *testing.T, what string) []string {
	t.Helper()
	out, err := exec.Command("podman", append(strings.Fields(what), "--filter", "label="+engine.ProbeLabel+"=1")...).Output()
	if err != nil {
		t.Fatalf("podman %s: %v", what, err)
	}
	return strings.Fields(string(out))
}

func TestDoctorOnly(t *testing.T) {
	env, out, _ := doctorEnv(t, false, nil)
	rs, code := runDoctor(t, env, out, "--only", "binaries,git")
	if len(rs) != 2 || rs[0].Check != "binaries" || rs[1].Check != "git" || code != hostcheck.Worst(rs).Rank() {
		t.Errorf("--only binaries,git: exit %d, %+v", code, rs)
	}
	env, out, _ = doctorEnv(t, false, nil)
	if code := cli.Run(Host, []string{"doctor", "--only", "nosuch"}, env); code != 2 || out.Len() != 0 {
		t.Errorf("--only nosuch: exit %d, stdout %q", code, out)
	}
}

func TestDoctorTableOnATerminal(t *testing.T) {
	env, out, _ := doctorEnv(t, true, nil)
	runDoctor(t, env, out)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1+len(doctorChecks) || !strings.HasPrefix(lines[0], "CHECK") ||
		!strings.Contains(lines[0], "STATUS") || !strings.Contains(lines[0], "FIX") {
		t.Errorf("table:\n%s", out)
	}
}

func TestDoctorNamedImageMissing(t *testing.T) {
	needPodman(t)
	env, out, _ := doctorEnv(t, false, nil)
	rs, code := runDoctor(t, env, out, "--image", "localhost/terok/no-such-image:latest")
	c := byCheck(rs, "container")
	if c.Status != hostcheck.Fail || !strings.Contains(c.Detail, "no-such-image") || code != 2 {
		t.Errorf("missing --image: exit %d, %+v", code, c)
	}
}

// TestDoctorBrokenConfig: the doctor is what one runs when things are
// broken, so a bad config.toml is a failed check, not an abort.
func TestDoctorBrokenConfig(t *testing.T) {
	env, out, _ := doctorEnv(t, false, nil)
	cfg := filepath.Join(env.Getenv("TEROK_CONFIG_DIR"), "config.toml")
	if err := os.MkdirAll(filepath.Dir(cfg), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte("[podman]\nno_such_key = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rs, code := runDoctor(t, env, out)
	if len(rs) == 0 || rs[0].Check != "config" || rs[0].Status != hostcheck.Fail || !strings.Contains(rs[0].Detail, "no_such_key") {
		t.Errorf("broken config: %+v", rs)
	}
	if len(rs) != 1+len(doctorChecks) || code != 2 {
		t.Errorf("broken config: %d records, exit %d; want every check and exit 2", len(rs), code)
	}
}

func TestHostJSONFieldsDocumented(t *testing.T) {
	if m := cli.UndocumentedFields(hostSections, hostcheck.Result{}, VersionInfo{}, Link{}, task.PanicResult{}); len(m) > 0 {
		t.Fatalf("fields missing from terok(1) JSON FIELDS: %v", m)
	}
}
