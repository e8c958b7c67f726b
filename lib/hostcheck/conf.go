package hostcheck

import (
	"os"
	"path/filepath"
	"sort"

	"github.com/BurntSushi/toml"
)

// ContainersConf is what the containers.conf files say about the settings
// the doctor reasons about; later files override earlier ones, key by key,
// as in Podman.
type ContainersConf struct {
	Files []string // the files read, in order

	Runtime        string   // [engine] runtime; "" unset
	DefaultUlimits []string // [containers] default_ulimits
	UlimitsSet     bool     // whether any file sets default_ulimits

	// UserFile is the file a fix should be written to: $CONTAINERS_CONF
	// when set, else the system file for root and the user's own for
	// everyone else.
	UserFile string
	// Broken lists files that could not be parsed (path: error).
	Broken []string
}

// confFile is the part of containers.conf read here; unknown keys are
// ignored (the file has many more).
type confFile struct {
	Containers struct {
		DefaultUlimits *[]string `toml:"default_ulimits"`
	} `toml:"containers"`
	Engine struct {
		Runtime *string `toml:"runtime"`
	} `toml:"engine"`
}

// ContainersConfFiles lists the files Podman reads, in order: only
// $CONTAINERS_CONF when set; else the vendor file, the system file, their
// drop-in directories and, for a user, the user's own.
func ContainersConfFiles(uid int, getenv func(string) string) []string {
	if p := getenv("CONTAINERS_CONF"); p != "" {
		return []string{p}
	}
	var out []string
	add := func(file string) {
		out = append(out, file)
		d, _ := filepath.Glob(file + ".d/*.conf")
		sort.Strings(d)
		out = append(out, d...)
	}
	add("/usr/share/containers/containers.conf")
	add("/etc/containers/containers.conf")
	if uid != 0 {
		if u := userConfFile(getenv); u != "" {
			add(u)
		}
	}
	return out
}

func userConfFile(getenv func(string) string) string {
	if x := getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "containers", "containers.conf")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "containers", "containers.conf")
	}
	return ""
}

// ReadContainersConf reads the files Podman would read.
func ReadContainersConf(uid int, getenv func(string) string) ContainersConf {
	c := ContainersConf{UserFile: "/etc/containers/containers.conf"}
	if p := getenv("CONTAINERS_CONF"); p != "" {
		c.UserFile = p
	} else if u := userConfFile(getenv); uid != 0 && u != "" {
		c.UserFile = u
	}
	for _, p := range ContainersConfFiles(uid, getenv) {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		c.Files = append(c.Files, p)
		if err := c.merge(data); err != nil {
			c.Broken = append(c.Broken, p+": "+oneLine(err.Error()))
		}
	}
	return c
}

// merge applies one file's settings over c.
func (c *ContainersConf) merge(data []byte) error {
	var f confFile
	if _, err := toml.Decode(string(data), &f); err != nil {
		return err
	}
	if f.Engine.Runtime != nil {
		c.Runtime = *f.Engine.Runtime
	}
	if f.Containers.DefaultUlimits != nil {
		c.DefaultUlimits, c.UlimitsSet = *f.Containers.DefaultUlimits, true
	}
	return nil
}
