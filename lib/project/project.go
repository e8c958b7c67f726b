package project

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/store"
)

// ErrNotFound is returned for a project that does not exist.
var ErrNotFound = errors.New("no such project")

// ErrExists is returned when creating a project that exists.
var ErrExists = errors.New("project exists")

// Store is the set of projects under one configuration root.
type Store struct {
	Paths config.Paths
}

// Info is a project as `ls` and `show` print it.
type Info struct {
	Name         string   `json:"name"`
	Description  string   `json:"description"`
	Upstream     string   `json:"upstream"`
	Branch       string   `json:"branch"`
	Base         string   `json:"base"`
	Agents       []string `json:"agents"`
	DefaultAgent string   `json:"default_agent"`
	ConfigFile   string   `json:"config_file"`
}

// Describe combines a project's own config with the global defaults.
func Describe(name, file string, p config.Project, g config.Global) Info {
	agents := p.EffectiveAgents(g)
	def := ""
	if len(agents) > 0 {
		def = agents[0]
	}
	return Info{
		Name: name, Description: p.Description, Upstream: p.Upstream, Branch: p.Branch,
		Base: p.EffectiveBase(g), Agents: append([]string{}, agents...), DefaultAgent: def,
		ConfigFile: file,
	}
}

// Names returns the names of all projects, sorted. Directory entries that
// are not valid project names are ignored (they cannot have been made by
// terok).
func (s Store) Names() ([]string, error) {
	ents, err := os.ReadDir(s.Paths.ProjectsDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && config.ValidName(e.Name()) == nil {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// Load reads one project's config.
func (s Store) Load(name string) (config.Project, error) {
	if err := config.ValidName(name); err != nil {
		return config.Project{}, err
	}
	p, err := config.LoadProject(s.Paths.ProjectFile(name))
	if errors.Is(err, fs.ErrNotExist) {
		return p, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return p, err
}

// Create writes a new project's directory and project.toml. It fails with
// ErrExists if the project exists, and leaves nothing behind on failure.
func (s Store) Create(name string, p config.Project) error {
	if err := config.ValidName(name); err != nil {
		return err
	}
	data := Encode(name, p)
	if _, err := config.DecodeProject(s.Paths.ProjectFile(name), data); err != nil {
		return err
	}
	unlock, err := store.Lock(s.Paths.ProjectsDir())
	if err != nil {
		return err
	}
	defer unlock()
	dir := s.Paths.ProjectDir(name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrExists, name)
		}
		return err
	}
	if err := store.WriteFileLocked(s.Paths.ProjectFile(name), data, 0o600); err != nil {
		_ = os.RemoveAll(dir) // undo the half-made project; the write's error is the one to report
		return err
	}
	return nil
}

// Replace validates data as the project's project.toml and, if the file
// still holds prev (nobody changed it meanwhile), writes it atomically.
func (s Store) Replace(name string, prev, data []byte) error {
	if err := config.ValidName(name); err != nil {
		return err
	}
	path := s.Paths.ProjectFile(name)
	if _, err := config.DecodeProject(path, data); err != nil {
		return err
	}
	unlock, err := store.Lock(s.Paths.ProjectsDir())
	if err != nil {
		return err
	}
	defer unlock()
	cur, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err != nil {
		return err
	}
	if string(cur) != string(prev) {
		return fmt.Errorf("%s changed while it was being edited; nothing saved", path)
	}
	return store.WriteFileLocked(path, data, 0o600)
}

// Remove archives a project's config directory under the archive root and
// removes it. It returns the archive's path.
func (s Store) Remove(name string, now time.Time) (string, error) {
	if err := config.ValidName(name); err != nil {
		return "", err
	}
	unlock, err := store.Lock(s.Paths.ProjectsDir())
	if err != nil {
		return "", err
	}
	defer unlock()
	dir := s.Paths.ProjectDir(name)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	archRoot := filepath.Join(s.Paths.ArchiveDir(), "projects")
	if err := os.MkdirAll(archRoot, 0o700); err != nil {
		return "", err
	}
	stamp := now.UTC().Format("20060102T150405Z")
	arch := filepath.Join(archRoot, name+"-"+stamp)
	for i := 2; ; i++ {
		if _, err := os.Lstat(arch); errors.Is(err, fs.ErrNotExist) {
			break
		}
		arch = filepath.Join(archRoot, fmt.Sprintf("%s-%s-%d", name, stamp, i))
	}
	tmp, err := os.MkdirTemp(archRoot, ".tmp-"+name+"-")
	if err != nil {
		return "", err
	}
	if err := copyRegularFiles(dir, tmp); err != nil {
		_ = os.RemoveAll(tmp) // the copy's error is the one to report
		return "", fmt.Errorf("archiving %s: %w", name, err)
	}
	if err := os.Rename(tmp, arch); err != nil {
		_ = os.RemoveAll(tmp) // the rename's error is the one to report
		return "", err
	}
	// Make the project disappear in one step, then delete at leisure.
	trash := filepath.Join(s.Paths.ProjectsDir(), ".rm-"+name+"-"+stamp)
	if err := os.Rename(dir, trash); err != nil {
		return arch, err
	}
	return arch, os.RemoveAll(trash)
}

// copyRegularFiles copies the regular files of a directory tree; symbolic
// links and special files are not followed or copied.
func copyRegularFiles(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o700)
		case d.Type().IsRegular():
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, 0o600)
		}
		return nil
	})
}

// Encode renders a project.toml.
func Encode(name string, p config.Project) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# terok project %s. Keys: terok-config(5) or 'terok-project config schema'.\n", name)
	fmt.Fprintf(&b, "description = %s\n", quote(p.Description))
	fmt.Fprintf(&b, "upstream = %s\n", quote(p.Upstream))
	fmt.Fprintf(&b, "branch = %s\n", quote(p.Branch))
	if p.Image.Base != "" || len(p.Image.Agents) > 0 {
		b.WriteString("\n[image]\n")
		if p.Image.Base != "" {
			fmt.Fprintf(&b, "base = %s\n", quote(p.Image.Base))
		}
		if len(p.Image.Agents) > 0 {
			fmt.Fprintf(&b, "agents = %s\n", quoteList(p.Image.Agents))
		}
	}
	if gt := p.Gate; len(gt.Protected) > 0 || gt.AllowTags || gt.MaxPushSize > 0 {
		b.WriteString("\n[gate]\n")
		if len(gt.Protected) > 0 {
			fmt.Fprintf(&b, "protected = %s\n", quoteList(gt.Protected))
		}
		if gt.AllowTags {
			b.WriteString("allow_tags = true\n")
		}
		if gt.MaxPushSize > 0 {
			fmt.Fprintf(&b, "max_push_size = %s\n", quote(config.FormatSize(int64(gt.MaxPushSize))))
		}
	}
	if len(p.Shield.Profiles) > 0 {
		fmt.Fprintf(&b, "\n[shield]\nprofiles = %s\n", quoteList(p.Shield.Profiles))
	}
	return []byte(b.String())
}

// quoteList renders a TOML array of strings on one line.
func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, a := range l {
		q[i] = quote(a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// quote renders a TOML basic string (JSON's string syntax is a subset).
func quote(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes; the builder's Write cannot fail
	return strings.TrimSuffix(b.String(), "\n")
}
