package schedule

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/store"
)

// ErrNotFound is returned for a schedule that has no definition.
var ErrNotFound = errors.New("no such schedule")

// Definition is a schedule: what to run and when. Its file is
// CONFIG/schedules/NAME.toml; its units are generated from it.
type Definition struct {
	Name       string          `toml:"name" json:"name"`
	Project    string          `toml:"project" json:"project"`
	Agent      string          `toml:"agent,omitempty" json:"agent,omitempty"`
	Model      string          `toml:"model,omitempty" json:"model,omitempty"`
	Timeout    config.Duration `toml:"timeout,omitempty" json:"timeout,omitempty"`
	OnCalendar string          `toml:"on_calendar" json:"on_calendar"`
	Prompt     string          `toml:"prompt" json:"prompt"`
	// Keep is how many of the schedule's tasks are kept (0: all).
	Keep   int  `toml:"keep,omitempty" json:"keep,omitempty"`
	Notify bool `toml:"notify,omitempty" json:"notify,omitempty"`
	// Exe is the terok-task binary the units and the crontab line run.
	Exe string `toml:"exe" json:"exe"`
	// Env is the environment the run needs beyond cron's (HOME, and the
	// TEROK_*_DIR roots that were set when it was added).
	Env     map[string]string `toml:"env,omitempty" json:"env,omitempty"`
	Created time.Time         `toml:"created" json:"created"`
}

// definitionKeys are a definition file's keys, for "did you mean".
var definitionKeys = []string{"name", "project", "agent", "model", "timeout", "on_calendar", "prompt", "keep", "notify", "exe", "env", "created"}

// ValidName checks a schedule's name: a slug, as project names are.
func ValidName(name string) error {
	if err := config.ValidName(name); err != nil {
		return errors.New("schedule " + strings.TrimPrefix(err.Error(), "project "))
	}
	return nil
}

// RootEnv are the variables a run takes from the environment of `add`
// when they are set: where terok keeps its things.
var RootEnv = []string{"TEROK_CONFIG_DIR", "TEROK_STATE_DIR", "TEROK_DATA_DIR", "TEROK_RUNTIME_DIR", "TEROK_CACHE_DIR"}

// Store is the schedules of one terok tree.
type Store struct{ Paths config.Paths }

func (s Store) file(name string) string { return filepath.Join(s.Paths.SchedulesDir(), name+".toml") }

// StatePath is the record of a schedule's runs.
func (s Store) StatePath(name string) string {
	return filepath.Join(s.Paths.ScheduleStateDir(), name+".json")
}

// LockPath is the file whose lock a running schedule holds.
func (s Store) LockPath(name string) string {
	return filepath.Join(s.Paths.ScheduleStateDir(), name+".lock")
}

// Load reads a definition.
func (s Store) Load(name string) (Definition, error) {
	var d Definition
	if err := ValidName(name); err != nil {
		return d, err
	}
	path := s.file(name)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return d, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err != nil {
		return d, err
	}
	if _, err := config.DecodeStrict(path, data, &d, definitionKeys, "'terok-task schedule add' writes this file"); err != nil {
		return d, err
	}
	if d.Name != name {
		return d, &config.FileError{Path: path, Line: config.KeyLine(data, "name"), Key: "name", Msg: fmt.Sprintf("names schedule %q, not %q", d.Name, name)}
	}
	return d, nil
}

// Exists reports whether a schedule has a definition.
func (s Store) Exists(name string) bool {
	_, err := os.Lstat(s.file(name))
	return err == nil
}

// Save writes a definition atomically (0600: its prompt is the person's).
func (s Store) Save(d Definition) error {
	if err := ValidName(d.Name); err != nil {
		return err
	}
	var b bytes.Buffer
	b.WriteString("# A scheduled headless run: terok-task schedule show " + d.Name + "\n")
	if err := toml.NewEncoder(&b).Encode(d); err != nil {
		return err
	}
	if err := os.MkdirAll(s.Paths.SchedulesDir(), 0o700); err != nil {
		return err
	}
	return store.WriteFile(s.file(d.Name), b.Bytes(), 0o600)
}

// Remove removes a definition and the record of its runs.
func (s Store) Remove(name string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if err := os.Remove(s.file(name)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s", ErrNotFound, name)
		}
		return err
	}
	for _, p := range []string{s.StatePath(name), s.LockPath(name)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Names lists the schedules, sorted.
func (s Store) Names() ([]string, error) {
	ents, err := os.ReadDir(s.Paths.SchedulesDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".toml"); ok && e.Type().IsRegular() && ValidName(n) == nil {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}
