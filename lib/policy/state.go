package policy

import (
	"fmt"
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
	for _, list := range [][]Entry{s.Allow, s.Deny} {
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

// Policy is the state's allow and deny lists, as a Policy.
func (s State) Policy() Policy { return Policy{Allow: s.Allow, Deny: s.Deny} }

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
