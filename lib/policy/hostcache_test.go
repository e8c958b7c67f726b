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
	write := func(p, s string) { t.Helper(); writeFile(t, p, s) }
	rc := filepath.Join(home, ".npmrc")
	write(rc, "registry=https://a.example/\n")
	expect("after ~/.npmrc appeared", 3)
	write(rc, "registry=https://bb.example/\n")
	if err := os.Chtimes(rc, time.Now().Add(time.Minute), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	expect("after ~/.npmrc changed", 4)
	expect("again", 4)
	write(path, "{not json")
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
	// JSON's null decodes to a nil map, which the update must not write into.
	write(path, "null")
	expect("with a null cache", 9)
	expect("again", 9)
}
