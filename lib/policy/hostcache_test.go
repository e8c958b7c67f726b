package policy

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// The cache answers again only while nothing the answer depends on
// changed: an environment variable, a configuration file appearing or
// changing, or a corrupt cache file each make the lookup run again.
func TestCachedHostLookup(t *testing.T) {
	home := t.TempDir()
	env := map[string]string{"PATH": "/nonexistent"}
	getenv := func(k string) string { return env[k] }
	calls := 0
	look := func(source string) ([]string, string) {
		calls++
		return []string{"registry.corp.example"}, ""
	}
	path := filepath.Join(t.TempDir(), "shield", "host-sources.json")
	cached := CachedHostLookup(look, path, getenv, home)
	expect := func(when string, want int) {
		t.Helper()
		hosts, _ := cached("npm-registry")
		if !slices.Equal(hosts, []string{"registry.corp.example"}) {
			t.Fatalf("%s: hosts %v", when, hosts)
		}
		if calls != want {
			t.Fatalf("%s: %d lookups, want %d", when, calls, want)
		}
	}
	expect("first", 1)
	expect("again", 1)
	env["NPM_CONFIG_REGISTRY"] = "https://npm.corp.example/"
	expect("after an environment change", 2)
	expect("again", 2)
	rc := filepath.Join(home, ".npmrc")
	os.WriteFile(rc, []byte("registry=https://a.example/\n"), 0o600)
	expect("after ~/.npmrc appeared", 3)
	os.WriteFile(rc, []byte("registry=https://bb.example/\n"), 0o600)
	os.Chtimes(rc, time.Now().Add(time.Minute), time.Now().Add(time.Minute))
	expect("after ~/.npmrc changed", 4)
	expect("again", 4)
	os.WriteFile(path, []byte("{not json"), 0o600)
	expect("with a corrupt cache", 5)
	expect("again", 5)
	// Another source is cached on its own; an unknown one never.
	cached("go-proxy")
	cached("go-proxy")
	cached("mystery")
	cached("mystery")
	if calls != 8 {
		t.Fatalf("%d lookups after go-proxy twice and an unknown source twice, want 8", calls)
	}
}
