package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestUnknownKeysNameFileLineAndKey(t *testing.T) {
	for _, tc := range []struct {
		name, src, key string
		line           int
	}{
		{"top level", "description = \"x\"\nbogus = 1\n", "bogus", 2},
		{"in table", "branch = \"main\"\n\n[image]\nbase = \"a\"\nagent = [\"x\"]\n", "image.agent", 5},
		{"dotted", "description = \"\"\nimage.bsae = \"x\"\n", "image.bsae", 2},
		{"quoted", "[image]\n\"colour\" = 1\n", "image.colour", 2},
		{"unknown table", "# c\n[clearance]\nallow = []\n", "clearance", 2},
		{"after multiline", "description = \"\"\"\nnot = a key\n\"\"\"\nnot = 1\n", "not", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeProject("/p/project.toml", []byte(tc.src))
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want FileError", err)
			}
			if fe.Key != tc.key || fe.Line != tc.line || fe.Msg != "unknown key" || fe.Path != "/p/project.toml" {
				t.Fatalf("got %+v, want key %s line %d", fe, tc.key, tc.line)
			}
		})
	}
}

func TestSuggestion(t *testing.T) {
	_, err := DecodeGlobal("c.toml", []byte("[image]\nbsae = \"x\"\n"))
	var fe *FileError
	if !errors.As(err, &fe) || !strings.Contains(fe.Hint, `"image.base"`) {
		t.Fatalf("no suggestion: %+v", err)
	}
}

func TestTypeAndValueErrors(t *testing.T) {
	for _, tc := range []struct {
		src, key, msg string
		line          int
	}{
		{"branch = 3\n", "branch", "incompatible types", 1},
		{"\n[image]\nagents = \"claude\"\n", "image.agents", "incompatible types", 3},
		{"branch = \"a b\"\n", "branch", "invalid branch name", 1},
		{"upstream = \"relative/path\"\n", "upstream", "neither a git URL", 1},
		{"[image]\nbase = \"UPPER/case\"\n", "image.base", "invalid image reference", 2},
		{"[image]\nagents = [\"a\", \"a\"]\n", "image.agents", "listed twice", 2},
		{"description = \"a\\nb\"\n", "description", "one line", 1},
		{"branch = \n", "", "", 1},
	} {
		_, err := DecodeProject("p.toml", []byte(tc.src))
		var fe *FileError
		if !errors.As(err, &fe) {
			t.Fatalf("%q: got %v", tc.src, err)
		}
		if fe.Line != tc.line || (tc.key != "" && fe.Key != tc.key) || !strings.Contains(fe.Msg, tc.msg) {
			t.Errorf("%q: got %+v", tc.src, fe)
		}
	}
	_, err := DecodeGlobal("c.toml", []byte("[podman]\nservice_idle = \"-5s\"\n"))
	if err == nil || !strings.Contains(err.Error(), "c.toml:2") {
		t.Errorf("negative duration: %v", err)
	}
}

func TestDefaultsAndMissingGlobal(t *testing.T) {
	g, err := LoadGlobal(filepath.Join(t.TempDir(), "none.toml"))
	if err != nil || !reflect.DeepEqual(g, DefaultGlobal()) {
		t.Fatalf("%v %+v", err, g)
	}
	p, err := DecodeProject("p", []byte("[image]\nagents = [\"claude\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Branch != "main" || p.EffectiveBase(g) != DefaultBase || p.EffectiveAgents(g)[0] != "claude" {
		t.Fatalf("%+v", p)
	}
}

func TestOversizedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "project.toml")
	if err := os.WriteFile(path, []byte("description = \""+strings.Repeat("x", MaxFileSize)+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadProject(path); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("got %v", err)
	}
}

// Every key in the table has a doc line and a known type.
func TestSchemaComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Schema() {
		if k.Doc == "" || strings.HasSuffix(k.Doc, " ") {
			t.Errorf("%s %s: no doc", k.File, k.Key)
		}
		if strings.Contains(k.Type, ".") {
			t.Errorf("%s: type %q has no schema name", k.Key, k.Type)
		}
		if seen[k.File+k.Key] {
			t.Errorf("%s listed twice", k.Key)
		}
		seen[k.File+k.Key] = true
	}
	if !seen["config.tomlimage.base"] || !seen["project.tomlupstream"] {
		t.Fatalf("schema lacks keys: %v", seen)
	}
}

func TestValidName(t *testing.T) {
	good := []string{"a", "demo", "my-project-2", strings.Repeat("a", MaxNameLen)}
	bad := []string{"", "../x", "x/y", "Demo", "-a", "a-", "a--b", "1abc", "all", "config", "a.b", "a_b",
		strings.Repeat("a", MaxNameLen+1), "é", "a b", "."}
	for _, n := range good {
		if err := ValidName(n); err != nil {
			t.Errorf("%q refused: %v", n, err)
		}
	}
	for _, n := range bad {
		if ValidName(n) == nil {
			t.Errorf("%q accepted", n)
		}
	}
}

func TestValidBranchAndUpstream(t *testing.T) {
	for _, b := range []string{"main", "feature/x", "v1.2", "a-b_c"} {
		if err := ValidBranch(b); err != nil {
			t.Errorf("%q: %v", b, err)
		}
	}
	for _, b := range []string{"", "a..b", "a b", "-x", "x/", "/x", "x.lock", "a~1", "a:b", "HEAD", ".x", "x/.y", "refs/heads/x", "a@{1}", "a\x01"} {
		if ValidBranch(b) == nil {
			t.Errorf("%q accepted", b)
		}
	}
	for _, u := range []string{"", "https://h/x.git", "ssh://git@h/x", "git@h:team/x.git", "/srv/git/x", "file:///srv/x"} {
		if err := ValidUpstream(u); err != nil {
			t.Errorf("%q: %v", u, err)
		}
	}
	for _, u := range []string{"x", "./x", "ftp://h/x", "https://", "-uhttps://x", "/a b", "ext::sh -c x"} {
		if ValidUpstream(u) == nil {
			t.Errorf("%q accepted", u)
		}
	}
}

func TestResolvePaths(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	p, err := ResolvePaths(env(map[string]string{"HOME": "/home/u", "XDG_RUNTIME_DIR": "/run/user/1000"}), 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := Paths{Config: "/home/u/.config/terok", State: "/home/u/.local/state/terok", Data: "/home/u/.local/share/terok", Runtime: "/run/user/1000/terok"}
	if p.Config != want.Config || p.State != want.State || p.Data != want.Data || p.Runtime != want.Runtime {
		t.Fatalf("got %+v", p)
	}
	p, _ = ResolvePaths(env(map[string]string{"HOME": "/root", "TEROK_DATA_DIR": "/d"}), 0)
	if p.Config != "/etc/terok" || p.Data != "/d" || p.Runtime != "/run/terok" {
		t.Fatalf("root: %+v", p)
	}
	if _, err := ResolvePaths(env(map[string]string{}), 1000); err == nil {
		t.Fatal("no HOME accepted")
	}
	if _, err := ResolvePaths(env(map[string]string{"HOME": "/h", "TEROK_CONFIG_DIR": "rel"}), 1000); err == nil {
		t.Fatal("relative root accepted")
	}
}

// FuzzDecodeProject: any input either decodes into a valid project or fails
// with a FileError that names the file; never a panic.
func FuzzDecodeProject(f *testing.F) {
	for _, s := range []string{
		"", "description = \"x\"\n", "[image]\nbase = \"a/b:1\"\nagents = [\"claude\"]\n",
		"bogus = 1", "branch = 3", "[[image]]\n", "a.b.c = 1", "description = '''\nx\n'''\n",
		"\"quoted.key\" = 1", "[image]\n[image]\n", "x = {a = 1}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodeProject("f.toml", data)
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) || fe.Path != "f.toml" {
				t.Fatalf("error without file: %v", err)
			}
			return
		}
		if _, err := DecodeProject("again.toml", []byte("branch = "+quoteTOML(p.Branch)+"\n")); err != nil {
			t.Fatalf("decoded branch %q does not round-trip: %v", p.Branch, err)
		}
	})
}

// FuzzDecodeGlobal does the same for config.toml.
func FuzzDecodeGlobal(f *testing.F) {
	f.Add([]byte("[image]\nbase = \"x\"\n[podman]\nservice_idle = \"5m\"\n"))
	f.Add([]byte("[podman]\nsocket = \"unix:///x\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := DecodeGlobal("g.toml", data); err != nil {
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error without file: %v", err)
			}
		}
	})
}

func quoteTOML(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

func TestValidImageRef(t *testing.T) {
	for _, s := range []string{"debian", "debian:bookworm", "localhost/terok/debian:bookworm", "registry.example:5000/a/b:1.0",
		"a/b@sha256:" + strings.Repeat("a", 64), "Host.Example/x"} {
		if err := ValidImageRef(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", "UPPER/case", "Debian", "a b", "a:", ":tag", "a//b", "a/b:-x", "a@sha256:zz", "-a", "localhost/"} {
		if ValidImageRef(s) == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestGateKeys(t *testing.T) {
	g, err := DecodeGlobal("c.toml", []byte("[gate]\nprotected = [\"release/*\"]\nmax_push_size = \"20m\"\nbackup_max_age = \"48h\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := DecodeProject("p.toml", []byte("branch = \"trunk\"\n[gate]\nprotected = [\"stable\"]\nallow_tags = true\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := p.EffectiveGate(g)
	if e.DefaultBranch != "trunk" || strings.Join(e.Protected, ",") != "release/*,stable" || !e.AllowTags ||
		e.MaxPushSize != 20<<20 || e.BackupMaxAge.Hours() != 48 {
		t.Fatalf("%+v", e)
	}
	p.Gate.MaxPushSize = 5
	if p.EffectiveGate(g).MaxPushSize != 5 {
		t.Fatal("project max_push_size does not override")
	}
	for _, tc := range []struct{ src, key, msg string }{
		{"[gate]\nmax_push_size = \"lots\"\n", "gate.max_push_size", "not a size"},
		{"[gate]\nmax_push_size = \"0\"\n", "gate.max_push_size", "more than 0"},
		{"[gate]\nprotected = [\"a b\"]\n", "gate.protected", "invalid branch pattern"},
		{"[gate]\nprotected = [\"[\"]\n", "gate.protected", "invalid branch pattern"},
	} {
		_, err := DecodeGlobal("c.toml", []byte(tc.src))
		var fe *FileError
		if !errors.As(err, &fe) || fe.Key != tc.key || !strings.Contains(fe.Msg, tc.msg) {
			t.Errorf("%q: got %v", tc.src, err)
		}
	}
}

func TestCheckSnippet(t *testing.T) {
	good := []string{
		"",
		"# only a comment\n\n",
		"RUN apt-get update && \\\n    apt-get install -y jq\nENV A=1\n",
		"run echo lower-case works\nLABEL org.example.team=web\nADD --chmod=644 https://example.com/x /opt/x\nUSER root\n",
		"RUN a \\\n# a comment inside\n  b\n",
	}
	for _, s := range good {
		if line, err := CheckSnippet(s); err != nil {
			t.Errorf("%q refused at line %d: %v", s, line, err)
		}
	}
	for _, tc := range []struct {
		src, msg string
		line     int
	}{
		{"RUN ok\nFROM debian\n", "FROM is not allowed", 2},
		{"\n\nCOPY a /b\n", "COPY is not allowed", 3},
		{"CMD [\"sh\"]", "CMD is not allowed", 1},
		{"ENTRYPOINT x", "ENTRYPOINT is not allowed", 1},
		{"RUN a \\\n b\nFROBNICATE x\n", `unknown instruction "FROBNICATE"`, 3},
		{"LABEL terok.layer=l9\n", "terok.* labels", 1},
		{"ADD local.txt /x\n", "only URLs", 1},
		{"RUN\n", "has no arguments", 1},
		{"RUN a \\\n", "continued line", 1},
		{"RUN a\x00\n", "NUL", 1},
	} {
		line, err := CheckSnippet(tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.msg) || line != tc.line {
			t.Errorf("%q: got line %d %v, want line %d %q", tc.src, line, err, tc.line, tc.msg)
		}
	}
	// In project.toml the error names the key's line.
	_, err := DecodeProject("p.toml", []byte("branch = \"main\"\n[image]\nsnippet = '''\nRUN true\nFROM x\n'''\n"))
	var fe *FileError
	if !errors.As(err, &fe) || fe.Line != 3 || fe.Key != "image.snippet" || !strings.Contains(fe.Msg, "snippet line 2: FROM") {
		t.Fatalf("got %+v", err)
	}
}

func TestFamily(t *testing.T) {
	if _, err := DecodeGlobal("c.toml", []byte("[image]\nfamily = \"apk\"\n")); err == nil || !strings.Contains(err.Error(), "c.toml:2: image.family: unknown package family") {
		t.Fatalf("got %v", err)
	}
	g := DefaultGlobal()
	g.Image.Family = "rpm"
	p := DefaultProject()
	if p.EffectiveFamily(g) != "rpm" {
		t.Fatal("a project on the global base takes the global family")
	}
	p.Image.Base = "other:1"
	if p.EffectiveFamily(g) != "" {
		t.Fatal("a project on its own base must not take the global base's family")
	}
	p.Image.Family = "deb"
	if p.EffectiveFamily(g) != "deb" {
		t.Fatal("the project's own family wins")
	}
}

func TestCachePaths(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	p, _ := ResolvePaths(env(map[string]string{"HOME": "/home/u", "XDG_RUNTIME_DIR": "/r"}), 1000)
	if p.Cache != "/home/u/.cache/terok" || p.RootfsDir() != "/home/u/.cache/terok/rootfs" {
		t.Fatalf("got %+v", p)
	}
	p, _ = ResolvePaths(env(map[string]string{"HOME": "/root"}), 0)
	if p.Cache != SystemCacheDir {
		t.Fatalf("root: %+v", p)
	}
	p, _ = ResolvePaths(env(map[string]string{"HOME": "/h", "XDG_CACHE_HOME": "/xc", "XDG_RUNTIME_DIR": "/r"}), 5)
	if p.Cache != "/xc/terok" || p.AgentsDir() != "/h/.config/terok/agents" || p.ImagesDir() != "/h/.local/state/terok/images" {
		t.Fatalf("xdg: %+v", p)
	}
}

// A project's shield keys are checked where they are written.
func TestProjectShieldKeys(t *testing.T) {
	p, err := DecodeProject("/p/project.toml", []byte("[shield]\nprofiles = [\"base\", \"python\"]\nallow = [\"*.Example.com\", \"192.0.2.0/24\"]\ndeny = [\"203.0.113.9\"]\n"))
	if err != nil || len(p.Shield.Allow) != 2 || p.Shield.Profiles[1] != "python" {
		t.Fatalf("%+v %v", p.Shield, err)
	}
	for _, bad := range []string{"[shield]\nallow = [\"not a domain\"]\n", "[shield]\ndeny = [\"10.0.0.0/40\"]\n", "[shield]\nprofiles = [\"../etc\"]\n", "[shield]\nallow = [\"0.0.0.0/0\"]\n", "[shield]\nallow = [\"::/0\"]\n"} {
		_, err := DecodeProject("/p/project.toml", []byte(bad))
		var fe *FileError
		if !errors.As(err, &fe) || fe.Line != 2 {
			t.Errorf("%q: %v, want a FileError at line 2", bad, err)
		}
	}
}

// The vault's keys: providers are a table of named tables, checked by name
// and URL; an unknown key inside one is named with its provider.
func TestVaultKeys(t *testing.T) {
	g, err := DecodeGlobal("c.toml", []byte("[vault]\npassphrase_command = [\"pass\", \"show\", \"terok\"]\nmax_body = \"1m\"\n\n[vault.providers.anthropic]\nupstream = \"http://127.0.0.1:8080\"\napi_key_prefix = \"\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if g.Vault.MaxBody != 1<<20 || g.Vault.Providers["anthropic"].Upstream != "http://127.0.0.1:8080" ||
		g.Vault.Providers["anthropic"].APIKeyPrefix == nil || g.Vault.UnlockTTL != DefaultGlobal().Vault.UnlockTTL {
		t.Fatalf("%+v", g.Vault)
	}
	for _, tc := range []struct{ src, key, msg string }{
		{"[vault.providers.anthropic]\nupstream = \"ftp://x\"\n", "vault.providers.anthropic.upstream", "not an http(s)"},
		{"[vault.providers.anthropic]\nupstream = \"https://u:p@x\"\n", "vault.providers.anthropic.upstream", "not an http(s)"},
		{"[vault.providers.anthropic]\nupstraem = \"https://x\"\n", "vault.providers.anthropic.upstraem", "unknown key"},
		{"[vault.providers.\"Bad Name\"]\nupstream = \"https://x\"\n", "vault.providers.Bad Name", "invalid provider name"},
		{"[vault.providers.x]\nerror_shape = \"xml\"\n", "vault.providers.x.error_shape", "not anthropic"},
		{"[vault]\nmax_body = \"0\"\n", "vault.max_body", "more than 0"},
		{"[vault]\npassphrase_command = [\"\"]\n", "vault.passphrase_command", "empty"},
	} {
		_, err := DecodeGlobal("c.toml", []byte(tc.src))
		var fe *FileError
		if !errors.As(err, &fe) || fe.Key != tc.key || !strings.Contains(fe.Msg, tc.msg) {
			t.Errorf("%q: got %#v", tc.src, err)
		}
	}
	if _, err := DecodeProject("p.toml", []byte("[vault]\ndirect = [\"anthropic\"]\nunvaulted = [\"copilot\"]\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeProject("p.toml", []byte("[vault]\ndirect = [\"A B\"]\n")); err == nil {
		t.Fatal("a bad provider name in vault.direct was taken")
	}
}

// A runtime root in the shared temporary directory must be the user's
// alone: made 0700 when missing, refused when another user (or a link, or
// loose permissions) got there first. Other sources are not touched.
func TestCheckSharedRuntime(t *testing.T) {
	base := t.TempDir()
	uid := os.Getuid()
	paths := func(dir string) Paths { return Paths{Runtime: dir, Source: map[string]string{"runtime": "tmp"}} }
	fresh := filepath.Join(base, "fresh")
	if err := paths(fresh).CheckSharedRuntime(uid); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(fresh); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("made %v %v", fi, err)
	}
	loose := filepath.Join(base, "loose")
	if err := os.Mkdir(loose, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := paths(loose).CheckSharedRuntime(uid); err == nil || !strings.Contains(err.Error(), "open to others") {
		t.Errorf("loose: %v", err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(fresh, link); err != nil {
		t.Fatal(err)
	}
	if err := paths(link).CheckSharedRuntime(uid); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("link: %v", err)
	}
	if err := paths(fresh).CheckSharedRuntime(uid + 1); err == nil || !strings.Contains(err.Error(), "another user") {
		t.Errorf("another user's: %v", err)
	}
	other := Paths{Runtime: loose, Source: map[string]string{"runtime": "xdg"}}
	if err := other.CheckSharedRuntime(uid); err != nil {
		t.Errorf("an XDG runtime dir is the user's business: %v", err)
	}
}

func TestRunGPUs(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      GPUs
		line      int    // of the error; 0: no error
		msg       string // in the error
	}{
		{"unset", "", nil, 0, ""},
		{"all", "[run]\ngpus = \"all\"\n", GPUs{"all"}, 0, ""},
		{"indices as strings", "[run]\ngpus = [\"0\", \"1\"]\n", GPUs{"0", "1"}, 0, ""},
		{"indices as integers", "[run]\ngpus = [0, 3]\n", GPUs{"0", "3"}, 0, ""},
		{"uuid and MIG", "[run]\ngpus = [\"GPU-6a1b9c3e-0d2f-4e5a-8b7c-1d2e3f4a5b6c\", \"0:1\"]\n",
			GPUs{"GPU-6a1b9c3e-0d2f-4e5a-8b7c-1d2e3f4a5b6c", "0:1"}, 0, ""},
		{"empty list is none", "[run]\ngpus = []\n", GPUs{}, 0, ""},
		{"dotted key", "description = \"x\"\nrun.gpus = \"all\"\n", GPUs{"all"}, 0, ""},
		{"another string", "[run]\n\ngpus = \"0\"\n", nil, 3, `not "all" or a list`},
		{"a number", "[run]\ngpus = 1\n", nil, 2, `not "all" or a list`},
		{"a boolean", "[run]\ngpus = true\n", nil, 2, `not "all" or a list`},
		{"a table", "[run.gpus]\nx = 1\n", nil, 1, `not "all" or a list`},
		{"a float in the list", "[run]\ngpus = [1.5]\n", nil, 2, `not "all" or a list`},
		{"a negative index", "[run]\ngpus = [-1]\n", nil, 2, "not a GPU index"},
		{"all in a list", "[run]\ngpus = [\"all\", \"0\"]\n", nil, 2, `"all" stands alone`},
		{"a bad name", "[run]\ngpus = [\"0 1\"]\n", nil, 2, "invalid GPU"},
		{"a name with a slash", "[run]\ngpus = [\"nvidia.com/gpu=0\"]\n", nil, 2, "invalid GPU"},
		{"twice", "[run]\ngpus = [\"0\", 0]\n", nil, 2, "listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := DecodeProject("/p/project.toml", []byte(tc.src))
			if tc.line == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(p.Run.GPUs, tc.want) {
					t.Fatalf("got %#v, want %#v", p.Run.GPUs, tc.want)
				}
				return
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a FileError", err)
			}
			if fe.Key != "run.gpus" || fe.Line != tc.line || !strings.Contains(fe.Msg, tc.msg) {
				t.Fatalf("got %q (%+v), want run.gpus at line %d with %q", err, fe, tc.line, tc.msg)
			}
		})
	}
	if (GPUs{"all"}).All() != true || (GPUs{"0"}).All() || (GPUs{}).All() {
		t.Error("All")
	}
}

func TestRunGPUsInSchema(t *testing.T) {
	for _, k := range Schema() {
		if k.Key == "run.gpus" && k.File == "project.toml" {
			if k.Type != "string or list of strings" || string(k.Default) != "[]" {
				t.Fatalf("%+v", k)
			}
			return
		}
	}
	t.Fatal("run.gpus is not in the schema")
}

// shield.clearance and shield.hold_timeout: defaults, a project's
// override, and a clear error naming the key for a bad value.
func TestClearanceKeys(t *testing.T) {
	g := DefaultGlobal()
	if mode, hold := (Project{}).EffectiveClearance(g); mode != ClearanceRefuse || hold != 30*time.Second {
		t.Fatalf("defaults: %s %s", mode, hold)
	}
	g, err := DecodeGlobal("c.toml", []byte("[shield]\nclearance = \"hold\"\nhold_timeout = \"10s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if mode, hold := (Project{}).EffectiveClearance(g); mode != ClearanceHold || hold != 10*time.Second {
		t.Fatalf("global: %s %s", mode, hold)
	}
	p, err := DecodeProject("p.toml", []byte("[shield]\nclearance = \"refuse\"\nhold_timeout = \"2s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if mode, hold := p.EffectiveClearance(g); mode != ClearanceRefuse || hold != 2*time.Second {
		t.Fatalf("project: %s %s", mode, hold)
	}
	for _, tc := range []struct {
		global        bool
		src, key, msg string
	}{
		{true, "[shield]\nclearance = \"ask\"\n", "shield.clearance", `not "refuse" or "hold": "ask"`},
		{true, "[shield]\nclearance = \"\"\n", "shield.clearance", `not "refuse" or "hold": empty`},
		{true, "[shield]\nhold_timeout = \"0s\"\n", "shield.hold_timeout", "from 1s to 5m, not 0s"},
		{true, "[shield]\nhold_timeout = \"10m\"\n", "shield.hold_timeout", "from 1s to 5m, not 10m0s"},
		{true, "[shield]\nhold_timeout = \"soon\"\n", "shield.hold_timeout", "not a duration"},
		{false, "[shield]\nclearance = \"Hold\"\n", "shield.clearance", `not "refuse" or "hold": "Hold"`},
		{false, "[shield]\nhold_timeout = \"500ms\"\n", "shield.hold_timeout", "from 1s to 5m, not 500ms"},
	} {
		var err error
		if tc.global {
			_, err = DecodeGlobal("c.toml", []byte(tc.src))
		} else {
			_, err = DecodeProject("p.toml", []byte(tc.src))
		}
		var fe *FileError
		if !errors.As(err, &fe) || fe.Key != tc.key || !strings.Contains(fe.Msg, tc.msg) || fe.Line != 2 {
			t.Errorf("%q: got %#v", tc.src, err)
		}
	}
}
