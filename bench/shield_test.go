package bench

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/testenv"
)

// BenchmarkShield measures a task's shield against a container of the same
// image with no firewall, in the same run:
//   - dns-*: a lookup of an allowed, cached name through the task's resolver
//     (learn-before-reply included) against the host's resolver asked
//     directly (goal: under 1 ms added);
//   - connect-*: TCP connection setup to an allowed address;
//   - allow-to-connect-ms: from starting `terok-shield allow ADDR` to the
//     first successful connection to ADDR from inside the task (goal: under
//     20 ms), the CLI's own start included.
//
// The distribution mirror is the allowed destination (reachable here).
func BenchmarkShield(b *testing.B) {
	podman := testenv.Tool(b, "podman", "podman")
	testenv.Need(b, os.Geteuid() == 0, "needs root (the baseline container reaches the host's resolver directly)")
	_, err := os.Stat(filepath.Join(shield.HooksDirDistribution, shield.HookFile))
	testenv.Need(b, err == nil, "the shield's OCI hook is not registered (terok-shield install-hook)")
	root := stateRoot(b)
	env := append(os.Environ(), "TEROK_CONFIG_DIR="+root+"/config", "TEROK_STATE_DIR="+root+"/state",
		"TEROK_DATA_DIR="+root+"/data", "TEROK_RUNTIME_DIR="+root+"/run")
	bin := filepath.Dir(terok)
	run := func(args ...string) string {
		cmd := exec.Command(filepath.Join(bin, args[0]), args[1:]...)
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("%v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("terok-project", "new", "benchsh", "--agents", "command")
	testenv.WithPython(b, filepath.Join(root, "config", "projects", "benchsh", "project.toml"))
	run("terok-image", "build", "benchsh")
	var task struct{ ID, Container, Image string }
	out := run("terok-task", "run", "--detach", "benchsh", "--agent", "command", "sleep 600")
	if err := json.Unmarshal([]byte(out), &task); err != nil {
		b.Fatalf("%v: %s", err, out)
	}
	b.Cleanup(func() { run("terok-task", "rm", "--force", "--yes", task.ID) })

	conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil || len(conf.Servers) == 0 {
		b.Skip("no host resolver")
	}
	base := "terok-bench-nofw-" + strconv.Itoa(os.Getpid())
	if out, err := exec.Command(podman, "run", "-d", "--rm", "--name", base, "--dns", conf.Servers[0], task.Image, "sleep", "600").CombinedOutput(); err != nil {
		b.Fatalf("baseline container: %v %s", err, out)
	}
	b.Cleanup(func() { _ = exec.Command(podman, "rm", "-f", "-t", "0", base).Run() }) // tidying

	py := func(container, code string) string {
		out, err := exec.Command(podman, "exec", container, "python3", "-c", code).CombinedOutput()
		if err != nil {
			b.Fatalf("%s: %v\n%s", container, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for range 100 { // the task's entry point clones first
		if exec.Command(podman, "exec", task.Container, "test", "-d", "/workspace/.git").Run() == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	n := max(b.N, 200)
	// Mean microseconds of n lookups (the first, uncached, excluded).
	lookups := `import socket,time
socket.getaddrinfo("deb.debian.org",80,socket.AF_INET)
t=time.perf_counter()
for _ in range(` + strconv.Itoa(n) + `): socket.getaddrinfo("deb.debian.org",80,socket.AF_INET)
print((time.perf_counter()-t)/` + strconv.Itoa(n) + `*1e6)`
	connects := `import socket,time
a=socket.getaddrinfo("deb.debian.org",80,socket.AF_INET)[0][4]
t=time.perf_counter()
for _ in range(50):
  s=socket.create_connection(a,5); s.close()
print((time.perf_counter()-t)/50*1e6)`
	b.ResetTimer()
	dnsTask, _ := strconv.ParseFloat(py(task.Container, lookups), 64)
	dnsBase, _ := strconv.ParseFloat(py(base, lookups), 64)
	connTask, _ := strconv.ParseFloat(py(task.Container, connects), 64)
	connBase, _ := strconv.ParseFloat(py(base, connects), 64)

	// allow → first connection: deny the mirror's address, poll it from
	// inside the task every 0.2 ms, allow it, see when it first connects.
	addr := py(task.Container, `import socket; print(socket.getaddrinfo("deb.debian.org",80,socket.AF_INET)[0][4][0])`)
	run("terok-shield", "deny", task.ID, addr)
	poll := exec.Command(podman, "exec", task.Container, "python3", "-c", `import socket,time,sys
print("polling", flush=True)
while True:
  try:
    s=socket.create_connection(("`+addr+`",80),1); s.close(); print(time.time(), flush=True); break
  except OSError: time.sleep(0.0002)`)
	stdout, _ := poll.StdoutPipe()
	if err := poll.Start(); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := stdout.Read(buf); err != nil { // "polling"
		b.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	t0 := time.Now()
	run("terok-shield", "allow", task.ID, addr)
	var line []byte
	for {
		k, err := stdout.Read(buf)
		line = append(line, buf[:k]...)
		if err != nil || strings.Contains(string(line), "\n") {
			break
		}
	}
	_ = poll.Wait() // its line, read above, is what counts
	sec, err := strconv.ParseFloat(strings.TrimSpace(string(line)), 64)
	if err != nil {
		b.Fatalf("poller said %q", line)
	}
	first := time.Unix(0, int64(sec*1e9))
	b.StopTimer()
	b.ReportMetric(dnsTask/1000, "dns-task-ms")
	b.ReportMetric(dnsBase/1000, "dns-base-ms")
	b.ReportMetric((dnsTask-dnsBase)/1000, "dns-added-ms")
	b.ReportMetric(connTask/1000, "connect-task-ms")
	b.ReportMetric(connBase/1000, "connect-base-ms")
	b.ReportMetric(float64(first.Sub(t0).Microseconds())/1000, "allow-to-connect-ms")
	b.ReportMetric(0, "ns/op")
}
