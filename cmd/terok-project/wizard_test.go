package projectcmd

import (
	"slices"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/agent"
)

func TestShellLine(t *testing.T) {
	for in, want := range map[string]string{
		"plain-word_1.2/x:y=z,a@b+c%": "plain-word_1.2/x:y=z,a@b+c%",
		"":                            "''",
		"two words":                   "'two words'",
		"it's":                        `'it'\''s'`,
		"$HOME":                       "'$HOME'",
		"a;rm -rf /":                  "'a;rm -rf /'",
	} {
		if got := shellWord(in); got != want {
			t.Errorf("shellWord(%q) = %s, want %s", in, got, want)
		}
	}
	if got := shellLine([]string{"terok-vault", "set", "anthropic"}); got != "terok-vault set anthropic" {
		t.Errorf("shellLine = %s", got)
	}
}

// The summary's new command names exactly the flags the wizard set.
func TestNewArgv(t *testing.T) {
	c := &NewCmd{Name: "wiz", Description: "Made by the wizard", Upstream: "/src/it's here",
		Agents: []string{"claude", "command"}, Profiles: []string{"base", "node"}}
	want := `terok-project new wiz --description 'Made by the wizard' --upstream '/src/it'\''s here' --agents claude,command --profiles base,node`
	if got := shellLine(newArgv(c)); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	c = &NewCmd{Name: "plain", Branch: "trunk", Base: "localhost/base:1"}
	if got := shellLine(newArgv(c)); got != "terok-project new plain --branch trunk --base localhost/base:1" {
		t.Errorf("got %s", got)
	}
}

func TestDefaultFirst(t *testing.T) {
	if got := defaultFirst([]string{"a", "b", "c"}, "c"); !slices.Equal(got, []string{"c", "a", "b"}) {
		t.Errorf("got %v", got)
	}
	if got := defaultFirst([]string{"a", "b"}, "a"); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("got %v", got)
	}
}

// Every agent of the roster is offered with its description, aligned.
func TestAgentChoices(t *testing.T) {
	r, err := agent.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	cs := agentChoices(r.All())
	if len(cs) != len(r.Names()) {
		t.Fatalf("%d choices for %d agents", len(cs), len(r.Names()))
	}
	w := 0
	for _, n := range r.Names() {
		w = max(w, len(n))
	}
	for _, c := range cs {
		a, _ := r.Get(c.Value)
		// The name, padded to the longest, then what the agent is.
		if strings.TrimSpace(c.Label[:w+2]) != c.Value || c.Label[w+2] == ' ' || !strings.HasSuffix(c.Label, a.Description) {
			t.Errorf("choice %q: label %q", c.Value, c.Label)
		}
	}
}
