package resolver

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestHostUpstreams(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(conf, []byte("# comment\nsearch example.com\nnameserver 192.0.2.53\nnameserver 2001:db8::53\noptions timeout:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := HostUpstreams(conf)
	if err != nil || !slices.Equal(got, []string{"192.0.2.53:53", "[2001:db8::53]:53"}) {
		t.Fatalf("HostUpstreams = %v, %v", got, err)
	}
	empty := filepath.Join(dir, "empty.conf")
	if err := os.WriteFile(empty, []byte("search example.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := HostUpstreams(empty); err == nil {
		t.Fatal("no nameserver accepted")
	}
	if _, err := HostUpstreams(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestNewChecksConfig(t *testing.T) {
	learn := func(string, []netip.Addr, time.Duration) error { return nil }
	allow := PolicyFunc(func(string) bool { return true })
	for name, cfg := range map[string]Config{
		"no policy":    {Learn: learn, Upstreams: []string{"127.0.0.1:53"}},
		"no learn":     {Policy: allow, Upstreams: []string{"127.0.0.1:53"}},
		"bad upstream": {Policy: allow, Learn: learn, Upstreams: []string{"127.0.0.1"}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	r, err := New(Config{Policy: allow, Learn: learn, Upstreams: []string{"[::1]:53"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}
