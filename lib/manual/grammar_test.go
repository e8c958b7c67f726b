package manual

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/testenv"
)

// A grammar with every shape the generator handles: nested and hidden
// commands, optional and repeated arguments, enums, defaults, short flags,
// the completion tags, and text that roff would misread.
type testGrammar struct {
	cli.Globals
	Run    testRun   `cmd:"" help:"Run a thing."`
	Group  testGroup `cmd:"" help:"A group of commands."`
	Secret struct{}  `cmd:"" hidden:"" help:"Never shown."`
}

type testRun struct {
	Project string   `arg:"" help:"The project." completion:"project"`
	Files   []string `arg:"" optional:"" type:"path" help:"Files to read."`
	Mode    string   `enum:"fast,slow" default:"fast" help:"How to run."`
	Dir     string   `type:"existingdir" placeholder:"DIR" help:"Where to run."`
	Verbose bool     `short:"v" help:"Say more."`
	Hush    bool     `hidden:"" help:"Never shown either."`
}

type testGroup struct {
	Inner testInner `cmd:"" help:"Do the inner thing."`
}

type testInner struct {
	Name  string `arg:"" help:"A name with a 'quote', a back\\slash and a -dash."`
	Level int    `help:".Starts with a dot." placeholder:"N"`
}

var testCommand = cli.Command{
	Name:    "terok-test",
	Summary: "test the generator",
	Detail:  ".A detail that starts with a dot, with 'quotes' and a back\\slash.\n\nA second paragraph.",
	Grammar: func() any { return &testGrammar{} },
	Sections: []cli.Section{
		{Title: "JSON FIELDS", Body: `run prints:

  name  the name
  mode  fast or slow`},
		{Title: "Examples", Body: `  terok-test run demo --mode slow
  terok-test group inner 'x'`},
	},
}

// need finds a tool the test runs, by testenv's rule.
func need(t *testing.T, tool, pkg string) string { return testenv.Tool(t, tool, pkg) }

// want finds a shell whose completion is checked, by the same rule.
func want(t *testing.T, tool string) string { return testenv.Tool(t, tool, tool) }

// fakeTerokProject puts a terok-project on PATH that prints two project
// names for `ls -q`, as the completions run it.
func fakeTerokProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\n[ \"$1 $2\" = \"ls -q\" ] && printf 'alpha\\nbeta\\n'\n"
	if err := os.WriteFile(filepath.Join(dir, "terok-project"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir + string(os.PathListSeparator) + os.Getenv("PATH")
}

// repoFile is a file checked in at the repository's root.
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s: %v (make man completions generates it)", rel, err)
	}
	return p
}
