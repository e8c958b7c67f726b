package manual

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/cli"
)

// complete runs a completion script in a clean shell and returns the
// candidates, one per line of its output; anything on stderr fails the
// test.
func complete(t *testing.T, path []string, shell string, args ...string) []string {
	t.Helper()
	cmd := exec.Command(shell, args...)
	cmd.Env = append(os.Environ(), "PATH="+strings.Join(path, ""))
	cmd.Dir = t.TempDir()
	for _, d := range []string{"sub1", "sub2"} {
		if err := os.Mkdir(filepath.Join(cmd.Dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(cmd.Dir, "subfile"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("%s %q: %v\n%s", shell, args, err, stderr.String())
	}
	out := strings.Fields(stdout.String())
	if out == nil {
		out = []string{}
	}
	return out
}

// bashComplete sources file in bash --norc, sets COMP_WORDS and COMP_CWORD
// for line (the cursor at its end), calls fn as `complete -F` would and
// returns COMPREPLY. It checks that the file registers fn for the program.
func bashComplete(t *testing.T, path, file, fn, line string) []string {
	t.Helper()
	words := strings.Fields(line)
	if strings.HasSuffix(line, " ") {
		words = append(words, "")
	}
	script := `source "$1" || exit 1
fn=$2; shift 2
[[ $(complete -p "$1") == "complete -F $fn $1" ]] || { echo "$fn is not registered for $1" >&2; exit 1; }
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE="$*" COMP_POINT=${#COMP_LINE}
"$fn" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"`
	args := append([]string{"--norc", "--noprofile", "-c", script, "bash", file, fn}, words...)
	return complete(t, []string{path}, "bash", args...)
}

func writeScript(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// check compares candidates as sets: the shells order files as the
// directory lists them.
func check(t *testing.T, what string, got, want []string) {
	t.Helper()
	got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: got %q, want %q", what, got, want)
	}
}

// contains checks that the candidates hold each of want (the bare
// binary's verbs are not all known here).
func contains(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("%s: got %q, want %q among them", what, got, w)
		}
	}
}

// TestBashCheckedIn completes terok-project command lines with the
// checked-in completions/bash/terok-project and completions/bash/terok.
func TestBashCheckedIn(t *testing.T) {
	need(t, "bash", "bash")
	path := fakeTerokProject(t)
	project := repoFile(t, "completions/bash/terok-project")
	for line, want := range map[string][]string{
		"terok-project ":                 {"new", "ls", "show", "edit", "rm", "config"},
		"terok-project s":                {"show"},
		"terok-project show ":            {"alpha", "beta"},
		"terok-project show a":           {"alpha"},
		"terok-project show alpha ":      {},
		"terok-project edit ":            {"alpha", "beta"},
		"terok-project rm alpha ":        {"alpha", "beta"},
		"terok-project --json rm ":       {"alpha", "beta"},
		"terok-project config ":          {"schema", "paths", "check"},
		"terok-project config schema ":   {},
		"terok-project new ":             {},
		"terok-project new --branch ":    {},
		"terok-project ls --q":           {"--quiet"},
		"terok-project rm --":            {"--help", "--json", "--yes"},
		"terok-project new x --upstream": {"--upstream"},
	} {
		check(t, line, bashComplete(t, path, project, "_terok_project", line), want)
	}
	host := repoFile(t, "completions/bash/terok")
	for line, want := range map[string][]string{
		"terok pro":             {"project"},
		"terok project ":        {"new", "ls", "show", "edit", "rm", "config"},
		"terok project show ":   {"alpha", "beta"},
		"terok project config ": {"schema", "paths", "check"},
	} {
		check(t, line, bashComplete(t, path, host, "_terok", line), want)
	}
}

// TestBash completes the test grammar: enums, paths, directories, flags
// given as --flag=value (which bash splits at the "="), and "--".
func TestBash(t *testing.T) {
	need(t, "bash", "bash")
	script, err := Bash(testCommand)
	if err != nil {
		t.Fatal(err)
	}
	file := writeScript(t, "terok-test", script)
	path := fakeTerokProject(t)
	for line, want := range map[string][]string{
		"terok-test ":                         {"run", "group"},
		"terok-test group ":                   {"inner"},
		"terok-test group inner ":             {},
		"terok-test run ":                     {"alpha", "beta"},
		"terok-test run alpha sub":            {"sub1", "sub2", "subfile"},
		"terok-test run alpha subfile sub":    {"sub1", "sub2", "subfile"},
		"terok-test run --mode ":              {"fast", "slow"},
		"terok-test run --mode = s":           {"slow"},
		"terok-test run --mode = slow ":       {"alpha", "beta"},
		"terok-test run --dir ":               {"sub1", "sub2"},
		"terok-test run -v --dir sub1 ":       {"alpha", "beta"},
		"terok-test run -- ":                  {"alpha", "beta"},
		"terok-test run --":                   {"--help", "--json", "--mode", "--dir", "--verbose"},
		"terok-test group inner --":           {"--help", "--json", "--level"},
		"terok-test --json group inner x --l": {"--level"},
	} {
		check(t, line, bashComplete(t, path, file, "_terok_test", line), want)
	}
}

// TestBashSyntax checks every checked-in bash completion with bash -n.
func TestBashSyntax(t *testing.T) {
	need(t, "bash", "bash")
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(repoFile(t, "completions/bash/terok")), "*"))
	if len(files) == 0 {
		t.Fatal("no bash completions; make completions generates them")
	}
	for _, f := range files {
		complete(t, []string{os.Getenv("PATH")}, "bash", "-n", f)
	}
}

// zshComplete runs a zsh completion file outside the completion system,
// with words and CURRENT set for line and the functions it calls
// (_describe, compadd, _files, compset, _normal) replaced by ones that
// print what they were given.
func zshComplete(t *testing.T, path, file, line string) []string {
	t.Helper()
	words := strings.Fields(line)
	if strings.HasSuffix(line, " ") {
		words = append(words, "")
	}
	script := `
_describe() { local -a a; a=("${(@P)${@[-1]}}"); print -rl -- "${(@)a%%:*}"; }
compadd() { if [[ $1 == -a ]]; then print -rl -- "${(@P)2}"; else shift; print -rl -- "$@"; fi; }
_files() { print -r -- "_files${*:+:$*}"; }
compset() { :; }
_normal() { source "${completions}/_${words[1]}"; }
completions=${1:h}
file=$1; shift
words=("$@"); CURRENT=$#words
source "$file"`
	args := append([]string{"-f", "-c", script, "zsh", file}, words...)
	return complete(t, []string{path}, "zsh", args...)
}

func TestZsh(t *testing.T) {
	want(t, "zsh")
	path := fakeTerokProject(t)
	for _, f := range []string{"_terok", "_terok-project"} {
		complete(t, []string{path}, "zsh", "-n", repoFile(t, "completions/zsh/"+f))
	}
	project := repoFile(t, "completions/zsh/_terok-project")
	host := repoFile(t, "completions/zsh/_terok")
	for _, c := range []struct {
		file, line string
		want       []string
	}{
		{project, "terok-project ", []string{"new", "ls", "show", "edit", "rm", "config"}},
		{project, "terok-project show ", []string{"alpha", "beta"}},
		{project, "terok-project rm a b ", []string{"alpha", "beta"}},
		{project, "terok-project config ", []string{"schema", "paths", "check"}},
		{project, "terok-project ls -", []string{"--help", "-h", "--json", "--quiet", "-q"}},
		{project, "terok-project new --branch ", []string{}},
		{host, "terok project show ", []string{"alpha", "beta"}},
		{host, "terok install-links ", []string{"_files"}},
	} {
		check(t, c.line, zshComplete(t, path, c.file, c.line), c.want)
	}
	contains(t, "terok ", zshComplete(t, path, host, "terok "), "project", "version", "install-links")

	script, err := Zsh(testCommand)
	if err != nil {
		t.Fatal(err)
	}
	file := writeScript(t, "_terok-test", script)
	complete(t, []string{path}, "zsh", "-n", file)
	for line, want := range map[string][]string{
		"terok-test run --mode ":      {"fast", "slow"},
		"terok-test run --mode=":      {"fast", "slow"},
		"terok-test run --dir ":       {"_files:-/"},
		"terok-test run alpha ":       {"_files"},
		"terok-test group inner --l":  {"--help", "-h", "--json", "--level"},
		"terok-test run --dir x -v ":  {"alpha", "beta"},
		"terok-test group ":           {"inner"},
		"terok-test run -- --mode ":   {"_files"},
		"terok-test --json run a b ":  {"_files"},
		"terok-test group inner x ":   {},
		"terok-test run alpha --mode": {"--help", "-h", "--json", "--mode", "--dir", "--verbose", "-v"},
	} {
		check(t, line, zshComplete(t, path, file, line), want)
	}
}

// TestFish completes with fish's own engine (complete -C), the scripts
// found on $fish_complete_path as an installed fish finds them.
func TestFish(t *testing.T) {
	want(t, "fish")
	path := fakeTerokProject(t)
	dir := t.TempDir()
	for _, f := range []string{"terok.fish", "terok-project.fish"} {
		src := repoFile(t, "completions/fish/"+f)
		complete(t, []string{path}, "fish", "--no-execute", src)
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script, err := Fish(testCommand)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "terok-test.fish"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	// fish loads a command's completion when the command is on PATH.
	bin := t.TempDir()
	for _, c := range []string{"terok", "terok-test"} {
		if err := os.WriteFile(filepath.Join(bin, c), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fish := func(line string) []string {
		script := `set fish_complete_path $argv[1] $fish_complete_path
complete -C "$argv[2]" | string replace -r '\t.*' ''
true`
		got := complete(t, []string{bin, string(os.PathListSeparator), path}, "fish", "--no-config", "-c", script, dir, line)
		return got
	}
	for line, want := range map[string][]string{
		"terok-project ":              {"config", "edit", "ls", "new", "rm", "show"},
		"terok-project show ":         {"alpha", "beta"},
		"terok-project rm alpha ":     {"alpha", "beta"},
		"terok-project config ":       {"check", "paths", "schema"},
		"terok-project config check ": {},
		"terok-project ls -":          {"-h", "-q", "--help", "--json", "--quiet"},
		"terok-project new --branch ": {},
		"terok project ":              {"config", "edit", "ls", "new", "rm", "show"},
		"terok project show a":        {"alpha"},
		"terok --":                    {"--help", "--json"},
		"terok-test run --mode ":      {"fast", "slow"},
		"terok-test run --dir ":       {"sub1/", "sub2/"},
		"terok-test run alpha sub":    {"sub1/", "sub2/", "subfile"},
		"terok-test group ":           {"inner"},
		"terok-test group inner --":   {"--help", "--json", "--level"},
	} {
		check(t, line, fish(line), want)
	}
	contains(t, "terok ", fish("terok "), "project", "version", "install-links")
}

// TestCompletionNames checks the shell names of programs and patterns.
func TestCompletionNames(t *testing.T) {
	if got := ident("terok-project"); got != "terok_project" {
		t.Errorf("ident = %q", got)
	}
	s, err := newSpec(testCommand, []cli.Command{{Name: "terok-test-x", Summary: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.subItems(s.root); len(got) != 3 || got[2].word != "x" {
		t.Errorf("delegates: %v", got)
	}
	if got := casePatterns(s.argArms()[len(s.argArms())-1].pats, "|"); got != `"run:"*` {
		t.Errorf("repeated argument pattern = %s", got)
	}
}
