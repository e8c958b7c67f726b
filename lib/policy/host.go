package policy

import (
	"bufio"
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// HostLookup answers the package sources a profile follows from this
// host's own configuration: environment variables first, then the tools'
// own answers (npm config, pip's configuration and its default, go env,
// cargo's config.toml). getenv is the environment to read; home the user's
// home directory.
func HostLookup(getenv func(string) string, home string) func(source string) ([]string, string) {
	return func(source string) ([]string, string) {
		switch source {
		case "npm-registry":
			return npmRegistry(getenv)
		case "pip-index":
			return pipIndex(getenv)
		case "go-proxy":
			return goProxy(getenv)
		case "cargo-registry":
			return cargoRegistry(getenv, home)
		}
		return nil, "unknown source"
	}
}

// run runs a host tool briefly and returns its trimmed output.
func run(name string, args ...string) (string, bool) {
	if _, err := exec.LookPath(name); err != nil {
		return "", false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(out)), true
}

// hostsOf returns the hosts of the URLs in s (separated by spaces, commas
// or pipes).
func hostsOf(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '|' || r == '\n' || r == '\t' }) {
		f = strings.TrimPrefix(strings.TrimPrefix(f, "sparse+"), "git+")
		u, err := url.Parse(f)
		if err != nil || u.Hostname() == "" || (u.Scheme != "https" && u.Scheme != "http") {
			continue
		}
		out = append(out, u.Hostname())
	}
	return out
}

func npmRegistry(getenv func(string) string) ([]string, string) {
	for _, k := range []string{"NPM_CONFIG_REGISTRY", "npm_config_registry"} {
		if v := getenv(k); v != "" {
			return hostsOf(v), ""
		}
	}
	if out, ok := run("npm", "config", "get", "registry"); ok {
		return hostsOf(out), ""
	}
	return nil, "npm is not installed on the host and NPM_CONFIG_REGISTRY is not set"
}

func pipIndex(getenv func(string) string) ([]string, string) {
	if v := getenv("PIP_INDEX_URL"); v != "" {
		return append(hostsOf(v), hostsOf(getenv("PIP_EXTRA_INDEX_URL"))...), ""
	}
	if out, ok := run("pip3", "config", "get", "global.index-url"); ok {
		return hostsOf(out), ""
	}
	// pip's own default index, and the host its files come from.
	if out, ok := run("python3", "-c", "from pip._internal.models.index import PyPI; print(PyPI.url); print('https://' + PyPI.file_storage_domain + '/')"); ok {
		return hostsOf(out), ""
	}
	return nil, "pip is not installed on the host and PIP_INDEX_URL is not set"
}

func goProxy(getenv func(string) string) ([]string, string) {
	proxy, sumdb := getenv("GOPROXY"), getenv("GOSUMDB")
	if proxy == "" || sumdb == "" {
		if out, ok := run("go", "env", "GOPROXY", "GOSUMDB"); ok {
			lines := strings.SplitN(out, "\n", 2)
			if proxy == "" {
				proxy = lines[0]
			}
			if sumdb == "" && len(lines) > 1 {
				sumdb = lines[1]
			}
		}
	}
	if proxy == "" {
		return nil, "go is not installed on the host and GOPROXY is not set"
	}
	hosts := hostsOf(proxy)
	// GOSUMDB is "name", "name+key" or "name+key URL"; "off" is none.
	if f := strings.Fields(sumdb); len(f) > 1 {
		hosts = append(hosts, hostsOf(f[1])...)
	} else if len(f) == 1 && f[0] != "off" {
		hosts = append(hosts, strings.SplitN(f[0], "+", 2)[0])
	}
	return hosts, ""
}

func cargoRegistry(getenv func(string) string, home string) ([]string, string) {
	dir := getenv("CARGO_HOME")
	if dir == "" {
		dir = filepath.Join(home, ".cargo")
	}
	var conf struct {
		Source     map[string]struct{ Registry string } `toml:"source"`
		Registries map[string]struct{ Index string }    `toml:"registries"`
	}
	for _, name := range []string{"config.toml", "config"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		if _, err := toml.Decode(string(b), &conf); err != nil {
			return nil, "cannot read " + filepath.Join(dir, name) + ": " + err.Error()
		}
		var hosts []string
		for _, s := range conf.Source {
			hosts = append(hosts, hostsOf(s.Registry)...)
		}
		for _, r := range conf.Registries {
			hosts = append(hosts, hostsOf(r.Index)...)
		}
		if len(hosts) > 0 {
			return hosts, ""
		}
	}
	return nil, "the host's cargo names no registry of its own (it would use its built-in default); name the registry in shield.allow"
}

// ParseSources returns the hosts a package manager's source files name:
// apt's one-line (deb URL ...) and deb822 (URIs:) formats, and yum/dnf's
// baseurl, mirrorlist and metalink.
func ParseSources(text string) []string {
	var out []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		var urls string
		switch {
		case strings.HasPrefix(line, "deb ") || strings.HasPrefix(line, "deb-src "):
			f := strings.Fields(line)[1:]
			if len(f) > 0 && strings.HasPrefix(f[0], "[") {
				for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
					f = f[1:]
				}
				if len(f) > 0 {
					f = f[1:]
				}
			}
			if len(f) > 0 {
				urls = f[0]
			}
		case strings.HasPrefix(strings.ToLower(line), "uris:"):
			urls = line[5:]
		default:
			k, v, ok := strings.Cut(line, "=")
			switch strings.TrimSpace(strings.ToLower(k)) {
			case "baseurl", "mirrorlist", "metalink":
				if ok {
					urls = v
				}
			}
		}
		for _, h := range hostsOf(urls) {
			if !seen[h] {
				seen[h] = true
				out = append(out, h)
			}
		}
	}
	return out
}
