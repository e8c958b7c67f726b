package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/terok-ai/terok-go/lib/netns"
	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/testenv"
)

// serveTLS serves HTTPS on addr:443 in the internet's namespace, for any
// server name, with a self-signed certificate; each answer names the host
// it was asked for.
func serveTLS(t *testing.T, inet *theInternet, addr string) {
	t.Helper()
	if inet.shared {
		return // its server serves TLS already (TestServeInternet)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test.example"},
		DNSNames: []string{"*.test.example"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	err = netns.DoPath("/run/netns/"+inet.name, func() error {
		l, err := net.Listen("tcp", addr+":443")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello %s\n", r.Host)
		})}
		go func() { _ = srv.Serve(tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}})) }()
		t.Cleanup(func() { _ = srv.Close() })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestServeInternet serves the test internet (with HTTPS on its first
// address) for the rootless tests, which cannot make a network namespace
// routed from the host: with TEROK_TEST_SERVE_INTERNET=DIR, it writes the
// namespace's name to DIR/ready and serves until SIGTERM or SIGINT
// (scripts/test runs it as root beside the rootless tests). Without it,
// it checks that what it serves answers: the zone's name and HTTPS for two
// names on one address.
func TestServeInternet(t *testing.T) {
	inet := newInternet(t)
	if inet.shared {
		t.Fatal("TestServeInternet runs as root")
	}
	serveTLS(t, inet, inetDNS)
	if dir := os.Getenv("TEROK_TEST_SERVE_INTERNET"); dir != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		if err := os.WriteFile(filepath.Join(dir, "ready"), []byte(inet.name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		<-ctx.Done()
		return
	}
	m := new(dns.Msg)
	m.SetQuestion("two.test.example.", dns.TypeA)
	r, err := dns.Exchange(m, inetDNS+":53")
	if err != nil || len(r.Answer) != 1 || !strings.HasSuffix(r.Answer[0].String(), inetDNS) {
		t.Fatalf("the internet's DNS: %v %v", r, err)
	}
	for _, name := range []string{"one.test.example", "two.test.example"} {
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{ServerName: name, InsecureSkipVerify: true}, //nolint:gosec // a test server's own certificate
		}}
		resp, err := c.Get("https://" + inetDNS + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if want := "hello " + inetDNS; !strings.Contains(string(b), want) {
			t.Errorf("%s: %q, want %q", name, b, want)
		}
	}
}

// TestTaskShieldNames: issue 16. Two names served from ONE address, a
// task whose policy allows only the first: the first works over HTTPS and
// HTTP (a ClientHello of over 2 KiB too); the second is refused with
// curl --resolve, and as a second request on a kept-alive HTTP
// connection; the address with no name is refused; each refusal is in
// terok-shield logs with the name; allowing the second works at once.
func TestTaskShieldNames(t *testing.T) {
	e := newTaskEnv(t)
	testenv.Need(t, fileExists(filepath.Join(shield.HooksDirDistribution, shield.HookFile)),
		"the shield's OCI hook is not registered (terok setup; scripts/test does)")
	inet := newInternet(t)
	serveTLS(t, inet, inetDNS)
	conf := envValue(e.env, "TEROK_CONFIG_DIR")
	writeShieldConfig(t, conf)
	appendFile(t, filepath.Join(conf, "config.toml"), "address_ports = [2222]\n") // in [shield]
	e.must("terok-project", "new", "tn", "--agents", "command")
	testenv.WithPython(t, filepath.Join(conf, "projects", "tn", "project.toml"))
	appendFile(t, filepath.Join(conf, "projects", "tn", "project.toml"), "\n[shield]\nallow = [\"one.test.example\"]\n")
	e.must("terok-image", "build", "tn")
	task := startClearTask(t, e, "tn")
	in := task.in

	two := "--resolve two.test.example:443:" + inetDNS + " --resolve two.test.example:80:" + inetDNS
	for _, c := range []struct {
		what, cmd string
		ok        bool
	}{
		{"allowed name, https", "curl -sSk -m 8 https://one.test.example/", true},
		{"allowed name, http", "curl -sS -m 8 http://one.test.example/", true},
		{"allowed name, a ClientHello of over 2 KiB", `python3 -c "
import socket, ssl
c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE
c.set_alpn_protocols([chr(97 + i) * 200 for i in range(15)])
s = c.wrap_socket(socket.create_connection(('one.test.example', 443), timeout=8), server_hostname='one.test.example')
s.sendall(b'GET / HTTP/1.1\r\nHost: one.test.example\r\nConnection: close\r\n\r\n')
print(s.recv(4096).decode().splitlines()[-1])"`, true},
		{"other name, https", "curl -sSk -m 8 " + two + " https://two.test.example/", false},
		{"other name, http", "curl -sS -m 8 " + two + " http://two.test.example/", false},
		{"the address, https with no name", "curl -sSk -m 8 https://" + inetDNS + "/", false},
		{"the address, http with no name", "curl -sS -m 8 http://" + inetDNS + "/", false},
		{"other name, second request on a kept-alive connection", `python3 -c "
import socket
s = socket.create_connection(('one.test.example', 80), timeout=8)
for h in ('one.test.example', 'two.test.example'):
    s.sendall(('GET / HTTP/1.1\r\nHost: %s\r\n\r\n' % h).encode())
    d = s.recv(4096)
    if not d: raise SystemExit('closed at ' + h)
    print(h, d.split(b' ')[1].decode())"`, false},
	} {
		o, ok := in(c.cmd)
		if ok != c.ok {
			t.Errorf("%s: ok=%v, want %v: %s", c.what, ok, c.ok, o)
		}
		if c.ok && !strings.Contains(o, "hello") {
			t.Errorf("%s: %q", c.what, o)
		}
		if strings.Contains(c.what, "kept-alive") && !strings.Contains(o, "one.test.example 200") {
			t.Errorf("%s: the first request was not answered: %q", c.what, o)
		}
	}
	logs := e.must("terok-shield", "logs", task.ID)
	if t.Failed() {
		t.Logf("terok-shield logs:\n%s", logs)
		for _, kv := range e.env {
			if k, dir, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "TEROK_") && filepath.IsAbs(dir) {
				_ = filepath.WalkDir(dir, func(p string, _ os.DirEntry, _ error) error {
					if strings.HasSuffix(p, ".warden.log") {
						b, _ := os.ReadFile(p)
						t.Logf("%s:\n%s", p, b)
					}
					return nil
				})
			}
		}
	}
	if !strings.Contains(logs, `"name":"two.test.example"`) || !strings.Contains(logs, `"reason":"no-name"`) {
		t.Errorf("terok-shield logs has no refusal naming two.test.example, or none with no name:\n%s", logs)
	}
	if rules := e.must("terok-shield", "rules", task.ID); !strings.Contains(rules, "tcp to learned addresses") || !strings.Contains(rules, "tcp/2222") {
		t.Errorf("terok-shield rules does not show the name check and the address port:\n%s", rules)
	}
	e.must("terok-shield", "allow", task.ID, "two.test.example")
	if o, ok := in("curl -sSk -m 8 https://two.test.example/"); !ok || !strings.Contains(o, "hello two.test.example") {
		t.Errorf("the second name after allow: %q", o)
	}
}
