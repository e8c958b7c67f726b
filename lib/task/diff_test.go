package task

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/testenv"
)

// The diff script, run by the real bash and git on a real repository (here
// on the host; in a task, inside its container), and its parser: every
// kind of change is reported, against the first gate copy the workspace
// has.
func TestDiffScriptAndParser(t *testing.T) {
	testenv.Tool(t, "git", "git")
	testenv.Tool(t, "bash", "bash")
	testenv.Tool(t, "base64", "coreutils")
	dir := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir,
			"GIT_AUTHOR_NAME=Agent", "GIT_AUTHOR_EMAIL=agent@example.com", "GIT_COMMITTER_NAME=Agent", "GIT_COMMITTER_EMAIL=agent@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q", "-b", "main")
	write("kept.txt", "one\n")
	write("gone.txt", "bye\n")
	git("add", ".")
	git("commit", "-qm", "base")
	pushed := git("rev-parse", "HEAD")
	write("kept.txt", "one\ntwo\n")
	write("with space.txt", "a\nb\nc\n")
	git("add", ".")
	git("commit", "-qm", "unpushed one")
	git("rm", "-q", "gone.txt")
	git("commit", "-qm", "unpushed two")
	head := git("rev-parse", "HEAD")
	write("staged.txt", "s\n")
	git("add", "staged.txt")
	write("kept.txt", "one\ntwo\nthree\n")
	write("new.txt", "n1\nn2\n")
	write("blob.bin", "\x00\x01\x02")

	run := func(patch string, pairs ...string) *Diff {
		t.Helper()
		script := strings.Replace(diffScript, "cd /workspace", "cd "+dir, 1)
		cmd := exec.Command("bash", append([]string{"-c", script, "terok-diff", patch}, pairs...)...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		var errb strings.Builder
		cmd.Stderr = &errb
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("script: %v\n%s", err, errb.String())
		}
		d, err := parseDiff(out)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// The gate's task branch is unknown to the workspace: the next copy,
	// the base, is compared with.
	d := run("0", "task/x", strings.Repeat("ab", 20), "main", pushed)
	if d.Head != head || d.Branch != "main" || d.Upstream != pushed || d.UpstreamRef != "main" || d.Patch != "" {
		t.Fatalf("summary: %+v", d)
	}
	if len(d.Commits) != 2 || d.Commits[0].Subject != "unpushed two" || d.Commits[1].Subject != "unpushed one" ||
		d.Commits[0].Author != "Agent" || d.Commits[0].AuthorEmail != "agent@example.com" || d.Commits[0].Time.IsZero() ||
		!reflect.DeepEqual(d.Commits[0].Files, []string{"gone.txt"}) || len(d.Commits[1].Parents) != 1 || d.Commits[1].Parents[0] != pushed {
		t.Fatalf("commits: %+v", d.Commits)
	}
	one, two := d.Commits[1].Commit, d.Commits[0].Commit
	want := []DiffFile{
		{Path: "blob.bin", Status: "added", Binary: true, Untracked: true, Commits: []string{}},
		{Path: "gone.txt", Status: "deleted", Deletions: 1, Commits: []string{two}},
		{Path: "kept.txt", Status: "modified", Additions: 2, Unstaged: true, Commits: []string{one}},
		{Path: "new.txt", Status: "added", Additions: 2, Untracked: true, Commits: []string{}},
		{Path: "staged.txt", Status: "added", Additions: 1, Staged: true, Commits: []string{}},
		{Path: "with space.txt", Status: "added", Additions: 3, Commits: []string{one}},
	}
	if !reflect.DeepEqual(d.Files, want) {
		t.Fatalf("files:\n got %+v\nwant %+v", d.Files, want)
	}

	// Once the task's branch is in the gate at HEAD, only the uncommitted
	// changes remain; the patch has them all, untracked files too.
	d = run("1", "task/x", head, "main", pushed)
	if d.UpstreamRef != "task/x" || len(d.Commits) != 0 || len(d.Files) != 4 {
		t.Fatalf("after a push: %+v", d)
	}
	for _, s := range []string{"+three", "new file mode", "+n2", "b/staged.txt", "Binary files /dev/null and b/blob.bin differ"} {
		if !strings.Contains(d.Patch, s) {
			t.Errorf("patch lacks %q:\n%s", s, d.Patch)
		}
	}

	// No repository: exit 3.
	empty := t.TempDir()
	script := strings.Replace(diffScript, "cd /workspace", "cd "+empty, 1)
	err := exec.Command("bash", "-c", script, "terok-diff", "0").Run()
	if xe, ok := err.(*exec.ExitError); !ok || xe.ExitCode() != 3 {
		t.Fatalf("no repository: %v", err)
	}
}

func TestNewPromptIsBounded(t *testing.T) {
	p := newPrompt(PromptRun, strings.Repeat("é", MaxPromptText), false)
	if !p.Truncated || len(p.Text) > MaxPromptText || !strings.HasPrefix(strings.Repeat("é", MaxPromptText), p.Text) {
		t.Fatalf("%d bytes, truncated %v", len(p.Text), p.Truncated)
	}
	if p := newPrompt(PromptFollowup, "short", true); p.Truncated || p.Text != "short" || !p.Resumed || p.Kind != "followup" {
		t.Fatalf("%+v", p)
	}
}

func TestAgentArgv(t *testing.T) {
	for _, tc := range []struct {
		cmd  []string
		want []string
	}{
		{[]string{"--", "sh", "-c", "x"}, []string{"sh", "-c", "x"}},
		{[]string{"terok-entry", "--", "sh"}, []string{"sh"}},
		{[]string{EntryPoint, "--", "sh"}, []string{"sh"}},
		{[]string{"sh", "-c", "x"}, nil},
		{[]string{"--"}, nil},
	} {
		got, ok := agentArgv(tc.cmd)
		if ok != (tc.want != nil) || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %q %v", tc.cmd, got, ok)
		}
	}
}
