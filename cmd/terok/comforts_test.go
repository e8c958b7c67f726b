package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	terok "github.com/terok-ai/terok-go"
	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/hostcheck"
	"github.com/terok-ai/terok-go/lib/hostsetup"
	"github.com/terok-ai/terok-go/lib/task"
	"github.com/terok-ai/terok-go/lib/testenv"
)

// The installed comforts, for real: terok setup puts the man pages and
// completions in place, then each shell, started as a fresh shell starts
// (its own startup files, its default search paths), completes a project
// name and a task id — which the completions get from the installed
// terok-project and terok-task — and man finds the page; terok uninstall
// removes exactly what setup installed.

// comfortsEnv is a private terok tree and HOME; the terok-* commands are
// this test binary (testscript's copies on PATH, and setup's links to
// them).
type comfortsEnv struct {
	home, root string
	env        []string
}

func newComfortsEnv(t *testing.T, home, pathFirst string) *comfortsEnv {
	t.Helper()
	testenv.Tool(t, "podman", "podman")
	c := &comfortsEnv{home: home, root: t.TempDir()}
	conf := filepath.Join(c.root, "containers.conf")
	if err := os.WriteFile(conf, []byte("[engine]\nhooks_dir = [\""+filepath.Join(c.root, "hooks")+"\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.env = []string{"HOME=" + c.home, "PATH=" + pathFirst + string(os.PathListSeparator) + os.Getenv("PATH"),
		"CONTAINERS_CONF=" + conf, "TEROK_NO_GUM=1", "TERM=dumb", "LANG=C.UTF-8", "CI=" + os.Getenv("CI")}
	for k, d := range map[string]string{"TEROK_CONFIG_DIR": "config", "TEROK_STATE_DIR": "state",
		"TEROK_DATA_DIR": "data", "TEROK_RUNTIME_DIR": "run", "TEROK_CACHE_DIR": "cache"} {
		c.env = append(c.env, k+"="+filepath.Join(c.root, d))
	}
	for _, k := range []string{"CONTAINER_HOST", "XDG_RUNTIME_DIR"} {
		if v := os.Getenv(k); v != "" {
			c.env = append(c.env, k+"="+v)
		}
	}
	t.Cleanup(func() {
		_ = engine.StopServiceAt(context.Background(), filepath.Join(c.root, "run", "podman", "podman.sock")) // the one terok started, if any
	})
	return c
}

// run runs a command line in the environment (through wrap, when given:
// a mount namespace) and returns its stdout; it fails the test unless the
// command exits 0.
func (c *comfortsEnv) run(t *testing.T, wrap []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(wrap[0], append(wrap[1:], args...)...)
	cmd.Env, cmd.Dir = c.env, c.home
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%q: %v\nstdout:\n%s\nstderr:\n%s", args, err, out.String(), errb.String())
	}
	return out.String()
}

// aProjectAndATask makes the project "demo" and one task record of it,
// and returns the task's id.
func (c *comfortsEnv) aProjectAndATask(t *testing.T, wrap []string) string {
	t.Helper()
	c.run(t, wrap, "terok-project", "new", "demo", "--agents", "command")
	rec := task.Record{Project: "demo", Agent: "command"}
	if err := (task.Store{Dir: filepath.Join(c.root, "state", "tasks")}).Create(&rec); err != nil {
		t.Fatal(err)
	}
	return rec.ID
}

// records reads setup's or uninstall's JSON lines by check.
func records(t *testing.T, out string) map[string]hostcheck.Result {
	t.Helper()
	m := map[string]hostcheck.Result{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r hostcheck.Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		m[r.Check] = r
	}
	return m
}

// fileTree is every file and link under dir, with its contents or target.
func fileTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			out[p] = "-> " + target
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// shells completes a project name and a task id in each shell that is
// installed (and, under CI, fails for one that is not).
func (c *comfortsEnv) shells(t *testing.T, wrap []string, bashArgs []string, id string) {
	t.Helper()
	t.Run("bash", func(t *testing.T) {
		testenv.Tool(t, "bash", "bash")
		testenv.Need(t, fileExists(hostsetup.BashCompletionScript), "bash-completion is not installed (apt-get install -y bash-completion; scripts/setup-host)")
		for line, want := range map[string][]string{
			"terok-task run d":  {"demo"},
			"terok-task show ":  {id},
			"terok task logs ":  {id},
			"terok-project sh":  {"show"},
			"terok-task rm x ":  {id},
			"terok-task show -": {"--help", "-h", "--json"},
		} {
			got := c.bash(t, wrap, bashArgs, line)
			if slices.Sort(want); !slices.Equal(got, want) {
				t.Errorf("bash %q: got %q, want %q", line, got, want)
			}
		}
	})
	t.Run("zsh", func(t *testing.T) {
		testenv.Tool(t, "zsh", "zsh")
		for line, want := range map[string]string{
			"terok-task run d": "terok-task run demo",
			"terok-task show ": "terok-task show " + id,
			"terok task logs ": "terok task logs " + id,
		} {
			if got := c.zsh(t, wrap, line); got != want {
				t.Errorf("zsh %q<TAB>: the line became %q, want %q", line, got, want)
			}
		}
	})
	t.Run("fish", func(t *testing.T) {
		testenv.Tool(t, "fish", "fish")
		for line, want := range map[string][]string{
			"terok-task run d": {"demo"},
			"terok-task show ": {id},
			"terok task logs ": {id},
			"terok-task r":     {"restart", "rm", "run"},
		} {
			out := c.run(t, wrap, "fish", "-c", `complete -C "$argv[1]" | string replace -r '\t.*' ''; true`, line)
			if got := slices.Sorted(slices.Values(strings.Fields(out))); !slices.Equal(got, want) {
				t.Errorf("fish %q: got %q, want %q", line, got, want)
			}
		}
	})
}

// bash completes line as TAB does in a fresh interactive bash (started
// with bashArgs): its startup files must have loaded bash-completion, whose
// loader then finds the command's completion where it looks by default;
// the function it registers is called with COMP_WORDS set for line.
func (c *comfortsEnv) bash(t *testing.T, wrap, bashArgs []string, line string) []string {
	t.Helper()
	words := strings.Fields(line)
	if strings.HasSuffix(line, " ") {
		words = append(words, "")
	}
	script := `[[ -n ${BASH_COMPLETION_VERSINFO-} ]] || { echo "this shell's startup files did not load bash-completion" >&2; exit 1; }
complete -p "$1" >/dev/null 2>&1 || _completion_loader "$1"
spec=$(complete -p "$1") || { echo "bash-completion found no completion for $1" >&2; exit 1; }
fn=${spec#*-F }; fn=${fn%% *}
COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
"$fn" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"`
	args := append(append(append([]string{"bash"}, bashArgs...), "-c", script, "bash"), words...)
	out := strings.Fields(c.run(t, wrap, args...))
	slices.Sort(out)
	return out
}

// zsh types line and a TAB into an interactive zsh on a terminal (zpty),
// with the home's .zshenv and .zshrc, and returns the line as completion
// left it (the completion of a single candidate is inserted).
func (c *comfortsEnv) zsh(t *testing.T, wrap []string, line string) string {
	t.Helper()
	driver := `zmodload zsh/zpty || exit 1
zpty z zsh -i
zpty -w -n z "$1"$'\t'
sleep 2
zpty -w -n z $'\x01print -r -- "<<<" \x05 ">>>" | tr a-z A-Z\n'
out=
integer i
for ((i = 0; i < 100; i++)); do
  zpty -r -t z chunk && out+=$chunk
  [[ $out == *$'\n<<< '*' >>>'* ]] && break
  sleep 0.1
done
zpty -d z
print -r -- "$out"`
	out := c.run(t, wrap, "zsh", "-f", "-c", driver, "zsh", line)
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimRight(l, "\r")
		if rest, ok := strings.CutPrefix(l, "<<< "); ok {
			if got, ok := strings.CutSuffix(strings.TrimRight(rest, " "), ">>>"); ok {
				return strings.ToLower(strings.TrimSpace(got))
			}
		}
	}
	t.Fatalf("zsh %q: no line came back:\n%q", line, out)
	return ""
}

// man checks that man finds terok-task's page at want (links resolved:
// Debian's /usr/local/man, which man searches first, leads to share/man),
// and renders it.
func (c *comfortsEnv) man(t *testing.T, wrap []string, want string) {
	t.Helper()
	testenv.Tool(t, "man", "man-db")
	if got := strings.TrimSpace(c.run(t, wrap, "sh", "-c", `realpath -- "$(man -w terok-task)"`)); got != want {
		t.Errorf("man -w terok-task: %q, want %q", got, want)
	}
	if page := c.run(t, wrap, "env", "MANPAGER=cat", "MANWIDTH=80", "man", "terok-task"); !strings.Contains(page, "terok-task - run agents") {
		t.Errorf("man terok-task:\n%.500s", page)
	}
}

// writeHome writes a file of the home's startup files.
func writeHome(t *testing.T, home, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(home, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestComfortsForUser: a user's setup (links in ~/.local/bin) puts the man
// pages in ~/.local/share/man and the completions in the XDG data
// directory, where bash-completion and fish look by default; zsh looks
// there once ~/.zshenv has the line setup prints. A fresh shell of each
// kind then completes, and man finds the page; uninstall removes exactly
// what setup installed.
func TestComfortsForUser(t *testing.T) {
	home := t.TempDir()
	bin := filepath.Join(home, ".local", "bin")
	c := newComfortsEnv(t, home, bin)
	direct := []string{"env"}
	before := fileTree(t, c.home)

	out := c.run(t, direct, "terok", "setup", "--no-check", "--json", "--bin-dir", bin, "--hooks-dir", filepath.Join(c.root, "hooks"))
	recs := records(t, out)
	share := filepath.Join(c.home, ".local", "share")
	if r := recs["man"]; r.Status != hostcheck.OK || r.Detail != fmt.Sprintf("set up: %d man pages in %s", docCount(t, "man"), filepath.Join(share, "man")) {
		t.Errorf("man: %+v", r)
	}
	comp := recs["completions"]
	if comp.Status != hostcheck.OK || comp.Detail != "set up: bash "+filepath.Join(share, "bash-completion", "completions")+
		", zsh "+filepath.Join(share, "zsh", "site-functions")+", fish "+filepath.Join(share, "fish", "vendor_completions.d") {
		t.Errorf("completions: %+v", comp)
	}
	setUp := fileTree(t, c.home)
	id := c.aProjectAndATask(t, direct)

	// A new Debian user's shells: bash's ~/.bashrc from /etc/skel loads
	// bash-completion; zsh's recommended ~/.zshrc runs compinit, and
	// ~/.zshenv gets the line setup printed.
	bashArgs := []string{"-i"}
	if skel, err := os.ReadFile("/etc/skel/.bashrc"); err == nil && strings.Contains(string(skel), "bash_completion") {
		writeHome(t, c.home, ".bashrc", string(skel))
	} else {
		writeHome(t, c.home, ".bashrc", ". "+hostsetup.BashCompletionScript+"\n")
	}
	if _, err := exec.LookPath("zsh"); err == nil {
		_, line, ok := strings.Cut(comp.Fix, "~/.zshenv has: ")
		if !ok {
			t.Fatalf("zsh is installed and setup printed no line for ~/.zshenv: %+v", comp)
		}
		line, _, _ = strings.Cut(line, "; ")
		writeHome(t, c.home, ".zshenv", line+"\n")
	}
	writeHome(t, c.home, ".zshrc", "autoload -Uz compinit\ncompinit\n")
	c.shells(t, direct, bashArgs, id)
	c.man(t, direct, filepath.Join(share, "man", "man1", "terok-task.1"))

	used := fileTree(t, c.home)
	out = c.run(t, direct, "terok", "uninstall", "--json", "--bin-dir", bin, "--hooks-dir", filepath.Join(c.root, "hooks"))
	recs = records(t, out)
	if r := recs["completions"]; !strings.HasPrefix(r.Detail, fmt.Sprintf("removed: %d completions", docCount(t, "completions"))) || !strings.HasPrefix(recs["man"].Detail, fmt.Sprintf("removed: %d man pages", docCount(t, "man"))) {
		t.Errorf("uninstall: %+v %+v", r, recs["man"])
	}
	after := fileTree(t, c.home)
	for p, v := range used {
		_, installed := setUp[p]
		_, there := before[p]
		installed = installed && !there
		if _, left := after[p]; left == installed {
			t.Errorf("%s: installed by setup %v, left by uninstall %v (%.60q)", p, installed, left, v)
		}
	}
}

// TestComfortsForRoot: root's setup, with terok installed in
// /usr/local/bin as the quick start does, puts the pages and completions
// in the system directories each shell reads by default: /usr/local/share
// and /etc/fish/completions. They are a private mount namespace's here,
// bound over the real ones, so nothing outside the test sees them. Fresh
// shells (bash as a login shell, zsh with only compinit, fish as it comes)
// complete, and man finds the page.
func TestComfortsForRoot(t *testing.T) {
	testenv.Need(t, os.Geteuid() == 0, "installing into the system directories (in a private mount namespace) needs root")
	unshare := testenv.Tool(t, "unshare", "util-linux")
	c := newComfortsEnv(t, t.TempDir(), "/usr/local/bin")
	shadow := t.TempDir()
	wrap := []string{unshare, "--mount", "--propagation", "private", "sh", "-ec",
		`for d in /usr/local/bin /usr/local/share /etc/fish; do mount --bind "$0$d" "$d"; done; exec "$@"`, shadow}
	for _, d := range []string{"/usr/local/bin", "/usr/local/share", "/etc/fish"} {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			testenv.Need(t, false, d+" is not a directory here (fish makes /etc/fish: apt-get install -y fish)")
		}
		if err := os.MkdirAll(filepath.Join(shadow, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shadow, "usr/local/bin/terok"), exe, 0o755); err != nil {
		t.Fatal(err)
	}

	// make install PREFIX=/usr/local, then terok setup: the defaults.
	out := c.run(t, wrap, "/usr/local/bin/terok", "setup", "--no-check", "--json", "--hooks-dir", filepath.Join(c.root, "hooks"))
	recs := records(t, out)
	if r := recs["completions"]; r.Detail != "set up: bash /usr/local/share/bash-completion/completions, zsh /usr/local/share/zsh/site-functions, fish /etc/fish/completions" || r.Fix != "" {
		t.Errorf("completions: %+v", r)
	}
	if r := recs["man"]; r.Detail != fmt.Sprintf("set up: %d man pages in /usr/local/share/man", docCount(t, "man")) {
		t.Errorf("man: %+v", r)
	}
	for _, f := range []string{"usr/local/share/man/man1/terok-task.1", "usr/local/share/bash-completion/completions/terok-task",
		"usr/local/share/zsh/site-functions/_terok-task", "etc/fish/completions/terok-task.fish", "usr/local/bin/terok-task"} {
		if !fileExists(filepath.Join(shadow, f)) {
			t.Errorf("/%s is missing", f)
		}
	}
	id := c.aProjectAndATask(t, wrap)
	writeHome(t, c.home, ".zshrc", "autoload -Uz compinit\ncompinit\n")
	c.shells(t, wrap, []string{"-l", "-i"}, id)
	c.man(t, wrap, "/usr/local/share/man/man1/terok-task.1")

	out = c.run(t, wrap, "/usr/local/bin/terok", "uninstall", "--json", "--hooks-dir", filepath.Join(c.root, "hooks"))
	if recs := records(t, out); !strings.HasPrefix(recs["completions"].Detail, fmt.Sprintf("removed: %d ", docCount(t, "completions"))) || !strings.HasPrefix(recs["man"].Detail, fmt.Sprintf("removed: %d ", docCount(t, "man"))) {
		t.Errorf("uninstall: %s", out)
	}
	left := fileTree(t, shadow)
	if len(left) != 1 || left[filepath.Join(shadow, "usr/local/bin/terok")] == "" {
		var names []string
		for p := range left {
			names = append(names, p)
		}
		t.Errorf("uninstall left more than the binary: %q", names)
	}
}

// docCount is how many generated files terok carries in dir (man or
// completions): what setup installs and uninstall removes.
func docCount(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := fs.WalkDir(terok.Installed, dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	if err != nil || n == 0 {
		t.Fatalf("counting %s: %d files, %v", dir, n, err)
	}
	return n
}
