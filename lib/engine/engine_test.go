package engine

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestCandidatesOrderAndRepeats(t *testing.T) {
	opts := Options{
		Socket:        "unix:///cfg.sock",
		DefaultSocket: "/def.sock",
		ServiceSocket: "/run/terok/podman/podman.sock",
		Getenv:        env(map[string]string{"CONTAINER_HOST": "unix:///def.sock"}),
	}
	got, err := candidates(opts.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	want := []Socket{
		{URI: "unix:///cfg.sock", Source: "config"},
		{URI: "unix:///def.sock", Source: "CONTAINER_HOST"},
		{URI: "unix:///run/terok/podman/podman.sock", Source: "terok"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("candidates =\n%v\nwant\n%v", got, want)
	}
}

func TestCandidatesRejectsBadSocketOption(t *testing.T) {
	for _, bad := range []string{"/run/podman/podman.sock", "tcp://localhost:1", "unix://relative.sock"} {
		if _, err := candidates(Options{Socket: bad}.withDefaults()); err == nil {
			t.Errorf("podman.socket %q accepted", bad)
		}
	}
}

func TestDefaultSocketPath(t *testing.T) {
	for _, c := range []struct {
		uid  int
		xdg  string
		want string
	}{
		{0, "/run/user/0", "/run/podman/podman.sock"},
		{1000, "/run/user/1000", "/run/user/1000/podman/podman.sock"},
		{1000, "", ""},
	} {
		got := DefaultSocketPath(c.uid, env(map[string]string{"XDG_RUNTIME_DIR": c.xdg}))
		if got != c.want {
			t.Errorf("uid %d xdg %q: %q, want %q", c.uid, c.xdg, got, c.want)
		}
	}
}

func TestSocketPath(t *testing.T) {
	if p, ok := (Socket{URI: "unix:///a/b.sock"}).Path(); !ok || p != "/a/b.sock" {
		t.Errorf("unix socket: %q %v", p, ok)
	}
	if _, ok := (Socket{URI: "ssh://u@h/run/podman.sock"}).Path(); ok {
		t.Error("ssh URI taken for a unix socket")
	}
}

func TestServiceArgs(t *testing.T) {
	got := serviceArgs(Options{
		ServiceSocket: "/r/podman/podman.sock",
		ServiceIdle:   90*time.Second + time.Millisecond,
		ServiceArgs:   []string{"--hooks-dir=/h"},
	})
	want := []string{"--hooks-dir=/h", "system", "service", "--time=91", "unix:///r/podman/podman.sock"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("serviceArgs = %q, want %q", got, want)
	}
}

func TestServiceEnvDropsRemoteEngine(t *testing.T) {
	got := serviceEnv([]string{"PATH=/bin", "CONTAINER_HOST=", "CONTAINER_CONNECTION=x", "CONTAINER_HOSTNAME=y", "XDG_RUNTIME_DIR=/run/user/1"})
	want := []string{"PATH=/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin", "CONTAINER_HOSTNAME=y", "XDG_RUNTIME_DIR=/run/user/1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("serviceEnv = %q, want %q", got, want)
	}
	// No PATH at all (env -i): the service still gets the system's.
	if got := serviceEnv([]string{"HOME=/root"}); !reflect.DeepEqual(got, []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"}) {
		t.Errorf("serviceEnv without PATH = %q", got)
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{}.withDefaults()
	if o.ServiceIdle != DefaultServiceIdle || o.PingTimeout != DefaultPingTimeout ||
		o.StartTimeout != DefaultStartTimeout || o.Podman != "podman" || o.Getenv == nil {
		t.Errorf("defaults not applied: %+v", o)
	}
}

func TestPingSaysWhy(t *testing.T) {
	dir := t.TempDir()
	err := Ping(context.Background(), filepath.Join(dir, "none.sock"), time.Second)
	if err == nil || !strings.Contains(err.Error(), "no socket") {
		t.Errorf("missing socket: %v", err)
	}
}

// TestPingBoundedBySilentService: a socket that accepts and never answers
// costs the timeout, not more.
func TestPingBoundedBySilentService(t *testing.T) {
	path := filepath.Join(t.TempDir(), "silent.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	release := make(chan struct{})
	defer close(release)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { <-release; _ = c.Close() }()
		}
	}()
	began := time.Now()
	if err := Ping(context.Background(), path, 200*time.Millisecond); err == nil {
		t.Fatal("a silent socket answered")
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("ping took %s", d)
	}
}

func TestPingAnswered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_ping" {
			_, _ = w.Write([]byte("OK")) // a lost answer fails the ping, which the test reports
			return
		}
		http.NotFound(w, r)
	})}
	go func() { _ = srv.Serve(l) }() // it ends at Close
	defer srv.Close()
	if err := Ping(context.Background(), path, time.Second); err != nil {
		t.Errorf("ping: %v", err)
	}
}

func TestSetupErrorExitCode(t *testing.T) {
	var err error = &SetupError{Msg: "podman is not installed", Fix: "apt-get install -y podman"}
	c, ok := err.(interface{ ExitCode() int })
	if !ok || c.ExitCode() != 3 {
		t.Errorf("SetupError does not carry exit code 3")
	}
}

// TestConnectWithoutPodmanIsNotSetUp: nothing answers and there is no
// podman to start: a SetupError (exit 3) naming the fix.
func TestConnectWithoutPodmanIsNotSetUp(t *testing.T) {
	dir := t.TempDir()
	_, err := Connect(context.Background(), Options{
		DefaultSocket: filepath.Join(dir, "default.sock"),
		ServiceSocket: filepath.Join(dir, "run", "podman.sock"),
		Podman:        filepath.Join(dir, "no-podman-here"),
		Getenv:        env(nil),
	})
	se, ok := err.(*SetupError)
	if !ok || se.ExitCode() != 3 || !strings.Contains(se.Fix, "apt-get install -y podman") {
		t.Fatalf("want a SetupError with the install line, got %#v", err)
	}
}

// TestConnectNamedSocketIsFinal: a CONTAINER_HOST (or podman.socket) that
// does not answer is an error naming it; terok starts no service of its
// own beside it (none is even tried: the service socket stays absent).
func TestConnectNamedSocketIsFinal(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []Options{
		{Getenv: env(map[string]string{"CONTAINER_HOST": "unix://" + dir + "/gone.sock"})},
		{Socket: "unix://" + dir + "/gone.sock", Getenv: env(nil)},
	} {
		o.DefaultSocket = dir + "/default.sock"
		o.ServiceSocket = dir + "/terok/podman.sock"
		_, err := Connect(context.Background(), o)
		var se *SetupError
		if !errors.As(err, &se) || !strings.Contains(se.Msg, dir+"/gone.sock") {
			t.Fatalf("Connect: %v, want a SetupError naming the socket", err)
		}
		if _, err := os.Stat(o.ServiceSocket); err == nil {
			t.Fatal("a service was started beside the named socket")
		}
		if _, err := os.Stat(filepath.Dir(o.ServiceSocket)); err == nil {
			t.Fatal("terok's own service was tried")
		}
	}
}
