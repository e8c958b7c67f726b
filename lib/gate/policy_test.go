package gate

import (
	"strings"
	"testing"
)

const (
	oidA = "1111111111111111111111111111111111111111"
	oidB = "2222222222222222222222222222222222222222"
)

func TestValidRefName(t *testing.T) {
	for _, ok := range []string{"refs/heads/main", "refs/heads/feature/x-1", "refs/tags/v1.0", "refs/heads/ünïcode", "refs/heads/a@b"} {
		if err := ValidRefName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "HEAD", "refs/heads/", "refs//x", "refs/heads/a..b", "refs/heads/.hidden", "refs/heads/x.lock",
		"refs/heads/x.", "refs/heads/a b", "refs/heads/a~1", "refs/heads/a^", "refs/heads/a:b", "refs/heads/a?", "refs/heads/a*",
		"refs/heads/a[", "refs/heads/a\\b", "refs/heads/a@{1}", "refs/heads/\x01", "refs/heads/\xff", "refs/heads/a\x7f",
		"refs/" + strings.Repeat("a", MaxRefLen)} {
		if ValidRefName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if ValidBranchName("HEAD") == nil || ValidBranchName("-x") == nil || ValidBranchName("ok/branch") != nil {
		t.Fatal("branch names")
	}
	if ValidTaskID("k3x9p2") != nil || ValidTaskID("-x") == nil || ValidTaskID("A") == nil || ValidTaskID("") == nil {
		t.Fatal("task ids")
	}
}

func TestPolicyDecide(t *testing.T) {
	p := Policy{DefaultBranch: "main", Protected: []string{"release/*"}}
	owners := Owners{"refs/heads/mine": {Task: "a"}, "refs/heads/theirs": {Task: "b"}, "refs/tags/t": {Task: "a"}}
	for _, tc := range []struct {
		ref, old, new, cur, want string
	}{
		{"refs/heads/new", ZeroID, oidA, "", ""},
		{"refs/heads/mine", oidA, oidB, oidA, ""},
		{"refs/heads/mine", oidA, ZeroID, oidA, ""},
		{"refs/heads/mine", oidB, oidA, oidA, "stale info"},
		{"refs/heads/main", oidA, oidB, oidA, "protected branch (the project's default branch)"},
		{"refs/heads/main", ZeroID, oidB, "", "protected branch"},
		{"refs/heads/release/2", ZeroID, oidB, "", "gate.protected release/*"},
		{"refs/heads/release/2/x", ZeroID, oidB, "", ""},
		{"refs/heads/theirs", oidA, oidB, oidA, "belongs to task b"},
		{"refs/heads/upstream", oidA, oidB, oidA, "was not created by a task"},
		{"refs/heads/exists", ZeroID, oidB, oidA, "exists in the gate"},
		{"refs/heads/gone", oidA, oidB, "", "no such branch"},
		{"refs/terok/backups/x/heads/a", ZeroID, oidA, "", "terok's own namespace"},
		{"refs/tags/v1", ZeroID, oidA, "", "tags are not allowed"},
		{"refs/notes/commits", ZeroID, oidA, "", "only branches"},
		{"refs/pull/1/head", ZeroID, oidA, "", "only branches"},
		{"refs/heads/HEAD", ZeroID, oidA, "", "invalid branch name"},
		{"refs/heads/-rf", ZeroID, oidA, "", "invalid branch name"},
	} {
		got := p.Decide("a", RefUpdate{Old: tc.old, New: tc.new, Ref: tc.ref}, tc.cur, owners)
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%s %s..%s (cur %q): got %q, want %q", tc.ref, tc.old[:4], tc.new[:4], tc.cur, got, tc.want)
		}
	}
	p.AllowTags = true
	if got := p.Decide("a", RefUpdate{Old: oidA, New: oidB, Ref: "refs/tags/t"}, oidA, owners); got != "" {
		t.Fatalf("own tag: %q", got)
	}
	if got := p.Decide("b", RefUpdate{Old: oidA, New: oidB, Ref: "refs/tags/t"}, oidA, owners); !strings.Contains(got, "tag belongs to task a") {
		t.Fatalf("their tag: %q", got)
	}
}

// FuzzValidRefName: what passes is safe to use as a path below refs/ and
// as a word on a git command line.
func FuzzValidRefName(f *testing.F) {
	for _, s := range []string{"refs/heads/main", "refs/heads/../x", "refs/heads/a.lock/b", "refs/terok/x", "refs/heads/-x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		if ValidRefName(ref) != nil {
			return
		}
		if !strings.HasPrefix(ref, "refs/") || strings.Contains(ref, "..") || strings.Contains(ref, "//") ||
			strings.ContainsAny(ref, " \t\n\x00:\\") || strings.Contains(ref, "/.") {
			t.Fatalf("accepted %q", ref)
		}
	})
}
