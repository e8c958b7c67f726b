package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/hostcheck"
	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/testenv"
	"github.com/terok-ai/terok-go/lib/vault"
)

// leftovers is what a task may leave on the host, each as a sorted list
// of names: terok's own processes (wardens, a `terok-task exec`) and the
// conmon processes of the task's containers and their exec sessions, the
// files and sockets under the runtime directory, the containers and
// volumes with the task's label, the live vault tokens, and the host's
// terok nft tables (as root).
type leftovers struct {
	Processes, RuntimeFiles, Containers, Volumes, Tokens, NftTables []string
}

// leakProbe takes the census of one state tree's leftovers.
type leakProbe struct {
	t *testing.T
	e *taskEnv
	// bins are the directories of terok's executables: this test binary's
	// and that of the links it runs as terok-task, terok-warden and the rest.
	bins []string
	// ids are the tasks' ids and their containers' full ids, collected
	// while they live (a conmon names its container by id; the container
	// is gone when its leftovers are counted).
	ids   map[string]bool
	tasks []string
}

func (p *leakProbe) take() leftovers {
	var l leftovers
	l.Processes = p.processes()
	if run := p.e.getenv("TEROK_RUNTIME_DIR"); run != "" {
		_ = filepath.WalkDir(run, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(run, path)
				l.RuntimeFiles = append(l.RuntimeFiles, rel)
			}
			return nil
		})
	}
	for _, id := range p.tasks {
		l.Containers = append(l.Containers, p.podmanList("ps", "-a", "-q", "--no-trunc", "--filter", "label=terok.task="+id)...)
		l.Volumes = append(l.Volumes, p.podmanList("volume", "ls", "-q", "--filter", "label=terok.task="+id)...)
	}
	if b, err := os.ReadFile(filepath.Join(p.e.getenv("TEROK_STATE_DIR"), "vault", "tokens.json")); err == nil {
		var f struct {
			Tokens []struct{ Task, Masked string }
		}
		if err := json.Unmarshal(b, &f); err != nil {
			p.t.Fatalf("the tokens file: %v", err)
		}
		for _, x := range f.Tokens {
			l.Tokens = append(l.Tokens, x.Task+" "+x.Masked)
		}
	}
	if os.Getuid() == 0 {
		out, err := exec.Command("nft", "list", "tables").Output()
		if err != nil {
			p.t.Fatalf("nft list tables: %v", err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "terok") {
				l.NftTables = append(l.NftTables, strings.TrimSpace(line))
			}
		}
	}
	for _, s := range [][]string{l.Processes, l.RuntimeFiles, l.Containers, l.Volumes, l.Tokens, l.NftTables} {
		sort.Strings(s)
	}
	return l
}

// processes are this binary's processes other than the test itself, and
// the conmon processes whose container is one of the tasks'.
func (p *leakProbe) processes() []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, d := range ents {
		pid := d.Name()
		if pid[0] < '0' || pid[0] > '9' || pid == fmt.Sprint(os.Getpid()) {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
		if err != nil || len(raw) == 0 {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		exe, _ := os.Readlink(filepath.Join("/proc", pid, "exe"))
		switch {
		case slices.Contains(p.bins, filepath.Dir(exe)):
			out = append(out, pid+" "+strings.Join(argv, " "))
		case filepath.Base(argv[0]) == "conmon":
			for i, a := range argv[:len(argv)-1] {
				if (a == "-c" || a == "--cid") && p.ids[argv[i+1]] {
					kind := "conmon"
					if slices.Contains(argv, "--exec-attach") || slices.ContainsFunc(argv, func(s string) bool { return strings.HasPrefix(s, "--exec") }) {
						kind = "conmon (exec session)"
					}
					out = append(out, pid+" "+kind+" of "+argv[i+1][:12])
				}
			}
		}
	}
	return out
}

func (p *leakProbe) podmanList(args ...string) []string {
	out, err := exec.Command("podman", args...).Output()
	if err != nil {
		p.t.Fatalf("podman %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

// sees fails unless the census of a running task shows what the task
// has: a warden, its container's conmon, an exec session's conmon, a
// runtime file, a container, a volume and a vault token (so that a count
// that finds nothing cannot pass for nothing left).
func (p *leakProbe) sees(t *testing.T, before leftovers) {
	t.Helper()
	now := p.take()
	has := func(what string, was, is []string, ok func(string) bool) {
		t.Helper()
		for _, x := range is {
			if !slices.Contains(was, x) && ok(x) {
				return
			}
		}
		t.Fatalf("a running task shows no new %s: %q", what, is)
	}
	anything := func(string) bool { return true }
	has("warden", before.Processes, now.Processes, func(s string) bool { return strings.Contains(s, "terok-warden") })
	has("conmon", before.Processes, now.Processes, func(s string) bool { return strings.HasSuffix(strings.SplitN(s, " of ", 2)[0], " conmon") })
	has("exec session's conmon", before.Processes, now.Processes, func(s string) bool { return strings.Contains(s, "conmon (exec session)") })
	has("runtime file", before.RuntimeFiles, now.RuntimeFiles, anything)
	has("container", before.Containers, now.Containers, anything)
	has("volume", before.Volumes, now.Volumes, anything)
	has("vault token", before.Tokens, now.Tokens, anything)
	t.Logf("a running task: %d processes, %d runtime files, %d containers, %d volumes, %d tokens",
		len(now.Processes)-len(before.Processes), len(now.RuntimeFiles)-len(before.RuntimeFiles),
		len(now.Containers)-len(before.Containers), len(now.Volumes)-len(before.Volumes), len(now.Tokens)-len(before.Tokens))
}

// gone waits up to 15 s (a conmon ends a moment after its process) until
// none of what is in now but not in before is left, and fails listing
// what is; containers and volumes only when all is true (a stopped task
// keeps both).
func (p *leakProbe) gone(t *testing.T, what string, before leftovers, all bool) {
	t.Helper()
	var left []string
	for deadline := time.Now().Add(15 * time.Second); ; {
		now := p.take()
		left = nil
		add := func(kind string, was, is []string) {
			for _, x := range is {
				if !slices.Contains(was, x) {
					left = append(left, kind+": "+x)
				}
			}
		}
		add("process", before.Processes, now.Processes)
		add("runtime file", before.RuntimeFiles, now.RuntimeFiles)
		add("vault token", before.Tokens, now.Tokens)
		add("nft table", before.NftTables, now.NftTables)
		if all {
			add("container", before.Containers, now.Containers)
			add("volume", before.Volumes, now.Volumes)
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("%s left behind %d things:\n  %s", what, len(left), strings.Join(left, "\n  "))
	}
}

// TestNothingLeftBehind counts what rm, stop, panic --stop and uninstall
// --purge leave of real vault tasks, each with a gate push made in an
// exec session and an exec session still running: no process (warden,
// conmon of the container or of an exec session, terok-task exec), no
// runtime file or socket, no container or volume (after rm and purge), no
// live vault token, no nft table on the host.
func TestNothingLeftBehind(t *testing.T) {
	e := newTaskEnv(t)
	testenv.Need(t, fileExists(filepath.Join(shield.HooksDirDistribution, shield.HookFile)),
		"the shield's OCI hook is not registered (terok setup; scripts/test does)")
	e.removeAllTasks()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	taskExe, err := exec.LookPath("terok-task")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	e.env = append(e.env, "TEROK_CACHE_DIR="+filepath.Join(tmp, "cache"))
	conf, data := e.getenv("TEROK_CONFIG_DIR"), e.getenv("TEROK_DATA_DIR")
	for _, d := range []string{filepath.Join(conf, "agents"), filepath.Join(tmp, "cache")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(conf, "agents", "fake.toml"), []byte(fakeVaultAgent), 0o600); err != nil {
		t.Fatal(err)
	}
	passfile := filepath.Join(tmp, "pass")
	if err := os.WriteFile(passfile, []byte("vault passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, "config.toml"), []byte(fmt.Sprintf(
		"[vault]\npassphrase_command = [\"cat\", %q]\n\n[vault.providers.anthropic]\nupstream = \"http://127.0.0.1:9\"\n", passfile)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := vault.Init(filepath.Join(data, "vault"), "vault passphrase", vault.InitOptions{WorkFactor: 10}); err != nil {
		t.Fatal(err)
	}
	store, err := vault.Open(context.Background(), filepath.Join(data, "vault"), vault.KeySource{
		Prompt: func(context.Context) (string, error) { return "vault passphrase", nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Set("anthropic", vault.Credential{Kind: vault.APIKey, APIKey: vaultRealKey}); err != nil {
		t.Fatal(err)
	}
	e.must("terok-project", "new", "tl", "--agents", "command,fake")
	e.must("terok-image", "build", "tl")
	p := &leakProbe{t: t, e: e, bins: []string{filepath.Dir(self), filepath.Dir(taskExe)}, ids: map[string]bool{}}

	type task struct{ ID, Container string }
	// start runs a vault task, pushes a commit to the gate from an exec
	// session, and leaves another exec session running (its terok-task
	// exec ends with the container).
	start := func(t *testing.T, before leftovers) task {
		t.Helper()
		var x task
		decodeJSON(t, e.must("terok-task", "run", "--detach", "tl", "--agent", "fake", "sleep 300"), &x)
		p.tasks = append(p.tasks, x.ID)
		id := strings.TrimSpace(e.must("podman", "inspect", "--format", "{{.Id}}", x.Container))
		p.ids[id] = true
		waitEntry(t, func(cmd string) (string, bool) {
			out, _, code := e.run("", "terok-task", "exec", x.ID, "--", "sh", "-c", cmd)
			return out, code == 0
		})
		e.must("terok-task", "exec", x.ID, "--", "sh", "-c",
			"cd /workspace && git commit -q --allow-empty -m leftovers && git push -q origin HEAD")
		bg := exec.Command("terok-task", "exec", x.ID, "--", "sleep", "300")
		bg.Env = e.env
		if err := bg.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = bg.Process.Kill(); _ = bg.Wait() })
		go func() { _ = bg.Wait() }()
		// The running exec session is there before the task is ended.
		for i := 0; ; i++ {
			out, _, _ := e.run("", "terok-task", "exec", x.ID, "--", "sh", "-c", "pgrep -x sleep | wc -l")
			if strings.TrimSpace(out) == "2" {
				break
			}
			if i == 100 {
				t.Fatalf("the exec session's sleep never ran in %s", x.ID)
			}
			time.Sleep(100 * time.Millisecond)
		}
		p.sees(t, before)
		return x
	}

	{ // rm
		before := p.take()
		x := start(t, before)
		e.must("terok-task", "rm", "--force", "--yes", x.ID)
		p.gone(t, "rm --force", before, true)
	}
	{ // stop
		before := p.take()
		x := start(t, before)
		e.must("terok-task", "stop", "--time", "0", x.ID)
		p.gone(t, "stop", before, false)
		e.must("terok-task", "rm", "--yes", x.ID)
		p.gone(t, "stop then rm", before, true)
	}
	{ // panic
		before := p.take()
		x := start(t, before)
		y := start(t, before)
		e.must("terok", "panic", "--stop")
		p.gone(t, "panic --stop", before, false)
		e.must("terok-task", "rm", "--yes", x.ID, y.ID)
		p.gone(t, "panic --stop then rm", before, true)
	}
	{ // purge
		before := p.take()
		before.RuntimeFiles, before.Tokens = nil, nil // purge removes the directories
		x := start(t, before)
		e.must("terok-task", "stop", "--time", "0", x.ID)
		e.must("terok", "uninstall", "--purge", "--yes",
			"--bin-dir", filepath.Join(tmp, "bin"), "--hooks-dir", filepath.Join(tmp, "hooks"))
		p.gone(t, "uninstall --purge", before, true)
	}
}

// A task whose record is deleted behind terok's back leaves its container,
// volume, warden and control socket: `terok doctor` lists them (and no
// other task's), `--fix` without a terminal and --yes refuses and changes
// nothing, `--fix --yes` removes exactly them, and the other task runs on.
func TestDoctorOrphans(t *testing.T) {
	e := newTaskEnv(t)
	testenv.Need(t, fileExists(filepath.Join(shield.HooksDirDistribution, shield.HookFile)),
		"the shield's OCI hook is not registered (terok setup; scripts/test does)")
	e.removeAllTasks()
	e.must("terok-project", "new", "to", "--agents", "command")
	e.must("terok-image", "build", "to")
	type task struct {
		ID, Container, Volume string
		Warden                struct{ PID int }
	}
	run := func() task {
		var x task
		decodeJSON(t, e.must("terok-task", "run", "--detach", "to", "--agent", "command", "sleep 300"), &x)
		decodeJSON(t, e.must("terok-task", "show", x.ID), &x)
		rec, err := os.ReadFile(filepath.Join(e.getenv("TEROK_STATE_DIR"), "tasks", x.ID+".json"))
		if err != nil {
			t.Fatal(err)
		}
		decodeJSON(t, string(rec), &x)
		if x.Volume == "" || x.Warden.PID <= 0 {
			t.Fatalf("show %s: no volume or warden: %+v", x.ID, x)
		}
		return x
	}
	gone, live := run(), run()
	sock := func(x task) string { return filepath.Join(e.getenv("TEROK_RUNTIME_DIR"), "wardens", x.ID+".sock") }
	exists := func(kind, name string) bool { return exec.Command("podman", kind, "exists", name).Run() == nil }
	intact := func(x task, when string) {
		t.Helper()
		if !exists("container", x.Container) || !exists("volume", x.Volume) || !fileExists(sock(x)) ||
			syscall.Kill(x.Warden.PID, 0) != nil {
			t.Fatalf("%s: task %s is not intact", when, x.ID)
		}
	}
	if out := e.must("terok", "doctor", "--only", "orphans"); !strings.Contains(out, `"status":"ok"`) {
		t.Fatalf("orphans with every record there: %s", out)
	}
	if err := os.Remove(filepath.Join(e.getenv("TEROK_STATE_DIR"), "tasks", gone.ID+".json")); err != nil {
		t.Fatal(err)
	}

	out, _, code := e.run("", "terok", "doctor", "--only", "orphans")
	r := records(t, out)["orphans"]
	if code != 1 || r.Status != hostcheck.Warn || r.Fix != hostcheck.OrphanFix {
		t.Fatalf("orphans: exit %d, %+v", code, r)
	}
	for _, want := range []string{"4 left by tasks without a record", "container " + gone.Container, "volume " + gone.Volume,
		fmt.Sprintf("warden pid %d (task %s)", gone.Warden.PID, gone.ID), "socket " + sock(gone)} {
		if !strings.Contains(r.Detail, want) {
			t.Errorf("orphans lacks %q: %s", want, r.Detail)
		}
	}
	if strings.Contains(r.Detail, live.ID) {
		t.Errorf("orphans lists the live task %s: %s", live.ID, r.Detail)
	}

	_, errs, code := e.run("", "terok", "doctor", "--fix", "--only", "orphans")
	if code != 2 || strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.Contains(errs, "--yes") {
		t.Fatalf("--fix without a terminal or --yes: exit %d, %q", code, errs)
	}
	intact(gone, "refused")
	intact(live, "refused")

	out = e.must("terok", "doctor", "--fix", "--yes", "--only", "orphans")
	if r := records(t, out)["orphans"]; r.Status != hostcheck.OK || !strings.HasPrefix(r.Detail, "removed: ") ||
		!strings.Contains(r.Detail, gone.Container) {
		t.Fatalf("--fix --yes: %+v", r)
	}
	if exists("container", gone.Container) || exists("volume", gone.Volume) || fileExists(sock(gone)) {
		t.Errorf("--fix left the orphan's container, volume or socket")
	}
	for i := 0; syscall.Kill(gone.Warden.PID, 0) == nil; i++ {
		if i == 40 {
			t.Errorf("--fix left the orphan's warden %d", gone.Warden.PID)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	intact(live, "after --fix")
	if out := e.must("terok", "doctor", "--only", "orphans"); !strings.Contains(out, `"status":"ok"`) {
		t.Fatalf("orphans after --fix: %s", out)
	}
}
