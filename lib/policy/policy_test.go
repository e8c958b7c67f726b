package policy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/config"
)

func paths(t *testing.T) config.Paths {
	d := t.TempDir()
	return config.Paths{Config: d + "/config", State: d + "/state", Data: d + "/data", Runtime: d + "/run"}
}

// writeFile writes a file the test needs, and its directories, or fails
// the test.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func texts(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Text)
	}
	return out
}

// Every built-in profile parses and names no source it cannot follow.
func TestBuiltinProfiles(t *testing.T) {
	all, err := Profiles(paths(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"base", "git-hosting", "node", "python", "go", "rust"} {
		if p, ok := all[n]; !ok || p.Description == "" || p.Origin != "built-in" {
			t.Errorf("built-in profile %s: %+v", n, p)
		}
	}
}

func TestPolicyComposition(t *testing.T) {
	ps := paths(t)
	dir := ProfilesDir(ps)
	writeFile(t, filepath.Join(dir, "corp.toml"), "description = \"c\"\nallow = [\"*.corp.example\", \"10.1.2.3\"]\nfollow = [\"npm-registry\"]\n")
	g := config.DefaultGlobal()
	p := config.DefaultProject()
	p.Upstream = "git@git.corp.example:team/app.git"
	p.Shield.Profiles = []string{"base", "corp"}
	p.Shield.Allow = []string{"api.example.org"}
	p.Shield.Deny = []string{"secret.corp.example"}
	host := Host{Mirrors: []string{"deb.mirror.example"}, Lookup: func(src string) ([]string, string) {
		if src == "npm-registry" {
			return []string{"npm.corp.example"}, ""
		}
		return nil, "none"
	}}
	pol, err := For(ps, g, p, host)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(texts(pol.Allow), " ")
	want := "deb.mirror.example *.corp.example 10.1.2.3 npm.corp.example git.corp.example api.example.org"
	if got != want {
		t.Fatalf("allow = %s\nwant    %s", got, want)
	}
	for name, ok := range map[string]bool{"x.corp.example": true, "secret.corp.example": false, "corp.example": false,
		"api.example.org": true, "API.Example.org.": true, "evil.example.org": false, "deb.mirror.example": true} {
		if pol.Allowed(name) != ok {
			t.Errorf("Allowed(%s) = %v", name, !ok)
		}
	}
	if pol.Allow[0].From != "profile base (distribution-mirrors)" || pol.Allow[4].From != "the project's upstream" {
		t.Errorf("from: %+v", pol.Allow)
	}

	// An unknown profile is an error with the known ones as a hint.
	p.Shield.Profiles = []string{"nope"}
	if _, err := For(ps, g, p, host); err == nil || !strings.Contains(err.(*UnknownProfileError).Hint(), "corp") {
		t.Fatalf("unknown profile: %v", err)
	}
	// A broken user profile names its file.
	writeFile(t, filepath.Join(dir, "bad.toml"), "allow = [\"not a target\"]\n")
	if _, err := Profiles(ps); err == nil || !strings.Contains(err.Error(), "bad.toml") {
		t.Fatalf("broken profile: %v", err)
	}
}

func TestUpstreamHost(t *testing.T) {
	for in, want := range map[string]string{
		"https://git.example.com/a/b.git": "git.example.com", "ssh://git@host.example:2222/x": "host.example",
		"git@gh.example:o/r.git": "gh.example", "/srv/git/r": "", "": "", "file:///srv/r": "",
	} {
		if got := UpstreamHost(in); got != want {
			t.Errorf("UpstreamHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseSources(t *testing.T) {
	text := `# comment
deb http://deb.example.org/debian bookworm main
deb [signed-by=/x.gpg arch=amd64] https://sec.example.org/debian-security bookworm-security main
Types: deb
URIs: http://mirror.example.net/debian http://deb.example.org/debian
baseurl=https://rpm.example.com/$releasever/
metalink=https://meta.example.com/metalink?repo=x
`
	got := ParseSources(text)
	want := []string{"deb.example.org", "sec.example.org", "mirror.example.net", "rpm.example.com", "meta.example.com"}
	if !slices.Equal(got, want) {
		t.Fatalf("ParseSources = %v, want %v", got, want)
	}
}

// The host's own tools answer where they are installed (this host has go).
func TestHostLookupFollowsEnvironment(t *testing.T) {
	env := map[string]string{"NPM_CONFIG_REGISTRY": "https://npm.corp.example/", "GOPROXY": "https://goproxy.corp.example,direct", "GOSUMDB": "off",
		"PIP_INDEX_URL": "https://pypi.corp.example/simple"}
	look := HostLookup(func(k string) string { return env[k] }, t.TempDir())
	for src, want := range map[string]string{"npm-registry": "npm.corp.example", "go-proxy": "goproxy.corp.example", "pip-index": "pypi.corp.example"} {
		if hosts, note := look(src); !slices.Equal(hosts, []string{want}) {
			t.Errorf("%s: %v (%s), want %s", src, hosts, note, want)
		}
	}
	home := t.TempDir()
	writeFile(t, home+"/.cargo/config.toml", "[source.crates-io]\nreplace-with = \"corp\"\n[source.corp]\nregistry = \"sparse+https://crates.corp.example/index/\"\n")
	if hosts, note := HostLookup(func(string) string { return "" }, home)("cargo-registry"); !slices.Equal(hosts, []string{"crates.corp.example"}) {
		t.Errorf("cargo: %v %s", hosts, note)
	}
}
