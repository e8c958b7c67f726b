package policy

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/store"
)

// Postures of a task's shield (see shield.Posture).
const (
	PostureUp         = shield.PostureUp
	PostureDown       = shield.PostureDown
	PostureQuarantine = shield.PostureQuarantine
)

// State is a task's egress policy as its warden enforces it: the policy
// computed when the task was created, with every live change, and the
// shield's posture. The task keeps it (lib/task puts it in
// STATE/tasks/shield/ID.json), so a restarted warden enforces the same.
type State struct {
	Allow     []Entry        `json:"allow"`
	Deny      []Entry        `json:"deny"`
	Notes     []string       `json:"notes,omitempty"`
	Posture   shield.Posture `json:"posture"`
	DownUntil time.Time      `json:"down_until,omitzero"`
	// VaultDeny are the model providers' real API and auth hosts, denied
	// in every task (deny beats allow) so that a real key smuggled into
	// it is worth nothing; kept apart from Deny because no live change
	// lifts them: only project.toml [vault] direct does, at creation.
	// VaultDirect are the providers the project lifted so.
	VaultDeny   []Entry  `json:"vault_deny,omitempty"`
	VaultDirect []string `json:"vault_direct,omitempty"`
}

// LoadState reads a state written by Save.
func LoadState(path string) (State, error) {
	var s State
	if err := store.ReadJSON(path, &s); err != nil {
		return s, err
	}
	return s, s.parse()
}

// Save writes the state atomically, under its directory's lock.
func (s State) Save(path string) error { return store.WriteJSONLocked(path, s) }

// parse re-reads the targets' texts (the JSON keeps only those).
func (s *State) parse() error {
	for _, list := range [][]Entry{s.Allow, s.Deny, s.VaultDeny} {
		for i := range list {
			t, err := config.ParseTarget(list[i].Text)
			if err != nil {
				return fmt.Errorf("shield state: %w", err)
			}
			list[i].Target = t
		}
	}
	if s.Posture == "" {
		s.Posture = PostureUp
	}
	return nil
}

// Policy is the state's allow and deny lists, as a Policy: its deny list
// is Deny and VaultDeny.
func (s State) Policy() Policy {
	deny := make([]Entry, 0, len(s.Deny)+len(s.VaultDeny))
	return Policy{Allow: s.Allow, Deny: append(append(deny, s.Deny...), s.VaultDeny...)}
}

// VaultFrom is the From of the entries that deny a provider's hosts:
// "vault: PROVIDER".
const VaultFrom = "vault: "

// DenyProviders sets the state's VaultDeny: the hosts of every provider
// in hosts (by provider), but for those listed in direct, which go into
// VaultDirect. A host is denied once, by the first provider (in name
// order) that names it.
func (s *State) DenyProviders(hosts map[string][]string, direct []string) error {
	names := make([]string, 0, len(hosts))
	for p := range hosts {
		names = append(names, p)
	}
	sort.Strings(names)
	s.VaultDeny, s.VaultDirect = nil, nil
	seen := map[string]bool{}
	for _, p := range names {
		if slices.Contains(direct, p) {
			s.VaultDirect = append(s.VaultDirect, p)
			continue
		}
		for _, h := range hosts[p] {
			t, err := config.ParseTarget(h)
			if err != nil {
				return fmt.Errorf("provider %s's host: %w", p, err)
			}
			if !seen[t.String()] {
				seen[t.String()] = true
				s.VaultDeny = append(s.VaultDeny, Entry{Target: t, Text: t.String(), From: VaultFrom + p})
			}
		}
	}
	return nil
}

// VaultDenied are the providers whose hosts the state denies, sorted.
func (s State) VaultDenied() []string {
	var out []string
	for _, e := range s.VaultDeny {
		if p, ok := strings.CutPrefix(e.From, VaultFrom); ok && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// PostureAt is the shield's posture at t: a shield lowered until a time
// that has passed is up again (the kernel raised it; see shield.Conn.Down).
func (s State) PostureAt(t time.Time) shield.Posture {
	if s.Posture == PostureDown && !t.Before(s.DownUntil) {
		return PostureUp
	}
	return s.Posture
}

// Targets are the entries' targets.
func Targets(es []Entry) []config.Target {
	out := make([]config.Target, len(es))
	for i, e := range es {
		out[i] = e.Target
	}
	return out
}

// Texts are the entries' targets as written.
func Texts(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Text
	}
	return out
}
