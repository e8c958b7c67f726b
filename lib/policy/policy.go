// Package policy computes a task's egress policy: the targets its shield
// allows and denies, and why.
//
// A policy is the project's profiles (else the global ones), plus the
// project's upstream git host, plus the project's shield.allow, minus its
// shield.deny — deny beats allow. Profiles are built in (profiles/*.toml)
// or the user's (CONFIG/shield/profiles/NAME.toml, which override built-in
// ones of the same name). A profile names targets, and "follows" the host:
// package sources are named by what they are (the image's distribution
// mirrors, the npm registry, pip's index, go's module proxy, cargo's
// registry) and resolved when the task starts from the host's own
// configuration, so terok follows a company's internal mirrors with no
// editing and names no registry itself (DESIGN §9). An image's
// distribution mirrors are read by probing the image (ImageMirrors).
//
// It also owns a task's policy state (State): the policy as its warden
// enforces it, with every live change and the shield's posture (up, down,
// quarantined).
package policy

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/terok-ai/terok-go/lib/config"
)

//go:embed profiles/*.toml
var builtin embed.FS

// Sources a profile may follow.
var Sources = []string{"distribution-mirrors", "npm-registry", "pip-index", "go-proxy", "cargo-registry"}

// Profile is a named set of egress targets.
type Profile struct {
	Name        string   `toml:"-" json:"name"`
	Description string   `toml:"description" json:"description"`
	Allow       []string `toml:"allow" json:"allow"`
	Follow      []string `toml:"follow" json:"follow"`
	Origin      string   `toml:"-" json:"origin"` // "built-in" or the file
}

// ProfilesDir is where the user's profiles are.
func ProfilesDir(p config.Paths) string { return filepath.Join(p.Config, "shield", "profiles") }

// Profiles returns every profile by name: built-in ones, overridden by the
// user's. A user profile that does not parse is an error naming its file.
func Profiles(paths config.Paths) (map[string]Profile, error) {
	out := map[string]Profile{}
	ents, _ := fs.ReadDir(builtin, "profiles")
	for _, e := range ents {
		b, _ := fs.ReadFile(builtin, "profiles/"+e.Name())
		p, err := parseProfile(strings.TrimSuffix(e.Name(), ".toml"), "built-in", b)
		if err != nil {
			return nil, err // a bug in terok: the tests read every built-in profile
		}
		out[p.Name] = p
	}
	dir := ProfilesDir(paths)
	ents2, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range ents2 {
		name, ok := strings.CutSuffix(e.Name(), ".toml")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		file := filepath.Join(dir, e.Name())
		if err := config.ValidProfileName(name); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		p, err := parseProfile(name, file, b)
		if err != nil {
			return nil, err
		}
		out[name] = p
	}
	return out, nil
}

func parseProfile(name, origin string, b []byte) (Profile, error) {
	p := Profile{Name: name, Origin: origin}
	md, err := toml.Decode(string(b), &p)
	if err != nil {
		return p, fmt.Errorf("%s: %v", origin, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return p, fmt.Errorf("%s: unknown key %s (profiles have description, allow and follow)", origin, und[0])
	}
	for _, t := range p.Allow {
		if _, err := config.ParseTarget(t); err != nil {
			return p, fmt.Errorf("%s: allow: %w", origin, err)
		}
	}
	for _, s := range p.Follow {
		if !slices.Contains(Sources, s) {
			return p, fmt.Errorf("%s: follow: unknown source %q (known: %s)", origin, s, strings.Join(Sources, ", "))
		}
	}
	return p, nil
}

// Entry is one target of a policy and where it comes from.
type Entry struct {
	Target config.Target `json:"-"`
	Text   string        `json:"target"`
	From   string        `json:"from"`
}

// Policy is a task's effective egress policy.
type Policy struct {
	Allow []Entry  `json:"allow"`
	Deny  []Entry  `json:"deny"`
	Notes []string `json:"notes,omitempty"` // sources that resolved to nothing, and why
}

// Host is what a policy follows on the host; Probe fills it from the host.
type Host struct {
	// Mirrors are the hosts the task image's package manager uses.
	Mirrors []string
	// Lookup answers a source (see Sources) with hosts, or a note saying
	// why there are none. Nil: nothing is followed.
	Lookup func(source string) ([]string, string)
}

// For computes the policy of a project's tasks.
func For(paths config.Paths, g config.Global, p config.Project, host Host) (Policy, error) {
	all, err := Profiles(paths)
	if err != nil {
		return Policy{}, err
	}
	names := p.Shield.Profiles
	if len(names) == 0 {
		names = g.Shield.Profiles
	}
	var pol Policy
	seen := map[string]bool{}
	add := func(list *[]Entry, text, from string) error {
		t, err := config.ParseTarget(text)
		if err != nil {
			return fmt.Errorf("%s: %w", from, err)
		}
		key := t.String()
		if list == &pol.Deny {
			key = "deny " + key
		}
		if seen[key] {
			return nil
		}
		seen[key] = true
		*list = append(*list, Entry{Target: t, Text: t.String(), From: from})
		return nil
	}
	for _, n := range names {
		prof, ok := all[n]
		if !ok {
			return Policy{}, &UnknownProfileError{Name: n, Known: sortedKeys(all)}
		}
		for _, t := range prof.Allow {
			if err := add(&pol.Allow, t, "profile "+n); err != nil {
				return Policy{}, err
			}
		}
		for _, src := range prof.Follow {
			var hosts []string
			note := ""
			if src == "distribution-mirrors" {
				hosts = host.Mirrors
				if len(hosts) == 0 {
					note = "the image names no package mirror"
				}
			} else if host.Lookup != nil {
				hosts, note = host.Lookup(src)
			}
			if len(hosts) == 0 && note != "" {
				pol.Notes = append(pol.Notes, fmt.Sprintf("profile %s: %s: %s", n, src, note))
			}
			for _, h := range hosts {
				if err := add(&pol.Allow, h, "profile "+n+" ("+src+")"); err != nil {
					pol.Notes = append(pol.Notes, fmt.Sprintf("profile %s: %s: %v", n, src, err))
				}
			}
		}
	}
	if h := UpstreamHost(p.Upstream); h != "" {
		if err := add(&pol.Allow, h, "the project's upstream"); err != nil {
			pol.Notes = append(pol.Notes, fmt.Sprintf("upstream: %v", err))
		}
	}
	for _, t := range p.Shield.Allow {
		if err := add(&pol.Allow, t, "shield.allow"); err != nil {
			return Policy{}, err
		}
	}
	for _, t := range p.Shield.Deny {
		if err := add(&pol.Deny, t, "shield.deny"); err != nil {
			return Policy{}, err
		}
	}
	return pol, nil
}

// UnknownProfileError: a policy names a profile there is none of.
type UnknownProfileError struct {
	Name  string
	Known []string
}

func (e *UnknownProfileError) Error() string { return fmt.Sprintf("no egress profile %q", e.Name) }
func (e *UnknownProfileError) Hint() string {
	return "known profiles: " + strings.Join(e.Known, ", ") + "; 'terok-shield profiles' shows them"
}

func sortedKeys(m map[string]Profile) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Allowed reports whether a name may be resolved under the policy: some
// domain or wildcard allow matches it and no deny does (deny beats allow).
func (p Policy) Allowed(name string) bool {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	for _, e := range p.Deny {
		if e.Target.Matches(name) {
			return false
		}
	}
	for _, e := range p.Allow {
		if e.Target.Matches(name) {
			return true
		}
	}
	return false
}

// UpstreamHost is the host of a git URL (https://, ssh://, git://, or
// scp-like user@host:path); "" for a local path or no upstream.
func UpstreamHost(upstream string) string {
	if upstream == "" || strings.HasPrefix(upstream, "/") || strings.HasPrefix(upstream, "file://") {
		return ""
	}
	if u, err := url.Parse(upstream); err == nil && u.Host != "" {
		return u.Hostname()
	}
	// scp-like: [user@]host:path
	if i := strings.Index(upstream, ":"); i > 0 && !strings.Contains(upstream[:i], "/") {
		h := upstream[:i]
		if j := strings.LastIndex(h, "@"); j >= 0 {
			h = h[j+1:]
		}
		return h
	}
	return ""
}
