package manual

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/config"
)

var testEdition = Edition{Date: "2026-01-02", Version: "1.2.3"}

func testPage(t *testing.T) string {
	t.Helper()
	page, err := Page(testCommand, testEdition)
	if err != nil {
		t.Fatal(err)
	}
	return page
}

// TestPageCoversGrammar checks that every command, argument and flag of
// the grammar is on the page, and nothing hidden.
func TestPageCoversGrammar(t *testing.T) {
	page := testPage(t)
	for _, want := range []string{
		`.TH "TEROK\-TEST" 1 "2026\-01\-02" "terok 1.2.3" "terok manual"`,
		`terok\-test \- test the generator`,
		// every subcommand, nested ones too
		`.SS "run"`, `.SS "group"`, `.SS "group inner"`,
		// the synopsis of each leaf
		`\fBrun\fR \fIproject\fR [\fIfiles\fR .\|.\|.] [\fB\-\-mode\fR=\fIfast|slow\fR] [\fB\-\-dir\fR=\fIDIR\fR] [\fB\-\-verbose\fR]`,
		`\fBgroup\fR \fBinner\fR \fIname\fR [\fB\-\-level\fR=\fIN\fR]`,
		// arguments and flags, with their help
		"\\fIproject\\fR\nThe project.",
		"\\fIfiles\\fR\nFiles to read.",
		"\\fB\\-\\-mode\\fR=\\fIfast|slow\\fR\nHow to run. Default: fast. One of: fast, slow.",
		"\\fB\\-v\\fR, \\fB\\-\\-verbose\\fR\nSay more.",
		"\\fB\\-\\-level\\fR=\\fIN\\fR\n\\&.Starts with a dot.",
		`A name with a \(aqquote\(aq, a back\eslash and a \-dash.`,
		// the global flags
		".SH OPTIONS", `\fB\-h\fR, \fB\-\-help\fR`, `\fB\-\-json\fR`,
		// the description, its leading dot guarded
		`\&.A detail that starts with a dot, with \(aqquotes\(aq and a back\eslash.`,
		"A second paragraph.",
		// the command's own sections, in their order, titles upper-cased
		`.SH "JSON FIELDS"`, "\\fBmode\\fR\nfast or slow", ".SH EXAMPLES",
		".EX\nterok\\-test run demo \\-\\-mode slow\nterok\\-test group inner \\(aqx\\(aq\n.EE",
		// the short exit status and the references
		`.SH "EXIT STATUS"`, "\\fB0\\fR\nsuccess", "\\fB4\\fR\na named thing was not found",
		`see \fBterok\fR(1).`, `.SH "SEE ALSO"`, ".BR terok (1),\n.BR terok\\-config (5)\n",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, hidden := range []string{"secret", "Never shown", "hush"} {
		if strings.Contains(strings.ToLower(page), strings.ToLower(hidden)) {
			t.Errorf("page shows the hidden %q", hidden)
		}
	}
	order := []string{".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH COMMANDS", ".SH OPTIONS",
		`.SH "JSON FIELDS"`, ".SH EXAMPLES", `.SH "EXIT STATUS"`, `.SH "SEE ALSO"`}
	last := -1
	for _, s := range order {
		i := strings.Index(page, s)
		if i < last {
			t.Errorf("%s is out of order", s)
		}
		last = i
	}
	checkRoff(t, "terok-test.1", page)
}

// checkRoff checks what a man page must never hold: a text line that roff
// would take as a request, an unknown macro, or an unescaped hyphen.
func checkRoff(t *testing.T, name, page string) {
	t.Helper()
	known := map[string]bool{
		`\"`: true, "TH": true, "SH": true, "SS": true, "PP": true, "TP": true, "IP": true,
		"SY": true, "YS": true, "EX": true, "EE": true, "BR": true, "br": true,
	}
	unescapedHyphen := regexp.MustCompile(`(^|[^\\])-`)
	for i, ln := range strings.Split(strings.TrimSuffix(page, "\n"), "\n") {
		if strings.HasPrefix(ln, ".") {
			macro, _, _ := strings.Cut(ln[1:], " ")
			if !known[macro] {
				t.Errorf("%s:%d: unexpected request %q", name, i+1, ln)
			}
			if macro == `\"` {
				continue
			}
		}
		if strings.HasPrefix(ln, "'") {
			t.Errorf("%s:%d: line starts with an apostrophe: %q", name, i+1, ln)
		}
		if unescapedHyphen.MatchString(ln) {
			t.Errorf("%s:%d: unescaped hyphen: %q", name, i+1, ln)
		}
	}
}

func TestPageOwnExitStatus(t *testing.T) {
	c := testCommand
	c.Sections = []cli.Section{{Title: "EXIT STATUS", Body: "  0  fine\n  7  odd"}}
	page, err := Page(c, testEdition)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(page, `.SH "EXIT STATUS"`); n != 1 {
		t.Errorf("%d EXIT STATUS sections, want the command's own only", n)
	}
	if !strings.Contains(page, "\\fB7\\fR\nodd") {
		t.Error("the command's own EXIT STATUS is missing")
	}
}

func TestHostPage(t *testing.T) {
	host := cli.Command{
		Name: "terok", Summary: "the host", Detail: "The bare binary.",
		Grammar:  func() any { return &testGrammar{} },
		Sections: []cli.Section{{Title: "EXIT STATUS", Body: "  0  success\n  124  timeout"}},
	}
	page, err := HostPage(host, []cli.Command{testCommand}, testEdition)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		".SH COMMANDS", ".BR terok\\-test (1)\ntest the generator",
		`.SH "HOST VERBS"`, `.SS "group inner"`,
		"\\fB124\\fR\ntimeout", ".BR terok\\-test (1),\n.BR terok\\-config (5)\n",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("terok(1) lacks %q", want)
		}
	}
	if n := strings.Count(page, `.SH "EXIT STATUS"`); n != 1 {
		t.Errorf("%d EXIT STATUS sections, want 1", n)
	}
	checkRoff(t, "terok.1", page)
}

// TestConfigPage checks that terok-config(5) has every key of the schema,
// with its type, default and meaning, under its own file.
func TestConfigPage(t *testing.T) {
	page, err := ConfigPage(testEdition)
	if err != nil {
		t.Fatal(err)
	}
	checkRoff(t, "terok-config.5", page)
	for _, k := range config.Schema() {
		sec := strings.Index(page, `.SH "KEYS OF `+k.File+`"`)
		if sec < 0 {
			t.Fatalf("no section for %s", k.File)
		}
		entry := ".TP\n" + bold(k.Key) + " (" + escape(k.Type) + "; default " + bold(string(k.Default)) + ")\n" + escape(k.Doc) + "\n"
		i := strings.Index(page[sec:], entry)
		if i < 0 {
			t.Errorf("%s: no entry %q", k.File, entry)
			continue
		}
		if next := strings.Index(page[sec+1:], ".SH "); next >= 0 && i > next+1 {
			t.Errorf("%s %s is outside its file's section", k.File, k.Key)
		}
	}
	for _, want := range []string{".SH FILES", `\fICONFIG_DIR\fR/config.toml`,
		`\fICONFIG_DIR\fR/projects/\fINAME\fR/project.toml`, "$TEROK_CONFIG_DIR", "/etc/terok",
		"$XDG_CONFIG_HOME/terok", "[image]\nbase = "} {
		if !strings.Contains(page, want) {
			t.Errorf("terok-config(5) lacks %q", want)
		}
	}
}

func TestUnknownCompletionFails(t *testing.T) {
	type bad struct {
		Name string `arg:"" completion:"nope"`
	}
	type grammar struct {
		Do bad `cmd:""`
	}
	c := cli.Command{Name: "terok-bad", Grammar: func() any { return &grammar{} }}
	if _, err := Page(c, testEdition); err == nil || !strings.Contains(err.Error(), `unknown completion "nope"`) {
		t.Errorf("Page = %v, want an unknown completion error", err)
	}
	if _, err := Bash(c); err == nil {
		t.Error("Bash accepted an unknown completion")
	}
}

func TestFilesDeterministic(t *testing.T) {
	host := cli.Command{Name: "terok", Summary: "host", Grammar: func() any { return &testGrammar{} }}
	a, err := Files(host, []cli.Command{testCommand}, testEdition)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Files(host, []cli.Command{testCommand}, testEdition)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"man/terok.1", "man/terok-test.1", "man/terok-config.5",
		"completions/bash/terok", "completions/bash/terok-test", "completions/zsh/_terok",
		"completions/zsh/_terok-test", "completions/fish/terok.fish", "completions/fish/terok-test.fish"} {
		if a[p] == "" {
			t.Errorf("Files made no %s", p)
		}
		if a[p] != b[p] {
			t.Errorf("%s differs between two runs", p)
		}
	}
	if len(a) != 9 {
		t.Errorf("Files made %d files, want 9", len(a))
	}
}

// TestManRenders renders pages with man(1) and groff's warnings on: the
// generated test page, and every page checked in under man/.
func TestManRenders(t *testing.T) {
	man := need(t, "man", "man-db groff-base")
	pages := map[string]string{}
	pages["terok-test.1"] = testPage(t)
	checked, err := filepath.Glob(filepath.Join("..", "..", "man", "*.[15]"))
	if err != nil {
		t.Fatal(err)
	}
	if len(checked) == 0 {
		t.Fatal("no pages under man/; make man generates them")
	}
	repoFile(t, "man/terok-project.1")
	dir := t.TempDir()
	for name, text := range pages {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		checked = append(checked, p)
	}
	for _, p := range checked {
		cmd := exec.Command(man, "--warnings", "-l", p)
		cmd.Env = append(os.Environ(), "MANWIDTH=80", "MAN_KEEP_FORMATTING=", "MANPAGER=cat", "PAGER=cat")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Errorf("man -l %s: %v\n%s", filepath.Base(p), err, stderr.String())
			continue
		}
		if stderr.Len() > 0 {
			t.Errorf("man -l %s warns:\n%s", filepath.Base(p), stderr.String())
		}
		if !strings.Contains(stdout.String(), "SEE ALSO") {
			t.Errorf("man -l %s rendered no SEE ALSO:\n%s", filepath.Base(p), stdout.String())
		}
	}
}

// TestCheckedInPages applies checkRoff to every page under man/.
func TestCheckedInPages(t *testing.T) {
	dir := filepath.Dir(repoFile(t, "man/terok-project.1"))
	pages, err := filepath.Glob(filepath.Join(dir, "*.[15]"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		checkRoff(t, filepath.Base(p), string(b))
	}
}
