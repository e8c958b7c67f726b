package cli

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

var testChoices = []Choice{
	{Value: "claude", Label: "claude    Anthropic's coding agent"},
	{Value: "command", Label: "command   Runs the prompt, installs nothing"},
	{Value: "opencode", Label: "opencode  The open-source coding agent, for any model provider"},
}

func TestParseChosen(t *testing.T) {
	got, err := ParseChosen("opencode\nclaude\n", testChoices)
	if err != nil || !slices.Equal(got, []string{"claude", "opencode"}) {
		t.Fatalf("got %v, %v; want the choices' order", got, err)
	}
	if _, err := ParseChosen("claude\nsomething else\n", testChoices); err == nil {
		t.Fatal("a value that was not offered was accepted")
	}
	if _, err := ParseChosen("\n", testChoices); !errors.Is(err, ErrAborted) {
		t.Fatalf("nothing chosen: %v", err)
	}
}

func TestGumChooseArgs(t *testing.T) {
	args := gumChooseArgs("Agents", testChoices, []string{"opencode", "command"}, true)
	want := []string{"choose", "--header=Agents", "--label-delimiter=\t", "--no-limit",
		// gum splits --selected on commas; a label's own commas are escaped.
		`--selected=command   Runs the prompt\, installs nothing,opencode  The open-source coding agent\, for any model provider`,
		"--",
		"claude    Anthropic's coding agent\tclaude",
		"command   Runs the prompt, installs nothing\tcommand",
		"opencode  The open-source coding agent, for any model provider\topencode"}
	if !slices.Equal(args, want) {
		t.Fatalf("args:\n%q\nwant:\n%q", args, want)
	}
	one := gumChooseArgs("Branch", []Choice{{Value: "main"}, {Value: "x\ty", Label: "a\tb"}}, nil, false)
	if slices.Contains(one, "--no-limit") || strings.HasPrefix(one[3], "--selected") || one[len(one)-1] != "a b\tx\ty" || one[len(one)-2] != "main\tmain" {
		t.Fatalf("single choice args %q", one)
	}
}

func TestPickTyped(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
		bad  bool
	}{
		{in: "1,3", want: []string{"claude", "opencode"}},
		{in: "command, 1, command", want: []string{"command", "claude"}},
		{in: "4", bad: true},
		{in: "nope", bad: true},
		{in: " , ", bad: true},
	} {
		got, err := pickTyped(c.in, testChoices)
		if (err != nil) != c.bad || !c.bad && !slices.Equal(got, c.want) {
			t.Errorf("pickTyped(%q) = %v, %v", c.in, got, err)
		}
	}
}

// Without a terminal the new prompts never wait: they are usage errors.
func TestWizardPromptsNeedATerminal(t *testing.T) {
	e := &Env{Prog: "terok-x", Getenv: func(string) string { return "" }}
	if _, err := e.Choose("Branch", testChoices, "claude"); CodeOf(err) != ExitUsage {
		t.Errorf("Choose: %v", err)
	}
	if _, err := e.ChooseMany("Agents", testChoices, nil); CodeOf(err) != ExitUsage {
		t.Errorf("ChooseMany: %v", err)
	}
	if _, err := e.Agree("Sync?", true); CodeOf(err) != ExitUsage {
		t.Errorf("Agree: %v", err)
	}
	if _, err := e.AskValid("Name", "", "NAME", func(s string) (string, error) { return s, nil }); CodeOf(err) != ExitUsage {
		t.Errorf("AskValid: %v", err)
	}
}
