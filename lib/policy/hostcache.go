package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/terok-ai/terok-go/lib/store"
)

// The host lookups run package managers (npm alone takes ~150 ms, pip's
// two ~400 ms), and a task's policy needs them at every creation. Their
// answers are kept in a cache file and reused while nothing they depend on
// changed: the environment variables the tools read, the tools themselves
// (path, size, modification time) and every configuration file they read
// (whether it exists, its size and modification time). Any change is a
// miss; so is an answer older than hostCacheMaxAge.

// hostCacheMaxAge bounds an answer's life even when nothing seen changed
// (a tool may read a file this list does not know).
const hostCacheMaxAge = time.Hour

// sourceInputs lists, per source, the environment variables, tools and
// files (relative to home when not absolute) its answer depends on.
var sourceInputs = map[string]struct{ env, tools, files []string }{
	"npm-registry": {
		env:   []string{"NPM_CONFIG_REGISTRY", "npm_config_registry", "NPM_CONFIG_USERCONFIG", "npm_config_userconfig", "NPM_CONFIG_GLOBALCONFIG", "npm_config_globalconfig", "NPM_CONFIG_PREFIX", "npm_config_prefix"},
		tools: []string{"npm"},
		files: []string{".npmrc", "/etc/npmrc", "/usr/etc/npmrc", "/usr/local/etc/npmrc"},
	},
	"pip-index": {
		env:   []string{"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CONFIG_FILE", "XDG_CONFIG_DIRS", "XDG_CONFIG_HOME", "VIRTUAL_ENV"},
		tools: []string{"pip3", "python3"},
		files: []string{".config/pip/pip.conf", ".pip/pip.conf", "/etc/pip.conf", "/etc/xdg/pip/pip.conf"},
	},
	"go-proxy": {
		env:   []string{"GOPROXY", "GOSUMDB", "GOENV", "GOROOT", "XDG_CONFIG_HOME"},
		tools: []string{"go"},
		files: []string{".config/go/env"},
	},
	"cargo-registry": {env: []string{"CARGO_HOME"}, files: []string{".cargo/config.toml", ".cargo/config"}},
}

type cachedAnswer struct {
	Key   string    `json:"key"`
	Hosts []string  `json:"hosts"`
	Note  string    `json:"note"`
	Time  time.Time `json:"time"`
}

// CachedHostLookup wraps look (a HostLookup) with the cache file at path.
// A cache that cannot be read or written only costs the lookup.
func CachedHostLookup(look func(string) ([]string, string), path string, getenv func(string) string, home string) func(string) ([]string, string) {
	return func(source string) ([]string, string) {
		key, ok := inputKey(source, getenv, home)
		if !ok {
			return look(source)
		}
		var cache map[string]cachedAnswer
		if err := store.ReadJSON(path, &cache); err == nil {
			if a, hit := cache[source]; hit && a.Key == key && time.Since(a.Time) < hostCacheMaxAge && time.Since(a.Time) >= 0 {
				return a.Hosts, a.Note
			}
		}
		hosts, note := look(source)
		// A cache that cannot be written only costs the lookup next time.
		_ = store.Update(path, func(old []byte) ([]byte, error) {
			var cache map[string]cachedAnswer
			// A missing or corrupt cache is written afresh; so is one that
			// reads `null` (which would leave the map nil).
			if err := json.Unmarshal(old, &cache); err != nil || cache == nil {
				cache = map[string]cachedAnswer{}
			}
			cache[source] = cachedAnswer{Key: key, Hosts: hosts, Note: note, Time: time.Now().UTC()}
			return json.Marshal(cache)
		})
		return hosts, note
	}
}

// inputKey digests what source's answer depends on; false for a source
// it does not know (never cached).
func inputKey(source string, getenv func(string) string, home string) (string, bool) {
	in, ok := sourceInputs[source]
	if !ok {
		return "", false
	}
	var b strings.Builder
	fmt.Fprintf(&b, "source %s\nhome %s\npath %s\n", source, home, getenv("PATH"))
	for _, k := range in.env {
		fmt.Fprintf(&b, "env %s=%q\n", k, getenv(k))
	}
	stat := func(kind, p string) {
		if fi, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%s %s %d %d\n", kind, p, fi.Size(), fi.ModTime().UnixNano())
		} else {
			fmt.Fprintf(&b, "%s %s none\n", kind, p)
		}
	}
	for _, t := range in.tools {
		p, err := exec.LookPath(t)
		if err != nil {
			fmt.Fprintf(&b, "tool %s none\n", t)
			continue
		}
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		stat("tool", p)
	}
	files := in.files
	if v := getenv("PIP_CONFIG_FILE"); source == "pip-index" && v != "" {
		files = append(files, v)
	}
	if v := getenv("CARGO_HOME"); source == "cargo-registry" && v != "" {
		files = append(files, filepath.Join(v, "config.toml"), filepath.Join(v, "config"))
	}
	for _, f := range files {
		if !filepath.IsAbs(f) {
			f = filepath.Join(home, f)
		}
		stat("file", f)
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:]), true
}
