package task

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/testenv"
)

func connect(t *testing.T) *engine.Engine {
	t.Helper()
	_, err := exec.LookPath("podman")
	testenv.Need(t, err == nil, "podman is not installed")
	p, err := config.ResolvePaths(os.Getenv, os.Getuid())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := engine.Connect(ctx, engine.OptionsFromConfig(p, config.DefaultGlobal(), os.Getenv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	img, err := e.FirstLocalImage(ctx, "localhost/terok/busybox:latest")
	testenv.Need(t, err == nil && img != "", "no localhost/terok/busybox:latest image; run scripts/setup-host")
	return e
}

// The hardened defaults hold inside a real container: no capabilities, no
// new privileges, a user namespace, the limits, no engine socket, no host
// devices, and a workspace the agent can write.
func TestHardeningInForceInsideContainer(t *testing.T) {
	e := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rootless, err := e.Rootless(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := NewID()
	vol := "terok-test-ws-" + id
	if err := e.CreateVolume(ctx, vol, map[string]string{LabelTask: id}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.RemoveVolume(context.Background(), vol) })
	h := HardeningFor(config.DefaultGlobal(), config.DefaultProject(), rootless)
	script := `grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status
echo "uid=$(id -u) gid=$(id -g)"
echo "uidmap=$(cat /proc/self/uid_map | tr -s ' ' | tr '\n' ';')"
echo "pids=$(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max)"
echo "mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"
echo "devs=$(ls /dev | tr '\n' ' ')"
echo "pid1=$(cat /proc/1/comm)"
for s in /run/podman/podman.sock /var/run/docker.sock /run/user; do [ -e $s ] && echo "reachable=$s"; done
echo hello > /workspace/f && echo "ws=$(cat /workspace/f)"
`
	s := Spec(Container{
		Name: "terok-test-" + id, Image: "localhost/terok/busybox:latest",
		Command: []string{"sh", "-c", script}, Volume: vol, WorkDir: "/workspace",
		Labels: map[string]string{LabelTask: id},
	}, h)
	cid, err := e.CreateContainer(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.RemoveContainer(context.Background(), cid) })
	if err := e.StartContainer(ctx, cid); err != nil {
		t.Fatal(err)
	}
	code, err := e.WaitContainer(ctx, cid)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := e.Logs(ctx, cid, false, "", "", func(l string) { out.WriteString(l) }, func(l string) { out.WriteString(l) }); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	t.Logf("inside the task:\n%s", got)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"CapInh:\t0000000000000000", "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000",
		"CapBnd:\t0000000000000000", "CapAmb:\t0000000000000000", "NoNewPrivs:\t1",
		"uid=1000 gid=1000", "ws=hello",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q", want)
		}
	}
	if strings.Contains(got, "uidmap= 0 0 4294967295") || strings.Contains(got, "reachable=") {
		t.Errorf("no user namespace, or an engine socket within reach")
	}
	if strings.Contains(got, "pid1=sh") {
		t.Errorf("no init process")
	}
	for _, d := range strings.Fields(after(got, "devs=")) {
		switch d {
		case "console", "core", "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout", "tty", "urandom", "zero":
		default:
			t.Errorf("host device /dev/%s inside the task", d)
		}
	}
	st, err := e.InspectContainer(ctx, cid)
	if err != nil {
		t.Fatal(err)
	}
	if !st.NoNewPrivileges || st.Privileged {
		t.Errorf("engine reports no-new-privileges %v privileged %v", st.NoNewPrivileges, st.Privileged)
	}
	if !rootless {
		// Limits are enforced rootful here (rootless on cgroups v1 ignores them).
		if !strings.Contains(got, "pids=4096") || !strings.Contains(got, "mem=4294967296") {
			t.Errorf("limits not in force")
		}
		if st.PidsLimit != 4096 || st.MemoryLimit != 4<<30 {
			t.Errorf("engine reports pids %d memory %d", st.PidsLimit, st.MemoryLimit)
		}
	}
}

func after(s, marker string) string {
	i := strings.Index(s, marker)
	if i < 0 {
		return ""
	}
	s = s[i+len(marker):]
	if j := strings.IndexByte(s, '\n'); j >= 0 {
		s = s[:j]
	}
	return s
}
