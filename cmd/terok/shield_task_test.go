package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/terok-ai/terok-go/lib/clearance"
	"github.com/terok-ai/terok-go/lib/netns"
	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/testenv"
)

// theInternet is a network namespace standing in for the internet, routed
// from the host: 198.51.100.2 serves DNS (the test.example zone; other
// names are forwarded to the host's resolver) and HTTP, 198.51.100.3 HTTP
// and a UDP sink on 443. It counts what reaches it.
type theInternet struct {
	name string
	// shared: served by another process (root's, for a rootless test: see
	// TestServeInternet); what reaches it is not counted here.
	shared   bool
	mu       sync.Mutex
	queries  []string
	udpHits  atomic.Int64
	httpHits atomic.Int64
}

const (
	inetDNS   = "198.51.100.2"
	inetOther = "198.51.100.3"
	inetDown  = "198.51.100.4" // what *.down.example resolves to
)

func newInternet(t *testing.T) *theInternet {
	t.Helper()
	if os.Geteuid() != 0 {
		// A rootless test uses the internet root serves for it.
		d := os.Getenv("TEROK_TEST_INTERNET")
		name, err := os.ReadFile(filepath.Join(d, "ready"))
		testenv.Need(t, d != "" && err == nil,
			"needs root, or a test internet root serves (TEROK_TEST_INTERNET: scripts/test serves one for its rootless tests)")
		return &theInternet{name: strings.TrimSpace(string(name)), shared: true}
	}
	testenv.Tool(t, "ip", "iproute2")
	n := &theInternet{name: fmt.Sprintf("terok-inet-%d", os.Getpid()%100000)}
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	host, peer := "ti"+strconv.Itoa(os.Getpid()%100000), "tp"+strconv.Itoa(os.Getpid()%100000)
	_ = exec.Command("ip", "netns", "del", n.name).Run() // left by an earlier run, if any
	_ = exec.Command("ip", "link", "del", host).Run()    // likewise
	ip("netns", "add", n.name)
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", n.name).Run()
		_ = exec.Command("ip", "link", "del", host).Run()
	})
	ip("link", "add", host, "type", "veth", "peer", "name", peer)
	ip("link", "set", peer, "netns", n.name)
	ip("addr", "add", "198.51.100.1/24", "dev", host)
	ip("link", "set", host, "up")
	ip("-n", n.name, "addr", "add", inetDNS+"/24", "dev", peer)
	ip("-n", n.name, "addr", "add", inetOther+"/24", "dev", peer)
	ip("-n", n.name, "addr", "add", inetDown+"/24", "dev", peer)
	ip("-n", n.name, "link", "set", peer, "up")
	ip("-n", n.name, "link", "set", "lo", "up")
	ip("-n", n.name, "route", "add", "default", "via", "198.51.100.1")

	upstream := hostResolver(t)
	var closers []func()
	t.Cleanup(func() {
		for _, c := range closers {
			c()
		}
	})
	err := netns.DoPath("/run/netns/"+n.name, func() error {
		hl, err := net.Listen("tcp", "0.0.0.0:80")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.httpHits.Add(1)
			fmt.Fprintln(w, "hello from the internet")
		})}
		go func() { _ = srv.Serve(hl) }() // ends with an error when closed
		closers = append(closers, func() { _ = srv.Close() })
		uc, err := net.ListenPacket("udp", "0.0.0.0:443")
		if err != nil {
			return err
		}
		go func() {
			buf := make([]byte, 2048)
			for {
				if _, _, err := uc.ReadFrom(buf); err != nil {
					return
				}
				n.udpHits.Add(1)
			}
		}()
		closers = append(closers, func() { _ = uc.Close() })
		dc, err := net.ListenPacket("udp", inetDNS+":53")
		if err != nil {
			return err
		}
		ds := &dns.Server{PacketConn: dc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
			name := strings.ToLower(q.Question[0].Name)
			n.mu.Lock()
			n.queries = append(n.queries, name)
			n.mu.Unlock()
			if !strings.HasSuffix(name, ".test.example.") && !strings.HasSuffix(name, ".down.example.") {
				// Everything else from the host's own resolver.
				if upstream != "" {
					if r, err := dns.Exchange(q, upstream); err == nil {
						_ = w.WriteMsg(r) // a lost answer is the client's timeout
						return
					}
				}
				m := new(dns.Msg)
				m.SetRcode(q, dns.RcodeServerFailure)
				_ = w.WriteMsg(m) // likewise
				return
			}
			m := new(dns.Msg)
			m.SetReply(q)
			if q.Question[0].Qtype == dns.TypeA {
				addr := inetDNS
				if strings.HasSuffix(name, ".down.example.") {
					addr = inetDown
				}
				rr, _ := dns.NewRR(name + " 60 IN A " + addr)
				m.Answer = append(m.Answer, rr)
			}
			_ = w.WriteMsg(m) // likewise
		})}
		go func() { _ = ds.ActivateAndServe() }() // ends with an error when shut down
		closers = append(closers, func() { _ = ds.Shutdown() })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// asked reports whether a name reached the internet's DNS server.
func (n *theInternet) asked(sub string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, q := range n.queries {
		if strings.Contains(q, sub) {
			return true
		}
	}
	return false
}

// hostResolver is the first nameserver of the host's resolv.conf.
func hostResolver(t *testing.T) string {
	c, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil || len(c.Servers) == 0 {
		return ""
	}
	return net.JoinHostPort(c.Servers[0], c.Port)
}

// hostAddr is an address of the host other than loopback and the
// container bridge's.
func hostAddr(t *testing.T) string {
	addrs, _ := shield.HostAddresses()
	for _, a := range addrs {
		if a.Is4() && !a.IsLoopback() && !strings.HasPrefix(a.String(), "10.88.") && !strings.HasPrefix(a.String(), "198.51.100.") {
			return a.String()
		}
	}
	t.Skip("no host address to try")
	return ""
}

// The adversarial egress test (SECURITY.md guarantees 1, 2, 3, 7): a task
// with the command agent runs a hostile script against a real shield, and
// then the shield is changed live.
func TestTaskShieldHostile(t *testing.T) {
	e := newTaskEnv(t)
	testenv.Need(t, shield.HookRegistered(shield.HooksDirDistribution, []string{shield.HooksDirDistribution}) &&
		fileExists(filepath.Join(shield.HooksDirDistribution, shield.HookFile)),
		"the shield's OCI hook is not registered (terok setup; scripts/test does)")
	inet := newInternet(t)

	// The host's own services: one on all addresses, one on loopback.
	hostL, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hostL.Close()
	go func() { // ends with an error when hostL closes
		_ = http.Serve(hostL, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "host service") }))
	}()
	hostPort := hostL.Addr().(*net.TCPAddr).Port

	conf := envValue(e.env, "TEROK_CONFIG_DIR")
	writeShieldConfig(t, conf)
	e.must("terok-project", "new", "ts", "--agents", "command")
	testenv.WithPython(t, filepath.Join(conf, "projects", "ts", "project.toml"))
	appendFile(t, filepath.Join(conf, "projects", "ts", "project.toml"), "\n[shield]\nallow = [\"allowed.test.example\"]\n")
	e.must("terok-image", "build", "ts")

	// Each attempt prints RESULT NAME ok|fail CODE: curl's exit code tells a
	// refusal (7) from a hang (28); python prints the exception's class.
	script := fmt.Sprintf(`t() { n=$1; shift; out=$("$@" 2>&1); c=$?; [ $c = 0 ] && r=ok || r=fail; echo "RESULT $n $r $c $(echo "$out" | tail -1)"; }
py() { python3 -c "import socket,sys
try:
$1
except Exception as e: print(type(e).__name__); sys.exit(1)"; }
t literal curl -sS -m 8 -o /dev/null http://%[1]s/
t mirror curl -sS -m 20 -o /dev/null -f http://deb.debian.org/debian/
t allowed curl -sS -m 8 -o /dev/null -f http://allowed.test.example/
t notallowed getent hosts notallowed.test.example
t tunnel getent hosts "$(head -c 30 /dev/urandom | od -An -tx1 | tr -d ' \n').tunnel.test.example"
t udp py " s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(8); s.connect(('%[1]s',443)); s.send(b'quic'); s.send(b'quic'); s.recv(10)"
t icmp py " socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_ICMP)"
t ipv6 curl -sS -m 8 -o /dev/null "http://[2001:db8::3]/"
t metadata curl -sS -m 8 -o /dev/null http://169.254.169.254/
t hostaddr curl -sS -m 8 -o /dev/null http://%[2]s:%[3]d/
t hostloop curl -sS -m 8 -o /dev/null http://127.0.0.1:%[3]d/
t dnsdirect py " s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(8); s.connect(('%[4]s',53)); s.send(bytes.fromhex('12340100000100000000000007616c6c6f7765640474657374076578616d706c650000010001')); s.send(b'x'); s.recv(512)"
echo done`, inetOther, hostAddr(t), hostPort, inetDNS)
	out, errs, code := e.run("", "terok-task", "run", "ts", "--agent", "command", script)
	t.Logf("hostile script:\n%s%s", out, errs)
	if code != 0 {
		t.Fatalf("the hostile task exited %d", code)
	}
	id, _, _ := exitLine(t, out)
	results := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		var ev struct{ Line string }
		_ = json.Unmarshal([]byte(l), &ev) // a line that is not an event has no RESULT
		if f := strings.Fields(ev.Line); len(f) >= 4 && f[0] == "RESULT" {
			results[f[1]] = strings.Join(f[2:], " ")
		}
	}
	for _, ok := range []string{"mirror", "allowed"} {
		if !strings.HasPrefix(results[ok], "ok") {
			t.Errorf("%s: %q, want it to work", ok, results[ok])
		}
	}
	// Each attempt must fail the way a refusal fails — curl's "could not
	// connect" (7), getent's "not found" (2), a Python socket error — so
	// that a missing tool or a hang can never pass for a block.
	for bad, want := range map[string]string{
		"literal": "fail 7 ", "notallowed": "fail 2", "tunnel": "fail 2", "udp": "Error",
		"icmp": "PermissionError", "ipv6": "fail 7 ", "metadata": "fail 7 ", "hostaddr": "fail 7 ",
		"hostloop": "fail 7 ", "dnsdirect": "Error",
	} {
		r := results[bad]
		switch {
		case !strings.HasPrefix(r, "fail"):
			t.Errorf("%s: %q, want it to fail", bad, r)
		case strings.Contains(r, "timeout") || strings.Contains(r, "TimeoutError"):
			t.Errorf("%s: %q: it hung until the timeout instead of failing at once", bad, r)
		case !strings.Contains(r+" ", want):
			t.Errorf("%s: %q, want a refusal (%q)", bad, r, want)
		}
	}
	if inet.asked("notallowed") || inet.asked("tunnel") {
		t.Errorf("a refused name was forwarded: the internet's DNS saw %v", inet.queries)
	}
	if n := inet.udpHits.Load(); n != 0 {
		t.Errorf("%d UDP datagrams reached the internet", n)
	}

	// Every blocked attempt is in the task's audit log.
	logs := e.must("terok-shield", "logs", id)
	for _, want := range []string{
		`"event":"blocked","reason":"blocked","dst":"` + inetOther + `","port":80,"protocol":"tcp"`,
		`"event":"refused","name":"notallowed.test.example"`,
		`.tunnel.test.example"`,
		`"dst":"` + inetOther + `","port":443,"protocol":"udp"`,
		`"reason":"restricted","dst":"169.254.169.254","port":80`,
		`"reason":"restricted","dst":"` + hostAddr(t) + `"`,
		`"reason":"dns",`,
		`"dst":"` + inetDNS + `","port":53,"protocol":"udp"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("the audit log lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("audit log:\n%s", logs)
	}
	e.must("terok-task", "rm", "--yes", id)

	// Live: a running task; allow makes a target work, deny takes it away.
	out = e.must("terok-task", "run", "--detach", "ts", "--agent", "command", "sleep 300")
	var task struct{ ID, Container string }
	decodeJSON(t, out, &task)
	defer e.run("", "terok-task", "rm", "--force", "--yes", task.ID)
	in := func(cmd string) (string, bool) {
		c := exec.Command("podman", "exec", task.Container, "sh", "-c", cmd)
		b, err := c.CombinedOutput()
		return strings.TrimSpace(string(b)), err == nil
	}
	waitEntry(t, in)
	lit := "curl -sS -m 5 -o /dev/null -w '%{http_code}' http://" + inetOther + "/"
	if o, ok := in(lit); ok {
		t.Fatalf("literal address reachable before allow: %s", o)
	}
	e.must("terok-shield", "allow", task.ID, inetOther)
	if o, ok := in(lit); !ok || o != "200" {
		t.Fatalf("allowed address: %q %v", o, ok)
	}
	e.must("terok-shield", "deny", task.ID, inetOther)
	if o, ok := in(lit); ok {
		t.Fatalf("denied address still reachable: %s", o)
	}
	if _, ok := in("getent hosts later.test.example"); ok {
		t.Fatal("a name resolved before it was allowed")
	}
	e.must("terok-shield", "allow", task.ID, "*.test.example")
	if o, ok := in("curl -sS -m 5 -o /dev/null -w '%{http_code}' http://later.test.example/"); !ok || o != "200" {
		t.Fatalf("a name allowed live: %q %v", o, ok)
	}
	e.must("terok-shield", "deny", task.ID, "later.test.example")
	if o, ok := in("curl -sS -m 5 -o /dev/null http://later.test.example/"); ok {
		t.Fatalf("a name denied live still works: %s", o)
	}
	rules := e.must("terok-shield", "rules", task.ID)
	for _, want := range []string{`{"action":"deny","target":"later.test.example","from":"terok-shield deny"}`, `{"action":"allow","target":"*.test.example"`} {
		if !strings.Contains(rules, want) {
			t.Errorf("rules lack %s:\n%s", want, rules)
		}
	}
	if v := e.must("terok-shield", "verify", task.ID); !strings.Contains(v, `"ok":true,"alive":true`) {
		t.Errorf("verify of a running task: %s", v)
	}

	// Quarantine: nothing out, not even DNS; up restores the policy.
	e.must("terok-shield", "quarantine", task.ID)
	if o, ok := in("getent hosts allowed.test.example || curl -sS -m 5 -o /dev/null http://" + inetDNS + "/"); ok {
		t.Errorf("a quarantined task reached out: %s", o)
	}
	e.must("terok-shield", "up", task.ID)
	// Down: everything but denied and restricted addresses, for a while,
	// each new connection logged; up closes it again.
	lit2 := "curl -sS -m 5 -o /dev/null -w '%{http_code}' http://" + inetDNS + "/"
	if o, ok := in(lit2); ok {
		t.Errorf("a literal address before down: %s", o)
	}
	if out := e.must("terok-shield", "down", task.ID, "--for", "1m"); !strings.Contains(out, `"posture":"down"`) {
		t.Errorf("down printed %s", out)
	}
	if o, ok := in(lit2); !ok || o != "200" {
		t.Errorf("a literal address while down: %q", o)
	}
	if o, ok := in("curl -sS -m 5 -o /dev/null http://169.254.169.254/"); ok {
		t.Errorf("the metadata address while down: %s", o)
	}
	e.must("terok-shield", "up", task.ID)
	if o, ok := in(lit2); ok {
		t.Errorf("a literal address after up: %s", o)
	}
	if logs := e.must("terok-shield", "logs", task.ID); !strings.Contains(logs, `"event":"down-connection",`) || !strings.Contains(logs, `"dst":"`+inetDNS+`","port":80`) {
		t.Errorf("the connection made while down is not in the audit log:\n%s", logs)
	}
	if o, ok := in("curl -sS -m 5 -o /dev/null -w '%{http_code}' http://allowed.test.example/"); !ok || o != "200" {
		t.Errorf("after up: %q %v", o, ok)
	}

	// A down that runs out: the shield is up again by itself, and nothing
	// of the down time outlives it — names outside the policy are refused
	// again, and what they resolved to while down is not let through.
	e.must("terok-shield", "down", task.ID, "--for", "2s")
	if o, ok := in("curl -sS -m 5 -o /dev/null -w '%{http_code}' http://x.down.example/"); !ok || o != "200" {
		t.Errorf("a name outside the policy while down: %q", o)
	}
	time.Sleep(2500 * time.Millisecond)
	if o, ok := in("getent hosts y.down.example"); ok {
		t.Errorf("a name outside the policy resolved after the down time ran out: %s", o)
	}
	if o, ok := in("curl -sS -m 5 -o /dev/null http://" + inetDown + "/"); ok {
		t.Errorf("an address resolved while down is still reachable after it ran out: %s", o)
	}
	if st := e.must("terok-shield", "status", task.ID); !strings.Contains(st, `"posture":"up"`) {
		t.Errorf("status after the down time ran out: %s", st)
	}

	// Fail closed: restarted outside terok, the task is filtered and cut
	// off (no warden to open it)...
	if b, err := exec.Command("podman", "restart", "-t", "1", task.Container).CombinedOutput(); err != nil {
		t.Fatalf("podman restart: %v %s", err, b)
	}
	if v := e.must("terok-shield", "verify", task.ID); !strings.Contains(v, `"ok":true,"alive":false`) {
		t.Errorf("after podman restart: %s", v)
	}
	if o, ok := in("curl -sS -m 5 -o /dev/null http://" + inetDNS + "/"); ok {
		t.Errorf("a task restarted outside terok reached out: %s", o)
	}
}

// A task whose warden is killed loses the network: its open connection and
// new ones.
func TestTaskShieldWardenKilledCutsNetwork(t *testing.T) {
	e := newTaskEnv(t)
	testenv.Need(t, fileExists(filepath.Join(shield.HooksDirDistribution, shield.HookFile)),
		"the shield's OCI hook is not registered (terok setup; scripts/test does)")
	inet := newInternet(t)
	conf := envValue(e.env, "TEROK_CONFIG_DIR")
	writeShieldConfig(t, conf)
	e.must("terok-project", "new", "tw", "--agents", "command")
	appendFile(t, filepath.Join(conf, "projects", "tw", "project.toml"), "\n[shield]\nallow = [\""+inetDNS+"\"]\n")
	e.must("terok-image", "build", "tw")
	out := e.must("terok-task", "run", "--detach", "tw", "--agent", "command", "sleep 300")
	var task struct{ ID, Container string }
	decodeJSON(t, out, &task)
	defer e.run("", "terok-task", "rm", "--force", "--yes", task.ID)
	in := func(cmd string) (string, bool) {
		b, err := exec.Command("podman", "exec", task.Container, "sh", "-c", cmd).CombinedOutput()
		return strings.TrimSpace(string(b)), err == nil
	}
	waitEntry(t, in)
	get := "curl -sS -m 3 -o /dev/null -w '%{http_code}' http://" + inetDNS + "/"
	if o, ok := in(get); !ok || o != "200" {
		t.Fatalf("allowed address before: %q", o)
	}
	var show struct{ Warden struct{ PID int } }
	decodeJSON(t, e.must("terok-task", "show", task.ID), &show)
	if show.Warden.PID <= 0 {
		t.Fatalf("no warden pid")
	}
	hits := inet.httpHits.Load()
	if err := exec.Command("kill", "-KILL", strconv.Itoa(show.Warden.PID)).Run(); err != nil {
		t.Fatal(err)
	}
	// The heartbeat's element outlives the warden by at most its timeout.
	deadline := time.Now().Add(shield.AliveTimeout + 5*time.Second)
	for {
		if _, ok := in(get); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the network stayed open after the warden was killed")
		}
		time.Sleep(200 * time.Millisecond)
	}
	after := inet.httpHits.Load()
	time.Sleep(500 * time.Millisecond)
	if _, ok := in(get); ok || inet.httpHits.Load() != after {
		t.Fatal("the network came back without a warden")
	}
	t.Logf("%d requests got through until the warden's heartbeat ran out", after-hits)
	if show := e.must("terok-task", "show", task.ID); !strings.Contains(show, `"alive":false`) {
		t.Errorf("show does not report the dead warden: %s", show)
	}
	if ls := e.must("terok-task", "ls"); !strings.Contains(ls, `"status":"running"`) || !strings.Contains(ls, `"warden":{"pid":`+strconv.Itoa(show.Warden.PID)+`,"alive":false}`) {
		t.Errorf("ls does not report the dead warden: %s", ls)
	}
	tty := &taskEnv{t: t, env: append(append([]string{}, e.env...), "TEROK_FORCE_TTY=1")}
	if out := tty.must("terok-task", "ls"); !strings.Contains(out, "running, cut off") {
		t.Errorf("ls on a terminal does not say the task is cut off:\n%s", out)
	}
}

// waitEntry waits until the task's entry point has started its command
// (the gate answered, so the warden serves).
func waitEntry(t *testing.T, in func(string) (string, bool)) {
	t.Helper()
	for range 100 {
		if _, ok := in("test -d /workspace/.git"); ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the task never cloned its workspace")
}

// writeShieldConfig writes a config.toml that sends the shield's DNS to
// the test's internet.
func writeShieldConfig(t *testing.T, conf string) {
	t.Helper()
	if err := os.MkdirAll(conf, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, "config.toml"), []byte("[shield]\nresolvers = [\""+inetDNS+"\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// The shield of a real task, rootful or rootless (no namespace of the
// test's own): the distribution mirror works, a literal address and a name
// not allowed fail at once and are audited, deny and allow of the mirror's
// address take effect live, verify passes.
func TestTaskShieldBasics(t *testing.T) {
	e := newTaskEnv(t)
	testenv.Need(t, fileExists(filepath.Join(shield.HooksDirDistribution, shield.HookFile)),
		"the shield's OCI hook is not registered (terok setup; scripts/test does)")
	e.must("terok-project", "new", "tb", "--agents", "command")
	e.must("terok-image", "build", "tb")
	out := e.must("terok-task", "run", "--detach", "tb", "--agent", "command", "sleep 300")
	var task struct{ ID, Container string }
	decodeJSON(t, out, &task)
	defer e.run("", "terok-task", "rm", "--force", "--yes", task.ID)
	in := func(cmd string) (string, bool) {
		b, err := exec.Command("podman", "exec", task.Container, "sh", "-c", cmd).CombinedOutput()
		return strings.TrimSpace(string(b)), err == nil
	}
	waitEntry(t, in)
	// watch follows the task's audit log from now on.
	watch := exec.Command("terok-shield", "watch", task.ID)
	watch.Env = e.env
	watchOut, _ := watch.StdoutPipe()
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = watch.Process.Kill(); _ = watch.Wait() }()
	watched := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(watchOut)
		for sc.Scan() {
			watched <- sc.Text()
		}
		close(watched)
	}()
	time.Sleep(300 * time.Millisecond)
	mirror := "curl -sS -m 10 -o /dev/null -w '%{http_code}' http://deb.debian.org/debian/"
	if o, ok := in(mirror); !ok || o != "200" {
		t.Fatalf("the distribution mirror: %q", o)
	}
	if o, ok := in("curl -sS -m 8 -o /dev/null http://192.0.2.77/"); ok || !strings.Contains(o, "(7)") {
		t.Errorf("a literal address: %q (want a refusal, curl exit 7)", o)
	}
	if _, ok := in("getent hosts not-allowed.example.org"); ok {
		t.Error("a name outside the policy resolved")
	}
	deadline := time.After(10 * time.Second)
	for seen := false; !seen; {
		select {
		case l := <-watched:
			seen = strings.Contains(l, `"dst":"192.0.2.77"`)
		case <-deadline:
			t.Fatal("terok-shield watch did not show the blocked attempt")
		}
	}
	// The clearance, rootful and rootless (the warden under podman unshare
	// checks the caller's uid as mapped there): both refusals are pending
	// requests, and a deny of one is decided and audited.
	var blocked, refused clearance.Request
	for _, r := range pendingOf(t, e, task.ID) {
		switch r.Dest {
		case "192.0.2.77":
			blocked = r
		case "not-allowed.example.org":
			refused = r
		}
	}
	if blocked.Kind != clearance.KindBlocked || blocked.Port != 80 || refused.Kind != clearance.KindRefused {
		t.Fatalf("terok-clearance ls: blocked %+v, refused %+v", blocked, refused)
	}
	if out := e.must("terok-clearance", "deny", blocked.ID); !strings.Contains(out, `"type":"decided"`) || !strings.Contains(out, `"action":"deny"`) {
		t.Errorf("terok-clearance deny: %s", out)
	}
	addr, ok := in("getent ahostsv4 deb.debian.org | head -1 | cut -d' ' -f1")
	if !ok || net.ParseIP(addr) == nil {
		t.Fatalf("the mirror's address: %q", addr)
	}
	e.must("terok-shield", "deny", task.ID, addr)
	if o, ok := in(mirror); ok {
		t.Errorf("the mirror's address still works after deny: %s", o)
	}
	e.must("terok-shield", "allow", task.ID, addr)
	if o, ok := in(mirror); !ok || o != "200" {
		t.Errorf("the mirror's address after allow: %q", o)
	}
	if v := e.must("terok-shield", "verify", task.ID); !strings.Contains(v, `"ok":true,"alive":true`) {
		t.Errorf("verify: %s", v)
	}
	if show := e.must("terok-task", "show", task.ID); !strings.Contains(show, `"shield":{"posture":"up","allow":["deb.debian.org","`+addr+`"],"deny":["192.0.2.77"]`) {
		t.Errorf("show lacks the task's egress policy: %s", show)
	}
	logs := e.must("terok-shield", "logs", task.ID)
	for _, want := range []string{`"dst":"192.0.2.77","port":80,"protocol":"tcp"`, `"event":"refused","name":"not-allowed.example.org"`,
		`"event":"deny","targets":["` + addr + `"]`, `"event":"verdict","id":"` + blocked.ID + `"`, `"reason":"deny","name":"deb.debian.org","dst":"` + addr + `"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the audit log lacks %s:\n%s", want, logs)
		}
	}
}
