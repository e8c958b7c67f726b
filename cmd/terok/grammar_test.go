package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/manual"
)

var (
	// An argument is named by one lower-case word, in the singular when it
	// repeats (the usage adds "..."): kong's name for a field it was not
	// given a name for reads "i-ds" for IDs.
	argName = regexp.MustCompile(`^[a-z]+$`)
	// A flag's value is an upper-case word (DURATION, URL_OR_PATH), or the
	// values of an enum (fast|slow).
	flagValue = regexp.MustCompile(`^([A-Z][A-Z_]*|[a-z0-9-]+(\|[a-z0-9-]+)+)$`)
)

// TestPlaceholdersAreWords checks every argument and flag placeholder of
// every command's grammar, hidden ones included, as its usage lines and
// man page show them.
func TestPlaceholdersAreWords(t *testing.T) {
	checked := 0
	for _, c := range append([]cli.Command{Host}, Commands...) {
		app, err := manual.Model(c)
		if err != nil {
			t.Fatal(err)
		}
		var walk func(n *kong.Node)
		walk = func(n *kong.Node) {
			where := strings.TrimSpace(c.Name + " " + n.Path())
			if n.Type == kong.ApplicationNode {
				where = c.Name
			}
			for _, p := range n.Positional {
				checked++
				if !argName.MatchString(p.Name) {
					t.Errorf("%s: argument <%s> is not one lower-case word; name it (name:\"task\")", where, p.Name)
				}
				if p.IsCumulative() && strings.HasSuffix(p.Name, "s") {
					t.Errorf("%s: repeated argument <%s> ...: name it in the singular", where, p.Name)
				}
			}
			for _, f := range n.Flags {
				if f.IsBool() || f.IsCounter() {
					continue
				}
				checked++
				g := *f
				g.HasDefault = false
				ph := strings.TrimSuffix(g.FormatPlaceHolder(), ",...")
				if f.Enum != "" {
					ph = strings.Join(f.EnumSlice(), "|")
				}
				if !flagValue.MatchString(ph) {
					t.Errorf("%s: --%s=%s: name its value with an upper-case word (placeholder:\"DURATION\")", where, f.Name, ph)
				}
			}
			for _, ch := range n.Children {
				walk(ch)
			}
		}
		walk(app.Node)
	}
	if checked < 50 {
		t.Fatalf("checked only %d placeholders: the walk misses the grammars", checked)
	}
}
